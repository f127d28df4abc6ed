"""The reader studies app: blinded, Turing-style preference tests of lesion masks by expert readers."""

from django.apps import AppConfig


class ReaderStudiesConfig(AppConfig):
    name = "portal.readerstudies"
    label = "readerstudies"
    verbose_name = "Reader studies"

    def ready(self) -> None:
        from portal.readerstudies.services import reader_study_steps_register

        reader_study_steps_register()
