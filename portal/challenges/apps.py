from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    name = "portal.challenges"
    label = "challenges"
    verbose_name = "Challenges and phases"
