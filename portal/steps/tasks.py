"""Celery entry points of the step engine: the sweeper, which Celery beat runs every STEP_SWEEP_SECONDS."""

from portal.celery import cpu_task
from portal.steps import services


@cpu_task()
def steps_sweep_task() -> None:
    """Queue again the steps whose worker died, or give them up (see ``services.steps_sweep``)."""
    services.steps_sweep()
