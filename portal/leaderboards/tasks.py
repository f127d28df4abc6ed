"""Celery entry points of the leaderboards app: thin wrappers that call the services."""

import logging

from portal.celery import cpu_task
from portal.challenges.models import Phase
from portal.leaderboards import ensembles, services

logger = logging.getLogger(__name__)


@cpu_task()
def leaderboard_rebuild_task(*, phase_id: int) -> None:
    """Recompute the phase's ranks (see ``services.leaderboard_rebuild``); a deleted phase is skipped."""
    phase = Phase.objects.filter(pk=phase_id).first()
    if phase is None:
        logger.info("Phase %s no longer exists; no leaderboard to rebuild.", phase_id)
        return
    services.leaderboard_rebuild(phase=phase)


@cpu_task()
def leaderboard_stability_task(*, phase_id: int) -> None:
    """Bootstrap the phase's stored ranking (see ``services.leaderboard_stability_rebuild``)."""
    phase = Phase.objects.filter(pk=phase_id).first()
    if phase is None:
        logger.info("Phase %s no longer exists; no rank stability to compute.", phase_id)
        return
    services.leaderboard_stability_rebuild(phase=phase)


@cpu_task()
def ensemble_build_task(*, ensemble_id: int) -> None:
    """Build an ensemble's masks from its members' outputs (see ``ensembles.ensemble_build``); repeats do
    nothing."""
    ensembles.ensemble_build(ensemble_id=ensemble_id)
