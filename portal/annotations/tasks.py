"""Celery entry points of annotation campaigns: starting masks, and a case's agreement and consensus."""

from portal.annotations import services
from portal.celery import cpu_task


@cpu_task()
def annotation_campaign_prepare_task(*, campaign_id: int) -> None:
    """Store the starting masks of a PREPARING campaign and open it to its annotators (safe to run twice)."""
    services.annotation_campaign_prepare(campaign_id=campaign_id)


@cpu_task()
def campaign_case_agreement_task(*, campaign_case_id: int) -> None:
    """Compute a case's agreement and STAPLE consensus from its finished masks (nothing when up to date)."""
    services.campaign_case_agreement_compute(campaign_case_id=campaign_case_id)
