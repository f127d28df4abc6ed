"""Celery entry points of the challenges app: thin wrappers that call the services."""

from portal.celery import cpu_task
from portal.challenges import services


@cpu_task()
def announcement_email_task(*, announcement_id: int) -> None:
    """E-mail a published announcement to its challenge's participants (``announcement_email_send``)."""
    services.announcement_email_send(announcement_id=announcement_id)
