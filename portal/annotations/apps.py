"""The annotation campaigns app: experts draw or correct lesion masks in the browser, their agreement and
STAPLE consensus, and the consensus promoted to a dataset's next ground-truth version."""

from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "portal.annotations"
    label = "annotations"
    verbose_name = "Annotation campaigns"

    def ready(self) -> None:
        from portal.annotations.services import annotation_steps_register

        annotation_steps_register()
