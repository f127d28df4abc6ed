from django.apps import AppConfig


class StepsConfig(AppConfig):
    name = "portal.steps"
    label = "steps"
    verbose_name = "Background steps: claims, heartbeats and the sweeper"
