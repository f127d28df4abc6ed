"""Reads of the submissions app that encode a rule: who a submission counts for, what it is checked
against, who may see it and its per-case scores, and whether it changed since a page last read it."""

import datetime
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from evaluation.profiles import profile_with_volumes
from portal.accounts.models import Team, TeamMembership, User
from portal.accounts.selectors import organizer_of, user_is_organizer
from portal.challenges.models import Challenge, Phase, Split
from portal.challenges.selectors import challenge_list_visible_to
from portal.datasets.models import Case, GroundTruth
from portal.datasets.selectors import case_ground_truth_get, cases_visible_to
from portal.submissions.models import CaseResult, GroundTruthSwitch, Submission, SubmissionStateChange

REFERENCE_INTERFACE = "non-contrast-ct"

NOT_COUNTED = (Submission.Status.FAILED, Submission.Status.CANCELLED)

# Statuses whose archive passed the checks, so its masks can be shown against the ground truth.
REVIEWABLE = (Submission.Status.EVALUATING, Submission.Status.SUCCEEDED)
# Bump when the overlap label volume is computed differently, so cached files are not reused.
OVERLAP_LABEL_VERSION = 1


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
    """The submissions that count toward the phase's limits: every one not FAILED or CANCELLED (and not a
    check-only try, which has its own cap: ``submission_list_check_only``) of the team, and every one its
    current members made to the phase under another team or without one; for a participant without a
    team, every one they made to the phase, with a team or without.

    So nobody resets the limits by moving: what a participant submitted counts toward the team they
    join, and toward themselves when they leave it, for the rest of the phase.
    """
    if team is not None:
        members = TeamMembership.objects.filter(team=team).values("user_id")
        submissions = Submission.objects.filter(Q(team=team) | Q(creator__in=members), phase=phase)
    else:
        submissions = Submission.objects.filter(phase=phase, creator=user)
    submissions = submissions.exclude(status__in=NOT_COUNTED).exclude(check_only=True)
    if since is not None:
        submissions = submissions.filter(created_at__gte=since)
    return submissions


def submission_list_check_only(
    *, phase: Phase, team: Team | None, user: User, since: datetime.datetime
) -> QuerySet[Submission]:
    """The check-only tries made to the phase since ``since`` that count toward the cap on them: every
    one of the team and of its current members (of the participant without a team), whatever its end,
    since each took a worker's time (a cancelled one too: it may have been cancelled mid-check)."""
    if team is not None:
        members = TeamMembership.objects.filter(team=team).values("user_id")
        submissions = Submission.objects.filter(Q(team=team) | Q(creator__in=members), phase=phase)
    else:
        submissions = Submission.objects.filter(phase=phase, creator=user)
    return submissions.filter(check_only=True, created_at__gte=since)


def phase_case_list(*, phase: Phase) -> QuerySet[Case]:
    """The cases a phase is scored on, by name."""
    return Case.objects.filter(dataset_id=phase.dataset_id, split=phase.split).order_by("name")


def phase_case_results_incomplete(*, phase: Phase) -> QuerySet[CaseResult]:
    """The results of the phase's scored submissions on its ground-truth version that lack a value the
    portal now stores with every case's scores (``profile_with_volumes``: e.g. the lesion counts, which
    results scored before they were stored do not hold); the re-scoring scores these cases again."""
    keys = profile_with_volumes(name=phase.metric_profile).metric_keys
    lacking = Q()
    for key in keys:
        lacking |= ~Q(metrics__has_key=key)
    return CaseResult.objects.filter(
        lacking,
        submission__phase=phase,
        submission__status=Submission.Status.SUCCEEDED,
        ground_truth_version=phase.ground_truth_version,
    )


def phase_submission_count_scored(*, phase: Phase) -> int:
    """How many of the phase's submissions are scored (SUCCEEDED): those a re-scoring scores again."""
    return Submission.objects.filter(phase=phase, status=Submission.Status.SUCCEEDED).count()


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


IN_PROGRESS = (Submission.Status.PENDING, Submission.Status.CHECKING, Submission.Status.EVALUATING)


@dataclass(frozen=True)
class StateFilter:
    """One choice of the submission list's filter by state: its query value, label and count."""

    value: str
    label: str
    count: int


def submission_state_filters(*, submissions: QuerySet[Submission]) -> list[StateFilter]:
    """The filters by state that ``submissions`` offer, each with how many it keeps: all, those in
    progress (where a stuck one waits for an organizer's re-queue or stop), then each status present."""
    counts = dict(submissions.order_by().values_list("status").annotate(count=Count("pk")))
    filters = [
        StateFilter("", "All", sum(counts.values())),
        StateFilter("in-progress", "In progress", sum(counts.get(status, 0) for status in IN_PROGRESS)),
    ]
    filters += [
        StateFilter(status.lower(), label, counts[status])
        for status, label in Submission.Status.choices
        if counts.get(status)
    ]
    return filters


def submission_list_in_state(*, submissions: QuerySet[Submission], state: str) -> QuerySet[Submission]:
    """Those of ``submissions`` that a filter value of ``submission_state_filters`` keeps; all of them for
    an empty or unknown value."""
    if state == "in-progress":
        return submissions.filter(status__in=IN_PROGRESS)
    if state.upper() in Submission.Status.values:
        return submissions.filter(status=state.upper())
    return submissions


def submission_list_visible_to(*, user: User, phase: Phase | None = None) -> QuerySet[Submission]:
    """The submissions the user may see: every one in the challenges they organize, and their team's own.

    A participant without a team sees the submissions they made without one. Anonymous users and expert
    readers see none (unless they also take part). Filtered to ``phase`` when one is given.
    """
    if not user.is_authenticated:
        return Submission.objects.none()
    in_team = TeamMembership.objects.filter(user=user, team=OuterRef("team_id"))
    submissions = Submission.objects.filter(
        organizer_of(user, challenge="phase__challenge_id")
        | Exists(in_team)
        | Q(team__isnull=True, creator=user)
    )
    if phase is not None:
        submissions = submissions.filter(phase=phase)
    return submissions.select_related("phase__challenge", "team", "creator")


def submission_get_visible_to(*, user: User, submission_id: int) -> Submission:
    """The submission if the user may see it; ``Submission.DoesNotExist`` otherwise (shown as a 404)."""
    return submission_list_visible_to(user=user).get(pk=submission_id)


def submission_is_submitter(*, submission: Submission, user: User) -> bool:
    """Whether the user submitted it: a member of its team, or its creator when it has no team."""
    if submission.team_id is None:
        return submission.creator_id == user.pk
    return TeamMembership.objects.filter(team_id=submission.team_id, user=user).exists()


def submission_state_change_list(*, submission: Submission) -> QuerySet[SubmissionStateChange]:
    """The submission's status changes, oldest first."""
    return submission.state_changes.order_by("at", "pk")


def submission_case_result_list(*, submission: Submission) -> QuerySet[CaseResult]:
    """The submission's per-case scores on its phase's ground-truth version, with cases, by case name."""
    return (
        submission.case_results.filter(ground_truth_version=submission.phase.ground_truth_version)
        .select_related("case")
        .order_by("case__name")
    )


def submission_masks_noted_count(*, submission: Submission) -> int:
    """How many of the submission's masks were read with a note (another spacing or origin than their
    case's, scored on the case's grid) on its phase's ground-truth version."""
    return submission_case_result_list(submission=submission).exclude(notes=[]).count()


def submission_masks_noted_sentence(*, submission: Submission) -> str | None:
    """``submission_masks_noted_count`` in a sentence that names no case, for readers who may not see
    per-case results; None when no mask had a note."""
    count = submission_masks_noted_count(submission=submission)
    if count == 0:
        return None
    if count == 1:
        return (
            "1 of this submission's masks had another spacing or origin than its case's image; "
            "it was scored on the case's grid."
        )
    return (
        f"{count} of this submission's masks had another spacing or origin than their cases' images; "
        "they were scored on their cases' grids."
    )


@dataclass(frozen=True)
class VersionScores:
    """A submission's mean scores on one ground-truth version, and whether its phase is scored on it now."""

    ground_truth_version: int
    is_current: bool
    cases: int
    metrics_mean: dict[str, float]


def submission_scores_by_version(*, user: User, submission: Submission) -> list[VersionScores] | None:
    """The submission's mean scores on every ground-truth version it was scored on, oldest first.

    Only organizers of the challenge see them (None for anyone else): after a phase switches versions
    they compare the scores on the old and the new masks. A metric absent from some case is averaged
    over the cases that have it.
    """
    if not user_is_organizer(user=user, challenge=submission.phase.challenge_id):
        return None
    by_version: defaultdict[int, list[dict[str, float]]] = defaultdict(list)
    for version, metrics in submission.case_results.values_list("ground_truth_version", "metrics"):
        by_version[version].append(metrics)
    return [
        VersionScores(
            ground_truth_version=version,
            is_current=version == submission.phase.ground_truth_version,
            cases=len(results),
            metrics_mean=_means(results),
        )
        for version, results in sorted(by_version.items())
    ]


def submission_state_etag(
    *, submission: Submission, case_results_visible: bool, counted_submission_sentence: str
) -> str:
    """A strong ETag of what the submission's page and API show: it changes when the submission's
    status, problems, error, scores or final choice change, when a state change or a case's score is
    recorded, when its phase switches ground truth, when the reader's right to see case scores does, and
    when the sentence saying which submission the leaderboard counts does.

    Two cheap aggregates instead of the whole answer, so a page that polls an unchanged submission costs
    the server almost nothing (the API answers 304).
    """
    changes = submission.state_changes.aggregate(count=Count("pk"), last=Max("pk"))
    results = submission.case_results.aggregate(count=Count("pk"), last=Max("pk"))
    state = [
        submission.pk,
        submission.status,
        submission.attempt,
        submission.is_final_selection,
        submission.error,
        submission.problems,
        submission.metrics_mean,
        submission.phase.ground_truth_version,
        changes,
        results,
        case_results_visible,
        counted_submission_sentence,
    ]
    digest = hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'


def phase_ground_truth_switch_latest(*, phase: Phase) -> GroundTruthSwitch | None:
    """The phase's latest switch of ground-truth version, or None when it was never switched."""
    return phase.ground_truth_switches.order_by("-switched_at", "-pk").first()


def _means(results: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({key for metrics in results for key in metrics})
    means = {}
    for key in keys:
        values = [float(metrics[key]) for metrics in results if key in metrics]
        means[key] = sum(values) / len(values)
    return means


def phase_get_for_submissions(*, user: User, slug: str) -> Phase:
    """The phase with this slug if the user may see its challenge; ``Phase.DoesNotExist`` otherwise."""
    return Phase.objects.select_related("challenge", "dataset").get(
        slug=slug, challenge__in=challenge_list_visible_to(user=user)
    )


def submission_review_case_list(*, user: User, submission: Submission) -> QuerySet[Case]:
    """The cases of the submission's phase whose ground truth the user may see against its masks, by name.

    Organizers of the challenge may review every case with ground truth. The submitting team may review
    only training cases they may see (whose ground truth is published with the release): showing a
    hidden test case's overlap would reveal its ground truth. Nobody reviews a submission whose archive
    has not passed the checks, nor a check-only try (it has no masks of the phase's cases to review).
    """
    if submission.status not in REVIEWABLE or submission.check_only:
        return Case.objects.none()
    cases = phase_case_list(phase=submission.phase).filter(
        Exists(GroundTruth.objects.filter(case=OuterRef("pk"), version=submission.phase.ground_truth_version))
    )
    if user_is_organizer(user=user, challenge=submission.phase.challenge_id):
        return cases
    if not submission_is_submitter(submission=submission, user=user):
        return Case.objects.none()
    return cases.filter(split=Split.TRAIN, pk__in=cases_visible_to(user=user).values("pk"))


def phase_case_ground_truth(*, phase: Phase, case: Case) -> GroundTruth | None:
    """The case's ground truth in the version the phase is scored on, or None when it has none.

    The one rule for which mask a submission of the phase is compared with: scoring, re-scoring and
    the review overlap all call it.
    """
    return case_ground_truth_get(case=case, version=phase.ground_truth_version)


def submission_case_overlap_key(*, submission: Submission, ground_truth: GroundTruth) -> str:
    """The content hash that names the overlap label volume of a submission's mask and a ground truth.

    It changes whenever either file or the way the volume is computed changes, so it serves as the
    file's ETag and as its name in the cache.
    """
    source = f"{OVERLAP_LABEL_VERSION}:{submission.sha256}:{ground_truth.sha256}:{ground_truth.case.name}"
    return hashlib.sha256(source.encode()).hexdigest()
