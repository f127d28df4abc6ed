"""Reads of annotation campaigns: who sees which campaign and assignment, an annotator's progress, the
campaign's table of assignments, and the agreement of each case as last computed.

An annotator sees their own assignments of READY campaigns; an organizer of the challenge sees every
assignment of its campaigns. Agreement and consensus use each annotator's newest revision of the
assignments they marked DONE: a mask still being drawn is not compared.

A campaign whose starting masks are an algorithm submission's output (the threshold reference algorithm's
pre-annotation, when that algorithm also competes; or uploaded outputs) makes a reference that favours
that submission in the phases scored on the dataset: ``campaign_starting_mask_sources`` finds it.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import Count, Max, Q, QuerySet

from evaluation.agreement import AnnotatorEstimate, PairAgreement
from portal.accounts.models import User
from portal.accounts.selectors import INSIDE_ROLES, organizer_of, user_is_organizer, users_taking_part
from portal.algorithms.models import Job
from portal.annotations.masks import mask_array_read
from portal.annotations.models import (
    AnnotationAssignment,
    AnnotationCampaign,
    AssignmentEvent,
    CampaignCase,
    MaskRevision,
)
from portal.challenges.models import Challenge
from portal.datasets.models import Image
from portal.submissions.models import Submission


@dataclass(frozen=True)
class AssignmentCell:
    """One annotator's progress on one case: status, revisions saved and the newest one's time."""

    assignment: AnnotationAssignment
    revisions: int
    saved_at: datetime | None


@dataclass(frozen=True)
class CaseProgress:
    campaign_case: CampaignCase
    cells: tuple[AssignmentCell | None, ...]
    """One per annotator of the campaign, in ``CampaignProgress.annotators`` order; None if not assigned."""


@dataclass(frozen=True)
class CampaignProgress:
    annotators: tuple[User, ...]
    cases: tuple[CaseProgress, ...]
    done: int
    total: int


@dataclass(frozen=True)
class CaseAgreement:
    """How the finished masks of one case agree, as last computed (``current``: from every finished mask
    so far), with STAPLE's estimate of each annotator (none under two masks)."""

    campaign_case: CampaignCase
    annotators: tuple[str, ...]
    pairwise: tuple[PairAgreement, ...]
    with_starting_mask: tuple[PairAgreement, ...]
    estimates: tuple[AnnotatorEstimate, ...]
    consensus_volume_ml: float | None
    current: bool


def annotation_annotator_candidates(*, challenge: Challenge) -> QuerySet[User]:
    """Users who may annotate for the challenge, by name: its organizers and expert readers (who, by the
    one-person-one-side rule, never take part in it: a campaign may show hidden test cases)."""
    return (
        User.objects.filter(challenge_roles__challenge=challenge, challenge_roles__role__in=INSIDE_ROLES)
        .exclude(pk__in=users_taking_part(challenge=challenge).values("pk"))
        .distinct()
        .order_by("username")
    )


def annotation_campaign_list_organized_by(*, user: User) -> QuerySet[AnnotationCampaign]:
    """The campaigns of the challenges the user organizes, newest first."""
    return AnnotationCampaign.objects.select_related("challenge", "dataset").filter(
        organizer_of(user, challenge="challenge_id")
    )


def annotation_campaign_get_for_organizer(*, user: User, campaign_id: int) -> AnnotationCampaign:
    """The campaign if the user organizes its challenge; ``AnnotationCampaign.DoesNotExist`` otherwise."""
    campaign = AnnotationCampaign.objects.select_related("challenge", "dataset").get(pk=campaign_id)
    if not user_is_organizer(user=user, challenge=campaign.challenge_id):
        raise AnnotationCampaign.DoesNotExist
    return campaign


def annotation_assignment_list_for(*, user: User) -> QuerySet[AnnotationAssignment]:
    """The user's assignments in open campaigns, campaign by campaign, case by case."""
    return (
        AnnotationAssignment.objects.filter(
            annotator=user, campaign_case__campaign__status=AnnotationCampaign.Status.READY
        )
        .select_related("campaign_case__case", "campaign_case__campaign__challenge")
        .order_by("-campaign_case__campaign__created_at", "campaign_case__case__name")
    )


def annotation_assignment_get(*, user: User, assignment_id: int) -> AnnotationAssignment:
    """The assignment if the user is its annotator (campaign READY) or organizes its challenge.

    Raises ``AnnotationAssignment.DoesNotExist`` otherwise, so nobody learns that it exists.
    """
    if not user.is_authenticated:
        raise AnnotationAssignment.DoesNotExist
    assignment = AnnotationAssignment.objects.select_related(
        "annotator", "campaign_case__case", "campaign_case__campaign__challenge"
    ).get(pk=assignment_id)
    campaign = assignment.campaign_case.campaign
    if assignment.annotator_id == user.pk and campaign.status == AnnotationCampaign.Status.READY:
        return assignment
    if user_is_organizer(user=user, challenge=campaign.challenge_id):
        return assignment
    raise AnnotationAssignment.DoesNotExist


def annotation_assignment_image_get(*, assignment: AnnotationAssignment, index: int) -> Image:
    """The ``index``-th image the campaign shows of the assignment's case, else ``Image.DoesNotExist``."""
    interfaces = assignment.campaign_case.campaign.images
    if not 0 <= index < len(interfaces):
        raise Image.DoesNotExist
    return Image.objects.get(case=assignment.campaign_case.case_id, interface=interfaces[index])


def mask_revision_newest(*, assignment: AnnotationAssignment) -> MaskRevision | None:
    """Where the annotator resumes: the newest revision of the assignment, None before the first save."""
    return assignment.revisions.order_by("-number").first()


def assignment_reopening(*, assignment: AnnotationAssignment) -> AssignmentEvent | None:
    """The organizer's reopening of the assignment (DONE -> IN_PROGRESS) when it is its newest change, with
    who and why; None otherwise."""
    newest = assignment.events.select_related("by").order_by("-at", "-pk").first()
    if newest is None or newest.from_status != AnnotationAssignment.Status.DONE:
        return None
    return newest


def annotation_progress_for(*, campaign: AnnotationCampaign, user: User) -> tuple[int, int]:
    """(done, total) of the user's assignments in the campaign."""
    counts = AnnotationAssignment.objects.filter(campaign_case__campaign=campaign, annotator=user).aggregate(
        total=Count("pk"), done=Count("pk", filter=Q(status=AnnotationAssignment.Status.DONE))
    )
    return counts["done"], counts["total"]


def annotation_campaign_progress(*, campaign: AnnotationCampaign) -> CampaignProgress:
    """Every assignment of the campaign as a table: a row per case, a column per annotator."""
    assignments = list(
        AnnotationAssignment.objects.filter(campaign_case__campaign=campaign)
        .select_related("annotator")
        .annotate(revision_count=Count("revisions"), saved_at=Max("revisions__created_at"))
    )
    annotators = tuple(sorted({a.annotator for a in assignments}, key=lambda user: user.username))
    by_key = {(a.campaign_case_id, a.annotator_id): a for a in assignments}
    rows = []
    for campaign_case in campaign.campaign_cases.select_related("case"):
        cells = []
        for annotator in annotators:
            found = by_key.get((campaign_case.pk, annotator.pk))
            cells.append(
                None if found is None else AssignmentCell(found, found.revision_count, found.saved_at)  # type: ignore[attr-defined] (annotated)
            )
        rows.append(CaseProgress(campaign_case, tuple(cells)))
    done = sum(1 for a in assignments if a.status == AnnotationAssignment.Status.DONE)
    return CampaignProgress(annotators, tuple(rows), done, len(assignments))


def _newest_by_assignment(revisions: Iterable[MaskRevision]) -> dict[int, MaskRevision]:
    newest: dict[int, MaskRevision] = {}
    for revision in revisions:
        if revision.assignment_id not in newest or revision.number > newest[revision.assignment_id].number:
            newest[revision.assignment_id] = revision
    return newest


def campaign_case_finished_revisions(*, campaign_case: CampaignCase) -> dict[str, MaskRevision]:
    """Each annotator's mask of the case (the newest revision of a DONE assignment), by username."""
    revisions = MaskRevision.objects.filter(
        assignment__campaign_case=campaign_case, assignment__status=AnnotationAssignment.Status.DONE
    ).select_related("assignment__annotator")
    newest = _newest_by_assignment(revisions)
    return {
        revision.assignment.annotator.username: revision
        for revision in sorted(newest.values(), key=lambda revision: revision.assignment.annotator.username)
    }


def _pairs(rows: Sequence[dict[str, object]]) -> tuple[PairAgreement, ...]:
    return tuple(PairAgreement(**row) for row in rows)  # type: ignore[arg-type] (stored from asdict)


def _agreement_current(campaign_case: CampaignCase, *, basis: list[int]) -> bool:
    """Whether the stored agreement holds every finished mask (nothing to hold counts as current)."""
    if campaign_case.agreement is None:
        return not basis
    return campaign_case.agreement_basis == basis


def annotation_campaign_agreement(*, campaign: AnnotationCampaign) -> tuple[CaseAgreement, ...]:
    """Per case, as last computed (``services.campaign_case_agreement_compute``): pairwise Dice and volume
    difference of the finished masks, each against the starting mask, the STAPLE consensus volume and
    each annotator's sensitivity and specificity; ``current`` says whether every finished mask is in it."""
    finished = _newest_by_assignment(
        MaskRevision.objects.filter(
            assignment__campaign_case__campaign=campaign, assignment__status=AnnotationAssignment.Status.DONE
        ).select_related("assignment")
    )
    basis_by_case: dict[int, list[int]] = defaultdict(list)
    for revision in finished.values():
        basis_by_case[revision.assignment.campaign_case_id].append(revision.pk)
    rows = []
    for campaign_case in campaign.campaign_cases.select_related("case"):
        stored = campaign_case.agreement or {}
        rows.append(
            CaseAgreement(
                campaign_case=campaign_case,
                annotators=tuple(stored.get("annotators", ())),
                pairwise=_pairs(stored.get("pairwise", ())),
                with_starting_mask=_pairs(stored.get("with_starting_mask", ())),
                estimates=tuple(AnnotatorEstimate(**row) for row in stored.get("estimates", ())),
                consensus_volume_ml=stored.get("consensus_volume_ml"),
                current=_agreement_current(campaign_case, basis=sorted(basis_by_case[campaign_case.pk])),
            )
        )
    return tuple(rows)


def annotation_assignment_next(*, assignment: AnnotationAssignment) -> AnnotationAssignment | None:
    """The annotator's next unfinished case of the same campaign after this one (by case name, wrapping)."""
    others = list(
        AnnotationAssignment.objects.filter(
            campaign_case__campaign=assignment.campaign_case.campaign_id, annotator=assignment.annotator_id
        )
        .exclude(pk=assignment.pk)
        .exclude(status=AnnotationAssignment.Status.DONE)
        .select_related("campaign_case__case")
        .order_by("campaign_case__case__name")
    )
    name = assignment.campaign_case.case.name
    later = [other for other in others if other.campaign_case.case.name > name]
    return (later or others or [None])[0]


def campaign_starting_mask_sources(*, campaign: AnnotationCampaign) -> list[Submission]:
    """The algorithm submissions (check-only tries aside), in phases scored on the campaign's dataset,
    whose output equals the campaign's starting mask voxel for voxel (both binarised with ``> 0``) on its
    first case with a non-empty one: the submissions the starting masks came from. A consensus corrected
    from them and promoted to the reference would favour them. Empty starting masks come from nobody.

    One case is compared, not all, so that the campaign's page reads one starting mask and one output per
    submission; an output equal to a non-empty starting mask on a full grid is no coincidence.
    """
    if campaign.starting_mask == AnnotationCampaign.StartingMask.EMPTY:
        return []
    for campaign_case in campaign.campaign_cases.exclude(starting_mask="").order_by("case__name"):
        starting_mask = mask_array_read(campaign_case.starting_mask)
        if starting_mask.any():
            break
    else:
        return []
    jobs = (
        Job.objects.filter(
            case_id=campaign_case.case_id,
            submission__phase__dataset_id=campaign.dataset_id,
            submission__check_only=False,
        )
        .exclude(segmentation="")
        .select_related("submission__phase", "submission__team", "submission__creator")
        .order_by("submission_id")
    )
    sources = []
    for job in jobs:
        output = mask_array_read(job.segmentation)
        if output.shape == starting_mask.shape and np.array_equal(output, starting_mask):
            sources.append(job.submission)
    return sources


def campaign_favours_sentence(*, sources: Sequence[Submission]) -> str | None:
    """The warning the promotion shows when the campaign's starting masks came from submissions that
    compete (``campaign_starting_mask_sources``), or None when they came from none."""
    if not sources:
        return None
    named = "; ".join(
        f"submission {submission.pk} by {_submitter(submission)} in {submission.phase.title}"
        for submission in sources
    )
    return (
        f"This campaign's starting masks are the output of {named}, scored on this dataset: a reference "
        "made from this campaign would favour it."
    )


def _submitter(submission: Submission) -> str:
    return submission.team.name if submission.team else submission.creator.username
