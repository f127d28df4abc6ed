"""The reader studies app: blinded, Turing-style preference tests of lesion masks by expert readers."""

from django.apps import AppConfig


class ReaderStudiesConfig(AppConfig):
    name = "portal.readerstudies"
    label = "readerstudies"
    verbose_name = "Reader studies"
