"""Celery entry points of the datasets app: thin wrappers that call the services."""

from django.utils import timezone

from portal.celery import cpu_task
from portal.datasets import services


@cpu_task()
def dataset_import_task(*, dataset_import_id: int) -> None:
    """Run a queued ISLES'24 import (see ``services.dataset_import_run``); a repeated message does nothing."""
    services.dataset_import_run(dataset_import_id=dataset_import_id)


@cpu_task()
def release_uploads_expire_task() -> None:
    """Remove the release uploads never completed within a day (``services.release_uploads_expire``); run
    hourly by Celery beat. Repeats remove nothing more."""
    services.release_uploads_expire(now=timezone.now())
