"""Celery entry points of the algorithms app: thin wrappers that call the services."""

from portal.algorithms import services
from portal.algorithms.exceptions import INFRASTRUCTURE_ERRORS
from portal.celery import gpu_task


@gpu_task(retry_on=INFRASTRUCTURE_ERRORS)
def job_run_task(*, job_id: int) -> None:
    """Run one job of an algorithm submission (see ``services.job_run``); repeats do nothing."""
    services.job_run(job_id=job_id)
