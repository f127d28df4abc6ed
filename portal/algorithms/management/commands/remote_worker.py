"""Register, list and revoke the remote workers that run algorithm jobs from other hosts.

python manage.py remote_worker add gpu-host-1      # prints the key once: give it to that host
python manage.py remote_worker list
python manage.py remote_worker revoke gpu-host-1
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.algorithms.models import RemoteWorker
from portal.algorithms.remote import remote_worker_add, remote_worker_revoke
from portal.errors import PortalError


class Command(BaseCommand):
    help = "Register (add), list or revoke the remote workers that run algorithm jobs from other hosts."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Register a worker and print its key (shown this once).")
        add.add_argument("name", help="A short name for the host, e.g. gpu-host-1.")
        actions.add_parser("list", help="Every registered worker, when it was last seen, whether revoked.")
        revoke = actions.add_parser("revoke", help="Stop a worker's key from opening anything.")
        revoke.add_argument("name")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            if action == "add":
                worker, key = remote_worker_add(name=options["name"])
                self.stdout.write(
                    f"Remote worker {worker.name} registered. Its key, shown only now:\n{key}\n"
                    "Start the worker on its host with ISLES_WORKER_KEY set to it (see the README, "
                    '"Running past one machine").'
                )
            elif action == "revoke":
                worker = remote_worker_revoke(name=options["name"])
                self.stdout.write(f"Remote worker {worker.name} revoked; its key opens nothing from now on.")
            else:
                for worker in RemoteWorker.objects.all():
                    state = f"revoked {worker.revoked_at:%Y-%m-%d %H:%M}" if worker.revoked_at else "active"
                    seen = f"{worker.last_seen_at:%Y-%m-%d %H:%M}" if worker.last_seen_at else "never"
                    self.stdout.write(f"{worker.name}\t{state}\tlast seen {seen}")
        except PortalError as error:
            raise CommandError(error.sentence) from None
