from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    name = "portal.leaderboards"
    label = "leaderboards"
    verbose_name = "Leaderboards"

    def ready(self) -> None:
        from portal.leaderboards.ensembles import EnsembleKind, ensemble_steps_register
        from portal.leaderboards.services import LeaderboardPublisher
        from portal.submissions.kinds import submission_kind_register
        from portal.submissions.publication import results_publisher_register

        results_publisher_register(LeaderboardPublisher())
        submission_kind_register(EnsembleKind())
        ensemble_steps_register()
