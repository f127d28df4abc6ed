"""A real Celery worker process takes a queued dataset import from Redis and runs it on PostgreSQL.

The worker runs the test settings with this process's ``VAR_DIR`` (so both see the same private storage),
the test database (the test commits its rows, so the worker sees them) and the Redis broker of the
``redis_url`` fixture, with eager execution off.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from portal.datasets.models import DatasetImport, Split
from portal.datasets.services import dataset_import_create
from portal.datasets.synthetic import write_release
from tests.portal.datasets.factories import DatasetFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 60.0


def _database_url() -> str:
    database = connection.settings_dict
    credentials = quote(database["USER"] or "")
    if database["PASSWORD"]:
        credentials += f":{quote(database['PASSWORD'])}"
    host = database["HOST"] or "localhost"
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(database['NAME'])}"


@pytest.fixture
def celery_worker(postgresql: None, celery_broker: str, tmp_path: Path) -> Iterator[Path]:
    """A worker process on the ``cpu`` queue; yields its log file and always stops it."""
    log_path = tmp_path / "worker.log"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ISLES_TEST_VAR_DIR": str(settings.VAR_DIR),
        "ISLES_TEST_EAGER": "0",
        "DATABASE_URL": _database_url(),
        "ISLES_TEST_REDIS_URL": celery_broker,
    }
    command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "cpu", "-c", "1"]
    command += ["--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield log_path
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)


def _wait_for_end(dataset_import: DatasetImport, *, log_path: Path) -> DatasetImport:
    deadline = time.monotonic() + WAIT_SECONDS
    ended = {DatasetImport.Status.SUCCEEDED, DatasetImport.Status.FAILED}
    while time.monotonic() < deadline:
        dataset_import.refresh_from_db()
        if dataset_import.status in ended:
            return dataset_import
        time.sleep(0.2)
    log_tail = log_path.read_text(errors="replace")[-3000:]
    pytest.fail(f"The import was {dataset_import.status} after {WAIT_SECONDS} s. Worker log:\n{log_tail}")


def test_a_real_worker_runs_a_queued_import_from_redis(celery_worker: Path, tmp_path: Path) -> None:
    names = write_release(tmp_path / "release", cases=2, seed=5, size="small")
    dataset = DatasetFactory()

    dataset_import = dataset_import_create(
        dataset=dataset, source_path=tmp_path / "release", split=Split.TRAIN
    )
    dataset_import = _wait_for_end(dataset_import, log_path=celery_worker)

    assert dataset_import.status == DatasetImport.Status.SUCCEEDED, dataset_import.error
    assert dataset_import.attempt == 1
    assert dataset_import.cases_imported == 2
    assert list(dataset.cases.values_list("name", flat=True)) == names
    assert "portal.datasets.tasks.dataset_import_task" in celery_worker.read_text(errors="replace")
