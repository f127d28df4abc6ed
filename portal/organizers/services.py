"""Work an organizer starts that spans several apps: the one-step external validation of an ensemble.

An organizer validates an ensemble of the challenge's algorithm submissions on a validation phase: every
member not yet re-run there is re-run (``portal.algorithms.validation``, under its rules, consent included)
and the ensemble of the re-runs, with the same rule and member order, is made at once, waiting for them
(``portal.leaderboards.ensembles``: built once every re-run has ended, a failed one counting as a member
without outputs). The two lower apps do not know each other; this app composes them.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction

from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.algorithms.validation import (
    RerunRefused,
    validation_reruns_create,
    validation_reruns_current,
)
from portal.challenges.models import Phase
from portal.leaderboards.ensembles import (
    EnsembleRefused,
    ensemble_create,
    ensemble_find,
    ensemble_member_ids,
)
from portal.leaderboards.models import Ensemble
from portal.submissions.models import Submission

ORGANIZERS_ONLY = "Only an organizer of the challenge validates its ensembles."


def ensemble_validation_phase_get(*, ensemble: Ensemble, slug: str) -> Phase:
    """The phase ``slug`` of the ensemble's challenge, to validate it on; ``RerunRefused`` with a
    sentence when the challenge has none of that name."""
    phase = Phase.objects.filter(challenge_id=ensemble.submission.phase.challenge_id, slug=slug).first()
    if phase is None:
        raise RerunRefused(
            f"There is no phase {slug!r} in this challenge; pick one of its validation phases.",
            code="no_such_phase",
        )
    return phase


def ensemble_validate(*, ensemble: Ensemble, phase: Phase, user: User) -> Ensemble:
    """Validate ``ensemble`` on the validation phase ``phase`` in one step, as an organizer of its
    challenge: re-run each member that has no re-run there yet (one not failed nor cancelled), then make
    the ensemble of the members' re-runs, in the members' order and with the ensemble's rule, which waits
    until every re-run has ended and then builds once. The new ensemble is returned; its build and the
    re-runs' jobs are queued after the commit.

    ``PermissionDenied`` for anyone but an organizer of the challenge. ``EnsembleRefused`` or
    ``RerunRefused`` with one sentence when the ensemble is itself on a validation phase, the phase is
    another challenge's, a member cannot be re-run there (``validation_reruns_create``'s rules), or the
    same ensemble of the same re-runs is already there. Nothing is made when one is refused.
    """
    source = ensemble.submission.phase
    if not user_is_organizer(user=user, challenge=source.challenge_id):
        raise PermissionDenied(ORGANIZERS_ONLY)
    if source.is_validation:
        raise EnsembleRefused(
            f"Ensemble {ensemble.pk} is already on the validation phase {source.title}; validate an "
            "ensemble of the challenge's own submissions.",
            code="ensemble_on_validation_phase",
        )
    if phase.challenge_id != source.challenge_id:
        raise RerunRefused(
            f"{phase.title} is another challenge's phase; validate on one of this challenge's validation "
            "phases.",
            code="other_challenge",
        )
    members = ensemble_member_ids(ensemble=ensemble)
    with transaction.atomic():
        # The re-runs reused are locked before the phase (which ``validation_reruns_create`` locks), as a
        # re-run that ends locks itself, then its phase: the other order could deadlock with it.
        reused = validation_reruns_current(phase=phase, originals=members).values()
        list(Submission.objects.select_for_update().filter(pk__in=reused).order_by("pk"))
        reruns = validation_reruns_current(phase=phase, originals=members)
        missing = [pk for pk in members if pk not in reruns]
        if missing:
            runs = validation_reruns_create(phase=phase, user=user, submissions=missing)
            reruns.update({run.original_id: run.submission_id for run in runs})
        ordered = [reruns[pk] for pk in members]
        earlier = ensemble_find(phase=phase, members=ordered, rule=ensemble.rule)
        if earlier is not None:
            raise EnsembleRefused(
                f"Ensemble {ensemble.pk} is already validated on {phase.title} as ensemble {earlier.pk}; "
                "use that one.",
                code="already_validated",
            )
        return ensemble_create(
            phase=phase, user=user, members=ordered, rule=ensemble.rule, wait_for_members=True
        )
