"""Real Celery worker processes for the integration tests, on the test database and Redis broker.

A worker runs the test settings with this process's ``VAR_DIR`` (so both see the same private storage),
the test database (the test commits its rows, so the worker sees them) and the Redis broker of the
``celery_broker`` fixture, with eager execution off. Each worker leads a process group of its own, so
a test can kill it as a machine dies (with every process it started) and the fixture stops every
process of every group it started, however the test ends.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

WorkerStart = Callable[..., subprocess.Popen[bytes]]


def _database_url() -> str:
    database = connection.settings_dict
    credentials = quote(database["USER"] or "")
    if database["PASSWORD"]:
        credentials += f":{quote(database['PASSWORD'])}"
    host = database["HOST"] or "localhost"
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(database['NAME'])}"


# Step-engine timings for workers that run beat's sweeper: a claim without a heartbeat for 6 s is dead.
FAST_STEPS = {"STEP_HEARTBEAT_SECONDS": "0.5", "STEP_CLAIM_EXPIRY_SECONDS": "6", "STEP_SWEEP_SECONDS": "1"}


def process_group_stop(worker: subprocess.Popen[bytes]) -> None:
    """Stop the worker's whole process group (its pool and beat too), at last with SIGKILL."""
    if worker.poll() is None:
        _signal_group(worker, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=15)
    _signal_group(worker, signal.SIGKILL)
    if worker.poll() is None:
        worker.wait(timeout=5)


def _signal_group(worker: subprocess.Popen[bytes], signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal_number)


@pytest.fixture
def celery_worker_start(postgresql: None, celery_broker: str) -> Iterator[WorkerStart]:
    """A function that starts a worker process on the ``cpu`` queue (or ``queues``, comma-separated),
    logging to ``log_path``; every worker it started is stopped, with its process group, when the test
    ends.

    ``visibility_timeout_s`` shortens the time after which the worker takes back messages that a dead
    worker left unacknowledged (the test settings' default is an hour). ``fast_steps`` gives the worker
    claims that expire after 6 s (``FAST_STEPS``); ``beat`` also runs Celery beat in it, so the step
    sweeper runs every second.
    """
    workers: list[subprocess.Popen[bytes]] = []

    def start(
        *,
        log_path: Path,
        visibility_timeout_s: int | None = None,
        queues: str = "cpu",
        fast_steps: bool = False,
        beat: bool = False,
    ) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "ISLES_TEST_VAR_DIR": str(settings.VAR_DIR),
            "ISLES_TEST_EAGER": "0",
            "DATABASE_URL": _database_url(),
            "ISLES_TEST_REDIS_URL": celery_broker,
        }
        if visibility_timeout_s is not None:
            environment["ISLES_TEST_VISIBILITY_TIMEOUT"] = str(visibility_timeout_s)
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues, "-c", "1"]
        command += ["--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        command += ["-l", "info"]
        if fast_steps or beat:
            environment.update(FAST_STEPS)
        if beat:
            command += ["--beat", "--schedule", str(log_path.with_name(f"beat-schedule-{len(workers)}"))]
        with log_path.open("ab") as log:
            worker = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        process_group_stop(worker)


@pytest.fixture
def celery_worker(celery_worker_start: WorkerStart, tmp_path: Path) -> Path:
    """One worker process on the ``cpu`` queue; returns its log file."""
    log_path = tmp_path / "worker.log"
    celery_worker_start(log_path=log_path)
    return log_path


@pytest.fixture
def empty_broker(celery_broker: str) -> Iterator[str]:
    """The test Redis database, emptied before and after, so no other test's message is redelivered."""
    client = redis.Redis.from_url(celery_broker)
    client.flushdb()
    yield celery_broker
    client.flushdb()
    client.close()


def wait_for(
    condition: str,
    check: Callable[[], bool],
    *,
    logs: Sequence[Path],
    seconds: float = 90.0,
    interval_s: float = 0.1,
) -> None:
    """Return once ``check()`` holds; after ``seconds``, fail the test naming ``condition``, with the tails
    of the workers' ``logs``. Tests wait for what they need, never a fixed time: a loaded machine is slow."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    shown = "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-4000:]}" for log in logs if log.exists())
    pytest.fail(f"Waited {seconds:.0f} s for {condition}. Logs:\n{shown}")
