"""The algorithms app: the algorithm kind of submission (container uploads, their checks and their jobs on
the ``gpu`` queue)."""

from django.apps import AppConfig


class AlgorithmsConfig(AppConfig):
    name = "portal.algorithms"
    verbose_name = "Algorithms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.algorithms.kind import AlgorithmKind
        from portal.algorithms.services import job_steps_register
        from portal.algorithms.validation import RerunKind
        from portal.submissions.kinds import submission_kind_register

        submission_kind_register(AlgorithmKind())
        submission_kind_register(RerunKind())
        job_steps_register()
