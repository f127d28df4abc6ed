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
def rescoring_run_task(*, rescoring_id: int) -> None:
    """Score a phase's scored submissions on the ground truth it switched to (``services.rescoring_run``);
    repeats do nothing."""
    services.rescoring_run(rescoring_id=rescoring_id)


@cpu_task()
def submission_files_cleanup_task() -> None:
    """Remove the uploads no one needs any more (see ``services.submission_files_cleanup``); run hourly
    by Celery beat. Repeats remove nothing more."""
    services.submission_files_cleanup()
