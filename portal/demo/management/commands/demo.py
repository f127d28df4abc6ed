"""``manage.py demo``: migrate, build the demo challenge, start a Celery worker and the web server.

This is what ``make demo`` runs. Everything lives under ``VAR_DIR``; the two processes write their logs
to ``VAR_DIR/logs/`` and stop together on Ctrl-C or SIGTERM (or when either of them dies), within
``STOP_GRACE_S`` whatever task the worker is running: a step it leaves unfinished is queued again by the
step sweeper, which the worker runs (Celery beat), once the demo runs again.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from portal.accounts.models import ChallengeRole
from portal.demo.baseline import BASELINE_IMAGE, DemoBaseline
from portal.demo.services import (
    DEMO_FINAL_PHASE_SLUG,
    DEMO_VALIDATION_PHASE_SLUG,
    Demo,
    DemoBaselineFailed,
    DemoEnsembleImpossible,
    demo_ensemble_create,
    demo_ensemble_members_register,
    demo_ensemble_validate,
    demo_setup,
    demo_study_create,
)
from portal.errors import PortalError

READY_TIMEOUT_S = 60
STOP_GRACE_S = 10
"""Seconds the web server and the worker get to stop on their own before they are killed."""


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _wait_until_serving(url: str, web: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise CommandError(f"The web server stopped while starting; see {settings.VAR_DIR}/logs/web.log.")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise CommandError(f"The web server did not answer at {url} within {READY_TIMEOUT_S} s.")


def _stop_on_signals() -> None:
    """Make Ctrl-C (SIGINT) and SIGTERM stop the demo. Set explicitly: a program started in the background
    by a shell script inherits SIGINT ignored, and Python then leaves it ignored."""

    def stop(signal_number: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, stop)


def _processes_stop(processes: tuple[subprocess.Popen[bytes], ...], *, grace_s: float) -> None:
    """Stop each process's group: SIGTERM, then SIGKILL to whatever still runs after ``grace_s`` (a worker
    in the middle of a long task would otherwise wait for it to finish)."""
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
    for process in processes:
        _group_signal(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0))
        _group_signal(process, signal.SIGKILL)  # the rest of its group: a pool's children, beat
        process.wait()


def _group_signal(process: subprocess.Popen[bytes], signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal_number)


class Command(BaseCommand):
    help = "Run the portal locally with a demo challenge: migrate, build it, start a worker and gunicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Port of the web server (default 8000).")
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument(
            "--setup-only", action="store_true", help="Build the demo and print its accounts; start nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _stop_on_signals()
        host, port = options["host"], options["port"]
        if not options["setup_only"] and not _port_free(host, port):
            raise CommandError(f"Port {port} is in use; choose another, e.g. `make demo PORT={port + 1}`.")
        self.stdout.write(f"Using {settings.VAR_DIR} for the database, the broker and the files.")
        call_command("migrate", interactive=False, verbosity=0)
        demo = demo_setup(var_dir=Path(settings.VAR_DIR), say=self.stdout.write)
        self._print_demo(demo, url=f"http://{host}:{port}")
        if not options["setup_only"]:
            variants = demo_ensemble_members_register(demo=demo, say=self.stdout.write)
            for variant in variants:
                self.stdout.write(f"Ensemble member: {variant.note}")
            self._serve(host=host, port=port, demo=demo, variants=variants)

    def _print_demo(self, demo: Demo, *, url: str) -> None:
        counts = ", ".join(f"{count} {split.lower()}" for split, count in demo.cases_per_split.items())
        self.stdout.write(f"Demo challenge '{demo.challenge.slug}': {counts} cases (data: {demo.data_dir}).")
        self.stdout.write(f"Example predictions for the preliminary phase: {demo.predictions_archive}")
        self.stdout.write(
            f"Training data: the participant accepts the data-use terms at {url}/datasets/"
            f"{demo.challenge.slug}/card/, then downloads the training split with "
            f"`isles download {demo.challenge.slug} --split train OUT_DIR`."
        )
        self.stdout.write("Accounts (password, API token):")
        for user in demo.users:
            role = user.role.lower()
            self.stdout.write(f"  {role:<12} {user.username:<12} {user.password}  {user.api_token}")
        admin = demo.site_admin
        self.stdout.write(
            f"  {'site admin':<12} {admin.username:<12} {admin.password}  (for {url}/admin/ only: no role in "
            "any challenge; the organizer runs the challenge from its Organize pages)"
        )
        self.stdout.write(
            f"Annotation campaign '{demo.campaign.title}': the reader (and the organizer) correct two cases "
            f"at {url}/studies/; the organizer sees agreement and promotes the consensus at "
            f"{url}/studies/campaigns/{demo.campaign.pk}/."
        )
        self.stdout.write(f"Final phase: {demo.baseline.note}")
        self.stdout.write(
            f"What a container reads and writes there, and its sandbox as a docker run line: "
            f"{url}/algorithms/phases/{DEMO_FINAL_PHASE_SLUG}/contract/; a starter that reads every input: "
            f"{Path(sys.executable).parent}/isles init-algorithm my-algorithm"
        )
        if demo.baseline.submission is not None:
            token = next(user.api_token for user in demo.users if user.role == ChallengeRole.Role.PARTICIPANT)
            isles = f"{Path(sys.executable).parent}/isles --url {url} --token {token}"
            image = Path(settings.VAR_DIR) / "threshold.tar.gz"
            self.stdout.write("Submit the same algorithm as the participant, once the portal runs:")
            self.stdout.write(f"  docker save {BASELINE_IMAGE} | gzip > {image}")
            self.stdout.write(f"  {isles} submit-algorithm {DEMO_FINAL_PHASE_SLUG} {image}")
            self.stdout.write(f"  {isles} jobs SUBMISSION_ID --wait")
            self.stdout.write(f"  {isles} logs SUBMISSION_ID")
            self.stdout.write(f"  {isles} leaderboard {DEMO_FINAL_PHASE_SLUG}")

    def _serve(self, *, host: str, port: int, demo: Demo, variants: tuple[DemoBaseline, ...]) -> None:
        logs = Path(settings.VAR_DIR) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        # Signed links (a remote worker's files) name the demo's own address unless the operator set one.
        env["ISLES_PORTAL_URL"] = os.environ.get("ISLES_PORTAL_URL") or f"http://{host}:{port}"
        # The worker runs Celery beat too (one worker, so one beat): its step sweeper queues again the
        # steps a stopped or killed worker left unfinished.
        worker_command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "cpu,gpu"]
        worker_command += ["--concurrency", "1", "--loglevel", "INFO"]
        worker_command += ["--beat", "--schedule", str(Path(settings.VAR_DIR) / "celerybeat-schedule")]
        web_command = [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"{host}:{port}"]
        # Threaded workers, as in production: a release's download holds a thread, not a worker.
        web_command += ["--worker-class", "gthread", "--workers", "2", "--threads", "4"]
        web_command += ["--access-logfile", "-"]
        with open(logs / "worker.log", "ab") as worker_log, open(logs / "web.log", "ab") as web_log:
            # Each leads a process group of its own (with its pool, its beat, gunicorn's workers), which the
            # demo stops as a whole; Ctrl-C in the terminal reaches the demo alone.
            worker = subprocess.Popen(
                worker_command, env=env, stdout=worker_log, stderr=subprocess.STDOUT, process_group=0
            )
            web = subprocess.Popen(
                web_command, env=env, stdout=web_log, stderr=subprocess.STDOUT, process_group=0
            )
            try:
                url = f"http://{host}:{port}/"
                _wait_until_serving(url, web)
                self.stdout.write(self.style.SUCCESS(f"The portal is running at {url}"))
                self.stdout.write(f"Logs: {logs}/web.log and {logs}/worker.log. Stop with Ctrl-C.")
                self._wait_for_either(worker=worker, web=web, demo=demo, variants=variants, url=url)
            except KeyboardInterrupt:
                self.stdout.write("Stopping the web server and the worker.")
            finally:
                _processes_stop((web, worker), grace_s=STOP_GRACE_S)

    def _wait_for_either(
        self,
        *,
        worker: subprocess.Popen[bytes],
        web: subprocess.Popen[bytes],
        demo: Demo,
        variants: tuple[DemoBaseline, ...],
        url: str,
    ) -> None:
        study_pending = demo.baseline.submission is not None
        ensemble_pending = validation_pending = study_pending
        while True:
            if study_pending:
                study_pending = self._study_create(demo=demo, url=url)
            if ensemble_pending:
                ensemble_pending = self._ensemble_create(demo=demo, variants=variants, url=url)
            elif validation_pending:
                validation_pending = self._validation_start(demo=demo, variants=variants, url=url)
            for name, process in (("worker", worker), ("web server", web)):
                if process.poll() is not None:
                    raise CommandError(
                        f"The {name} stopped (exit code {process.returncode}); see {settings.VAR_DIR}/logs/."
                    )
            time.sleep(1)

    def _ensemble_create(self, *, demo: Demo, variants: tuple[DemoBaseline, ...], url: str) -> bool:
        """Build the demo's ensemble once its members have run, and say where it is (or why there is
        none); whether to try again later."""
        try:
            ensemble = demo_ensemble_create(demo=demo, variants=variants)
        except DemoEnsembleImpossible as impossible:
            self.stdout.write(self.style.WARNING(str(impossible)))
            return False
        if ensemble is None:
            return True
        self.stdout.write(
            f"The baselines have run: the majority vote of {ensemble.memberships.count()} of them "
            f"(submission {ensemble.submission_id}) is built and scored beside the leaderboard; its members, "
            f"rule and per-case comparison are at "
            f"{url.rstrip('/')}{reverse('ensemble-detail', args=[DEMO_FINAL_PHASE_SLUG, ensemble.pk])}."
        )
        self.stdout.write(
            "Its report (members, scores with intervals, external validation, subgroups, biomarkers, reader "
            "studies, each with how it was computed; an HTML file to print to PDF) is at "
            f"{url.rstrip('/')}{reverse('ensemble-report', args=[DEMO_FINAL_PHASE_SLUG, ensemble.pk])}."
        )
        return False

    def _study_create(self, *, demo: Demo, url: str) -> bool:
        """Make the demo's reader study once the baseline has run, and say where it is (or why there is
        none); whether to try again later."""
        try:
            study = demo_study_create(demo=demo)
        except DemoBaselineFailed as failure:
            self.stdout.write(
                self.style.WARNING(f"{failure} Its jobs and logs: {url}submissions/{failure.submission_id}/.")
            )
            return False
        if study is None:
            return True
        self.stdout.write(
            f"The baseline has run: the study '{study.title}' waits for the reader at "
            f"{url}studies/; its results are at {url}studies/{study.pk}/results/."
        )
        return False

    def _validation_start(self, *, demo: Demo, variants: tuple[DemoBaseline, ...], url: str) -> bool:
        """Validate the demo's ensemble on the second centre in one step, and say where its re-runs are (or
        why there are none); False: nothing to try again."""
        try:
            ensemble = demo_ensemble_create(demo=demo, variants=variants)
            validated = None if ensemble is None else demo_ensemble_validate(ensemble=ensemble)
        except (DemoEnsembleImpossible, PortalError) as impossible:
            self.stdout.write(self.style.WARNING(f"No external validation: {impossible}"))
            return False
        if validated is None:
            return False
        members = validated.memberships.count()
        page = reverse("validation-reruns", args=[DEMO_VALIDATION_PHASE_SLUG])
        self.stdout.write(
            f"External validation: the ensemble's {members} members re-run on a second synthetic centre's "
            f"cases, and their majority vote is built once they have ended (ensemble {validated.pk}); the "
            f"re-runs are at {url.rstrip('/')}{page}."
        )
        return False
