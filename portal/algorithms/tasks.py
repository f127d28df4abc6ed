"""Celery entry points of the algorithms app: thin wrappers that call the services."""

from portal.algorithms import services
from portal.algorithms.exceptions import INFRASTRUCTURE_ERRORS
from portal.celery import gpu_task


@gpu_task(retry_on=INFRASTRUCTURE_ERRORS)
def job_next_task() -> None:
    """Take the next waiting job of an algorithm submission and run it (see ``services.job_next``); a
    message that finds no job waiting does nothing."""
    services.job_next()
