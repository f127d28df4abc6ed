"""Celery entry points of reader studies: rendering the blinded masks."""

from portal.celery import cpu_task
from portal.readerstudies import services


@cpu_task()
def reader_study_prepare_task(*, study_id: int) -> None:
    """Render every blinded mask of a PREPARING study and open it to its readers (safe to run twice)."""
    services.reader_study_prepare(study_id=study_id)
