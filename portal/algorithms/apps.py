"""The algorithms app: algorithm container uploads, their checks and their jobs on the ``gpu`` queue."""

from django.apps import AppConfig


class AlgorithmsConfig(AppConfig):
    name = "portal.algorithms"
    verbose_name = "Algorithms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.algorithms.services import job_steps_register

        job_steps_register()
