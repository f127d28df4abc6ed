from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "portal.submissions"
    label = "submissions"
    verbose_name = "Submissions and their scores"

    def ready(self) -> None:
        from portal.submissions.kinds import submission_kind_register
        from portal.submissions.predictions import PredictionsKind
        from portal.submissions.services import submission_steps_register

        submission_kind_register(PredictionsKind())
        submission_steps_register()
