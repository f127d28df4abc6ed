"""The health app: checks of every service the portal depends on."""

from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "portal.health"
    verbose_name = "Health"
