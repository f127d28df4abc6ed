"""A real Celery worker process (``celery_worker`` of ``conftest.py``) takes a queued dataset import from
Redis and runs it on PostgreSQL."""

import time
from pathlib import Path

import pytest

from portal.challenges.models import Split
from portal.datasets.models import DatasetImport
from portal.datasets.services import dataset_import_create
from releases.synthetic import write_release
from tests.portal.datasets.factories import DatasetFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 60.0


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
