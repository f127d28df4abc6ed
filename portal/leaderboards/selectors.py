"""Reads of the leaderboards app that encode who sees what.

- A leaderboard is seen by the phase's organizers always, and by everyone who may see the challenge once
  it is published: at once (AUTOMATIC), when an organizer publishes it (MANUAL), or once the phase has
  closed (AFTER_CLOSE).
- Per-case scores are seen by organizers always; a participant sees those of their own team's (or their
  own, without a team) submissions, and only when the phase shows per-case scores to participants. A team
  never sees another team's per-case scores.
- The results pages built on per-case scores (the split by case attributes, the clinical biomarkers)
  compare what ``leaderboard_compared`` lists: those entries and, for organizers, the phase's scored
  ensembles that are not ranked (an organizer's own analyses, listed beside the ranking).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from evaluation.profiles import profile_get
from portal.accounts.models import ChallengeRole, TeamMembership, User
from portal.accounts.selectors import organizer_of
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.leaderboards.models import Ensemble, LeaderboardEntry, LeaderboardSettings, RankStability
from portal.submissions.models import CaseResult, Submission

Publication = LeaderboardSettings.Publication
Role = ChallengeRole.Role


@dataclass(frozen=True)
class ScoringBasis:
    """What a phase's leaderboard numbers are computed on."""

    ground_truth_version: int
    metric_profile: str
    metric_profile_title: str


def leaderboard_scoring_basis(*, phase: Phase) -> ScoringBasis:
    """The ground-truth version and metric profile the phase is scored on."""
    return ScoringBasis(
        ground_truth_version=phase.ground_truth_version,
        metric_profile=phase.metric_profile,
        metric_profile_title=profile_get(name=phase.metric_profile).title,
    )


@dataclass(frozen=True)
class ClinicalScore:
    """A clinical score correlated with the predicted lesion volume: where a case holds it, and whether it
    is a follow-up outcome (ground truth: its correlations are shown as the leaderboard's settings allow)."""

    label: str
    is_outcome: bool
    table: str
    column: str


CLINICAL_SCORES = (
    ClinicalScore(
        "NIHSS at admission", is_outcome=False, table="demographic_baseline", column="nihss_admission"
    ),
    ClinicalScore("mRS at 90 days", is_outcome=True, table="outcome", column="mrs_90d"),
)


@dataclass(frozen=True)
class LeaderboardAccess:
    """A phase, its leaderboard settings and stored stability, and what the user may see of them."""

    phase: Phase
    settings: LeaderboardSettings
    stability: RankStability | None
    is_organizer: bool
    is_participant: bool

    @property
    def leaderboard_visible(self) -> bool:
        return self.is_organizer or leaderboard_is_published(phase=self.phase, settings=self.settings)

    @property
    def case_scores_visible(self) -> bool:
        """Whether the user may see per-case scores of at least some submissions (their own team's).

        Never a participant's in a phase on hidden test cases, whatever the settings say: a case's scores
        and volume plots tell its hidden reference mask.
        """
        if self.is_organizer:
            return True
        return (
            self.is_participant
            and self.settings.show_case_scores_to_participants
            and self.phase.split != Split.TEST
        )

    @property
    def outcome_correlations_visible(self) -> bool:
        """Whether the user sees the correlations with follow-up outcomes: organizers, and everyone once an
        organizer publishes them."""
        return self.is_organizer or self.settings.publish_outcome_correlations

    def correlations_shown(self, entry: LeaderboardEntry) -> dict[str, object]:
        """The entry's clinical correlations this user may see, by score label."""
        if self.outcome_correlations_visible:
            return {**entry.clinical_correlations, **entry.outcome_correlations}
        return dict(entry.clinical_correlations)


@dataclass(frozen=True)
class CaseScoreRow:
    """The per-case metric values of one counted submission."""

    entry: LeaderboardEntry
    case_name: str
    metrics: Mapping[str, float]
    error: str


def leaderboard_is_published(*, phase: Phase, settings: LeaderboardSettings) -> bool:
    """Whether the phase's publication rule lets people other than organizers see the leaderboard."""
    if settings.publication == Publication.AUTOMATIC:
        return True
    if settings.publication == Publication.MANUAL:
        return settings.is_published
    return phase.closes_at is not None and phase.closes_at <= timezone.now()


def leaderboard_access_get(*, user: User, phase_slug: str) -> LeaderboardAccess:
    """The phase with this slug and the user's access to its leaderboard, in one query.

    Raises ``Phase.DoesNotExist`` when there is no such phase or the user may not see its challenge.
    """
    phases = Phase.objects.select_related("challenge", "leaderboard_settings", "rank_stability")
    if user.is_authenticated:
        roles = ChallengeRole.objects.filter(user=user, challenge_id=OuterRef("challenge_id"))
        phases = phases.annotate(
            has_role=Exists(roles),
            is_organizer=organizer_of(user, challenge="challenge_id"),
            is_participant=Exists(roles.filter(role=Role.PARTICIPANT)),
        ).filter(Q(challenge__is_public=True) | Q(has_role=True))
    else:
        phases = phases.annotate(is_organizer=Value(False), is_participant=Value(False)).filter(
            challenge__is_public=True
        )
    phase = phases.get(slug=phase_slug)
    settings = getattr(phase, "leaderboard_settings", None) or LeaderboardSettings(phase=phase)
    return LeaderboardAccess(
        phase=phase,
        settings=settings,
        stability=getattr(phase, "rank_stability", None),
        is_organizer=bool(phase.is_organizer),  # type: ignore[attr-defined]  # annotated above
        is_participant=bool(phase.is_participant),  # type: ignore[attr-defined]  # annotated above
    )


def leaderboard_rows(*, phase: Phase) -> QuerySet[LeaderboardEntry]:
    """The phase's stored entries, best first, with their team, participant and submission date."""
    return (
        LeaderboardEntry.objects.filter(phase=phase)
        .select_related("team", "user", "submission")
        .only(
            "rank",
            "score",
            "metrics",
            "median_rank",
            "rank_interval",
            "rank_counts",
            "clinical_correlations",
            "outcome_correlations",
            "computed_at",
            "submission_id",
            "submission__created_at",
            "submission__kind",
            "team__name",
            "user__username",
        )
        .order_by("rank", "submission_id")
    )


def leaderboard_page_documents(
    *, phase: Phase, offset: int, limit: int, with_rank_counts: bool, with_outcome_correlations: bool
) -> list[str]:
    """One page of the entries, best first, as the JSON texts the API gives, read in one query.

    Each is the document the rebuild stored, with the team's current name (and, on request, the
    bootstrap rank distribution; where the user may see them, the correlations with follow-up outcomes)
    spliced in as text: at a few hundred rows, decoding and encoding the stored JSON again would cost
    more than the query itself.
    """
    rows = LeaderboardEntry.objects.filter(phase=phase).order_by("rank", "submission_id")
    fields = ["api_document", "team__name", "user__username", "submission_id"]
    wanted = {"rank_counts": with_rank_counts, "outcome_correlations": with_outcome_correlations}
    spliced = [key for key, on in wanted.items() if on]
    for key in spliced:
        rows = rows.annotate(**{f"{key}_text": Cast(key, TextField())})
        fields.append(f"{key}_text")
    documents = []
    page = rows.values_list(*fields)[offset : offset + limit]
    for document, team_name, username, submission_id, *texts in page:
        name = json.dumps(team_name or username or ensemble_name(submission_id=submission_id))
        extra = "".join(f',"{key}":{text}' for key, text in zip(spliced, texts, strict=True))
        documents.append(f'{{"team":{name}{extra},{document[1:]}')
    return documents


def entry_submitter_name(entry: LeaderboardEntry) -> str:
    """The team's name, or the participant's user name when they take part alone, or, for an ensemble
    an organizer ranked (an entry of neither), ``ensemble_name``."""
    if entry.team is not None:
        return entry.team.name
    return entry.user.username if entry.user is not None else ensemble_name(submission_id=entry.submission_id)


def ensemble_name(*, submission_id: int) -> str:
    """How the leaderboard names an ensemble of submissions: marked as one, by its submission."""
    return f"Ensemble (submission {submission_id})"


def leaderboard_case_entries(*, access: LeaderboardAccess, user: User) -> list[LeaderboardEntry]:
    """The entries whose per-case scores the user may see: all for organizers, their own team's for a
    participant when the phase allows it, none otherwise."""
    if not access.case_scores_visible:
        return []
    rows = leaderboard_rows(phase=access.phase)
    if access.is_organizer:
        return list(rows)
    own = submission_list_own(phase=access.phase, user=user)
    return list(rows.filter(submission__in=own))


@dataclass(frozen=True)
class ComparedSubmission:
    """A submission a results page compares: a leaderboard entry (``rank`` set; an ensemble the organizer
    ranked is one) or an ensemble listed without a rank (``rank`` None)."""

    submission_id: int
    name: str
    rank: int | None
    is_ensemble: bool


def leaderboard_compared(*, access: LeaderboardAccess, user: User) -> list[ComparedSubmission]:
    """What the user's results pages compare: for organizers ``phase_compared``; for anyone else the
    entries whose per-case scores they may see (``leaderboard_case_entries``), best first, never an
    organizer's unranked ensemble."""
    if access.is_organizer:
        return phase_compared(phase=access.phase)
    return [_compared(entry) for entry in leaderboard_case_entries(access=access, user=user)]


def phase_compared(*, phase: Phase) -> list[ComparedSubmission]:
    """Everything an organizer's results pages and exports compare: every entry, best first, then the
    phase's scored ensembles that are not ranked, newest first."""
    unranked = Ensemble.objects.filter(
        submission__phase=phase, submission__status=Submission.Status.SUCCEEDED, is_ranked=False
    ).order_by("-submission__created_at", "-pk")
    return [_compared(entry) for entry in leaderboard_rows(phase=phase)] + [
        ComparedSubmission(
            submission_id=submission_id,
            name=ensemble_name(submission_id=submission_id),
            rank=None,
            is_ensemble=True,
        )
        for submission_id in unranked.values_list("submission_id", flat=True)
    ]


def _compared(entry: LeaderboardEntry) -> ComparedSubmission:
    return ComparedSubmission(
        submission_id=entry.submission_id,
        name=entry_submitter_name(entry),
        rank=entry.rank,
        is_ensemble=entry.submission.kind == Submission.Kind.ENSEMBLE,
    )


def compared_case_metrics(
    *, phase: Phase, compared: Sequence[ComparedSubmission]
) -> dict[int, dict[str, Mapping[str, float]]]:
    """Each compared submission's per-case results on the phase's ground-truth version, as submission id
    -> case name -> metrics (every compared submission present, with no case if it has no result), in
    one query."""
    by_submission: dict[int, dict[str, Mapping[str, float]]] = {row.submission_id: {} for row in compared}
    results = CaseResult.objects.filter(
        submission_id__in=by_submission, ground_truth_version=phase.ground_truth_version
    ).values_list("submission_id", "case__name", "metrics")
    for submission_id, case_name, metrics in results.order_by("case__name"):
        by_submission[submission_id][case_name] = metrics
    return by_submission


def submission_list_own(*, phase: Phase, user: User) -> QuerySet[Submission]:
    """The submissions of the user's team in the phase, or the user's own when they have no team."""
    membership = TeamMembership.objects.filter(challenge_id=phase.challenge_id, user=user).first()
    if membership is not None:
        return Submission.objects.filter(phase=phase, team_id=membership.team_id)
    return Submission.objects.filter(phase=phase, team__isnull=True, creator=user)


def submission_is_own(*, phase: Phase, user: User, submission: Submission) -> bool:
    """Whether the submission is the user's team's (or their own, without a team): they know of it."""
    if not user.is_authenticated:
        return False
    return submission_list_own(phase=phase, user=user).filter(pk=submission.pk).exists()


def submission_case_scores_visible(*, access: LeaderboardAccess, user: User, submission: Submission) -> bool:
    """Whether the user may see this submission's per-case scores and plots."""
    if access.is_organizer:
        return True
    if not access.case_scores_visible:
        return False
    return submission_is_own(phase=access.phase, user=user, submission=submission)


def leaderboard_case_rows(*, entries: list[LeaderboardEntry]) -> list[CaseScoreRow]:
    """The per-case results of the given entries' submissions on their phase's ground-truth version, by
    entry rank then case name."""
    by_submission = {entry.submission_id: entry for entry in entries}
    results = (
        CaseResult.objects.filter(
            submission_id__in=by_submission, ground_truth_version=F("submission__phase__ground_truth_version")
        )
        .select_related("case")
        .only("submission_id", "metrics", "error", "case__name")
        .order_by("case__name")
    )
    rows = [
        CaseScoreRow(
            entry=by_submission[result.submission_id],
            case_name=result.case.name,
            metrics=result.metrics,
            error=result.error,
        )
        for result in results
    ]
    rows.sort(key=lambda row: (row.entry.rank, row.entry.submission_id, row.case_name))
    return rows


def phase_case_ids(*, phase: Phase) -> list[int]:
    """The ids of the cases the phase is scored on, by case name."""
    cases = Case.objects.filter(dataset_id=phase.dataset_id, split=phase.split).order_by("name")
    return list(cases.values_list("pk", flat=True))


def phase_clinical_scores(
    *, phase: Phase, outcomes: bool, case_key: Literal["pk", "name"] = "pk"
) -> dict[str, dict[str, float]]:
    """Each clinical score the phase's cases carry, by label, as case -> value (numbers only), the case
    by its id (as text) or its name (``case_key``): the follow-up outcomes with ``outcomes``, the scores
    known at admission without."""
    field = "outcome_data" if outcomes else "admission_data"
    cases = Case.objects.filter(dataset_id=phase.dataset_id, split=phase.split).values_list(case_key, field)
    chosen = [score for score in CLINICAL_SCORES if score.is_outcome == outcomes]
    scores: dict[str, dict[str, float]] = {score.label: {} for score in chosen}
    for case, tables in cases:
        for score in chosen:
            value = (tables or {}).get(score.table, {}).get(score.column)
            if isinstance(value, int | float) and not isinstance(value, bool):
                scores[score.label][str(case)] = float(value)
    return {label: by_case for label, by_case in scores.items() if by_case}


def leaderboard_export_rows(*, phase: Phase) -> list[dict[str, object]]:
    """The stored leaderboard as flat rows: rank, submitter, submission, score, each column's mean and sd."""
    rows = []
    for entry in leaderboard_rows(phase=phase):
        row: dict[str, object] = {
            "rank": entry.rank,
            "team": entry_submitter_name(entry),
            "submission": entry.submission_id,
            "submitted_at": entry.submission.created_at.isoformat(),
            "ranking_score": entry.score,
        }
        for key, summary in entry.metrics.items():
            row[f"{key}_mean"] = summary["mean"]
            row[f"{key}_sd"] = summary["sd"]
        rows.append(row)
    return rows


def leaderboard_case_export_rows(*, phase: Phase) -> list[dict[str, object]]:
    """The per-case scores of every entry as flat rows: rank, submitter, submission, case, metrics."""
    rows = []
    for case_row in leaderboard_case_rows(entries=list(leaderboard_rows(phase=phase))):
        rows.append(
            {
                "rank": case_row.entry.rank,
                "team": entry_submitter_name(case_row.entry),
                "submission": case_row.entry.submission_id,
                "case": case_row.case_name,
                **case_row.metrics,
                "error": case_row.error,
            }
        )
    return rows
