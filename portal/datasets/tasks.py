"""Celery entry points of the datasets app: thin wrappers that call the services."""

from portal.celery import cpu_task
from portal.datasets import services


@cpu_task()
def dataset_import_task(*, dataset_import_id: int) -> None:
    """Run a queued ISLES'24 import (see ``services.dataset_import_run``); a repeated message does nothing."""
    services.dataset_import_run(dataset_import_id=dataset_import_id)
