"""Reads of the submissions app that encode a rule: who a submission counts for, and what it is checked
against."""

import datetime

from django.db.models import QuerySet

from portal.accounts.models import Team, TeamMembership, User
from portal.challenges.models import Challenge, Phase
from portal.datasets.models import Case
from portal.submissions.models import Submission

REFERENCE_INTERFACE = "non-contrast-ct"

NOT_COUNTED = (Submission.Status.FAILED, Submission.Status.CANCELLED)


def submission_team_for(*, challenge: Challenge, user: User) -> Team | None:
    """The team the user submits for in the challenge, or None when they take part alone."""
    membership = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    return None if membership is None else membership.team


def submission_list_of_submitter(*, phase: Phase, team: Team | None, user: User) -> QuerySet[Submission]:
    """The submissions of a team to the phase, or of a participant without a team (made without one)."""
    if team is not None:
        return Submission.objects.filter(phase=phase, team=team)
    return Submission.objects.filter(phase=phase, team__isnull=True, creator=user)


def submission_list_counted(
    *, phase: Phase, team: Team | None, user: User, since: datetime.datetime | None = None
) -> QuerySet[Submission]:
    """The submissions that count toward the phase's limits: every one not FAILED or CANCELLED."""
    submissions = submission_list_of_submitter(phase=phase, team=team, user=user).exclude(
        status__in=NOT_COUNTED
    )
    if since is not None:
        submissions = submissions.filter(created_at__gte=since)
    return submissions


def phase_case_list(*, phase: Phase) -> QuerySet[Case]:
    """The cases a phase is scored on, by name."""
    return Case.objects.filter(dataset_id=phase.dataset_id, split=phase.split).order_by("name")


def phase_reference_shapes(*, phase: Phase) -> dict[str, list[int] | None]:
    """The size (x, y, z) a mask of each of the phase's cases must have, by case name.

    The reference is the case's non-contrast CT, else any image of the case; None for a case without
    images, whose masks are then not compared by size.
    """
    shapes: dict[str, list[int] | None] = {}
    for case in phase_case_list(phase=phase).prefetch_related("images"):
        images = sorted(
            case.images.all(), key=lambda image: (image.interface != REFERENCE_INTERFACE, image.pk)
        )
        shapes[case.name] = list(images[0].shape[:3]) if images else None
    return shapes
