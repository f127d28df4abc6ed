"""``manage.py check_services``: one line per service; exits non-zero when a required one is down."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portal.health.services import services_check, services_healthy

LABELS = {True: "ok", False: "FAILED", None: "absent"}


class Command(BaseCommand):
    help = "Check the database, the Celery broker, storage and the Docker engine."

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = services_check()
        for status in statuses:
            self.stdout.write(f"{status.name}: {LABELS[status.ok]} ({status.detail})")
        if not services_healthy(statuses=statuses):
            down = ", ".join(status.name for status in statuses if status.ok is False)
            raise CommandError(f"Required services are down: {down}. The log has the errors.")
