"""The demo room: everything ``make demo`` builds (synthetic data, a challenge, accounts, a baseline, a
study and a campaign). It sits on top of the other apps: it calls their services, and nothing imports it.
"""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "portal.demo"
    label = "demo"
    verbose_name = "Demo challenge"
