"""Celery entry points of the submissions app: thin wrappers that call the services."""

from portal.celery import cpu_task
from portal.submissions import services


@cpu_task()
def submission_check_task(*, submission_id: int) -> None:
    """Check a PENDING submission's archive (see ``services.submission_check``); repeats do nothing."""
    services.submission_check(submission_id=submission_id)


@cpu_task()
def submission_evaluate_task(*, submission_id: int) -> None:
    """Score an EVALUATING submission (see ``services.submission_evaluate``); repeats do nothing."""
    services.submission_evaluate(submission_id=submission_id)


@cpu_task()
def phase_rescore_task(*, phase_id: int) -> None:
    """Score the phase's scored submissions on its current ground truth (see ``services.phase_rescore``)."""
    services.phase_rescore(phase_id=phase_id)


@cpu_task()
def submission_rescore_task(*, submission_id: int) -> None:
    """Score one scored submission on its phase's current ground truth (``services.submission_rescore``)."""
    services.submission_rescore(submission_id=submission_id)


@cpu_task()
def submission_files_cleanup_task() -> None:
    """Remove the uploads no one needs any more (see ``services.submission_files_cleanup``); run hourly
    by Celery beat. Repeats remove nothing more."""
    services.submission_files_cleanup()
