"""Every write of the leaderboards app: settings and columns on demand, the rebuild, publication, exports.

``leaderboard_rebuild`` is the one place ranks are computed. It runs when a submission's result is
recorded (``leaderboard_rebuild_schedule`` queues it after the commit), never on a page view: it takes
the submission that counts for each team (or participant without a team) among the SUCCEEDED ones,
turns their per-case results into an ``evaluation.ranking`` score table, ranks it, bootstraps the rank
stability, tests the top entries pairwise, and replaces the phase's stored entries in one transaction.
"""

import datetime
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Literal

import numpy as np
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from evaluation.biomarkers import clinical_correlations
from evaluation.profiles import PREDICTED_VOLUME, Direction, profile_get, profile_with_volumes
from evaluation.ranking import (
    RankedMetric,
    Ranking,
    ScoreTable,
    aggregate_then_rank,
    bootstrap_rank_stability,
    pairwise_wilcoxon,
    rank_then_aggregate,
)
from evaluation.ranking import (
    RankStability as BootstrapStability,
)
from portal.accounts.models import User
from portal.challenges.models import Phase
from portal.csv_export import csv_table_text
from portal.errors import PortalError
from portal.leaderboards import biomarkers, ensembles, selectors, subgroups, tasks
from portal.leaderboards.models import LeaderboardColumn, LeaderboardEntry, LeaderboardSettings, RankStability
from portal.submissions.models import CaseResult, Submission

logger = logging.getLogger(__name__)

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
PAIRWISE_ENTRIES = 10
"""Pairwise tests cover the best entries only: n entries need n(n-1)/2 tests per metric."""

Counted = LeaderboardSettings.CountedSubmission
Ranked = LeaderboardSettings.RankingMethod
Publication = LeaderboardSettings.Publication
Table = Literal["leaderboard", "cases", "subgroups", "biomarkers"]
EXPORT_TABLES: tuple[Table, ...] = ("leaderboard", "cases", "subgroups", "biomarkers")
FileFormat = Literal["csv", "json"]


@dataclass(frozen=True)
class Export:
    """A file to download: its bytes, content type and name."""

    content: bytes
    content_type: str
    filename: str


@dataclass(frozen=True)
class _Candidate:
    submission_id: int
    team_id: int | None
    user_id: int
    is_final_selection: bool
    submitted_at: datetime.datetime
    is_ensemble: bool
    counts_alone: bool
    """An ensemble or a validation re-run, made by an organizer: its own entry, never one of a team's."""


def leaderboard_settings_get(*, phase: Phase) -> LeaderboardSettings:
    """The phase's leaderboard settings, created with the defaults when it has none; a validation phase's
    are published manually, by an organizer (its results are kept apart from the challenge's ranking)."""
    defaults = {"publication": Publication.MANUAL} if phase.is_validation else {}
    settings, _ = LeaderboardSettings.objects.get_or_create(phase=phase, defaults=defaults)
    return settings


def leaderboard_columns_ensure(*, phase: Phase) -> list[LeaderboardColumn]:
    """The phase's columns in order; one per metric of its profile, all ranked, when it has none yet."""
    columns = list(LeaderboardColumn.objects.filter(phase=phase).order_by("order", "pk"))
    if columns:
        return columns
    profile = profile_get(name=phase.metric_profile)
    LeaderboardColumn.objects.bulk_create(
        [
            LeaderboardColumn(
                phase=phase,
                metric_key=metric.key,
                label=f"{metric.label} ({metric.units})" if metric.units else metric.label,
                higher_is_better=metric.direction == Direction.HIGHER_IS_BETTER,
                order=position,
            )
            for position, metric in enumerate(profile.metrics)
        ],
        ignore_conflicts=True,
    )
    return list(LeaderboardColumn.objects.filter(phase=phase).order_by("order", "pk"))


def leaderboard_rebuild_schedule(*, phase_id: int) -> None:
    """Queue a rebuild of the phase's leaderboard once the current transaction commits."""
    transaction.on_commit(partial(tasks.leaderboard_rebuild_task.delay, phase_id=phase_id))


@dataclass(frozen=True)
class LeaderboardRules:
    """How a phase's leaderboard ranks, which submission of a team counts, and who sees what, as an
    organizer sets them."""

    ranking_method: str
    counted_submission: str
    publication: str
    show_case_scores_to_participants: bool


@dataclass(frozen=True)
class ColumnSpec:
    """One column as an organizer sets it: a metric of the phase's profile, its label (blank: the
    profile's), its direction, whether it enters the ranking or is only shown, and its position."""

    metric_key: str
    label: str
    higher_is_better: bool
    in_ranking: bool
    order: int


def _ranked_columns(columns: Sequence[ColumnSpec | LeaderboardColumn]) -> set[tuple[str, bool]]:
    return {(column.metric_key, column.higher_is_better) for column in columns if column.in_ranking}


def leaderboard_reranking_changes(
    *, phase: Phase, rules: LeaderboardRules, columns: Sequence[ColumnSpec]
) -> tuple[str, ...]:
    """What of ``rules`` and ``columns`` would rank the phase's entries differently than now, in words
    ("the ranking method", "which submission counts", "the ranked columns"); empty when nothing would.

    Labels, order, shown-only columns, publication and per-case visibility change no rank.
    """
    current = LeaderboardSettings.objects.filter(phase=phase).first() or LeaderboardSettings(phase=phase)
    changes = []
    if rules.ranking_method != current.ranking_method:
        changes.append("the ranking method")
    if rules.counted_submission != current.counted_submission:
        changes.append("which submission counts")
    stored = list(LeaderboardColumn.objects.filter(phase=phase))
    if stored and _ranked_columns(columns) != _ranked_columns(stored):
        changes.append("the ranked columns")
    return tuple(changes)


def leaderboard_column_specs(*, phase: Phase | None, metric_profile: str) -> list[ColumnSpec]:
    """The phase's columns as specs, in order; for a new phase or one without columns, the columns
    ``leaderboard_columns_ensure`` would make from ``metric_profile``. Reads only."""
    if phase is not None:
        stored = LeaderboardColumn.objects.filter(phase=phase).order_by("order", "pk")
        specs = [
            ColumnSpec(
                metric_key=column.metric_key,
                label=column.label,
                higher_is_better=column.higher_is_better,
                in_ranking=column.in_ranking,
                order=column.order,
            )
            for column in stored
        ]
        if specs:
            return specs
    return [
        ColumnSpec(
            metric_key=metric.key,
            label=f"{metric.label} ({metric.units})" if metric.units else metric.label,
            higher_is_better=metric.direction == Direction.HIGHER_IS_BETTER,
            in_ranking=True,
            order=position,
        )
        for position, metric in enumerate(profile_get(name=metric_profile).metrics)
    ]


def _choice_problem(value: str, choices: type[models.TextChoices], what: str) -> PortalError | None:
    if value in choices.values:
        return None
    return PortalError(f"Choose {what}: one of {', '.join(choices.labels)}.", code="no_such_choice")


def leaderboard_settings_update(*, phase: Phase, rules: LeaderboardRules) -> LeaderboardSettings:
    """Set how the phase's leaderboard ranks, counts and publishes; ``ValidationError`` maps an unknown
    choice to its sentence. A change of method or counted submission rebuilds the board after the commit."""
    problems = {
        name: problem
        for name, problem in (
            ("ranking_method", _choice_problem(rules.ranking_method, Ranked, "how the board ranks")),
            (
                "counted_submission",
                _choice_problem(rules.counted_submission, Counted, "which submission counts"),
            ),
            ("publication", _choice_problem(rules.publication, Publication, "when the board is published")),
        )
        if problem is not None
    }
    if phase.is_validation and rules.publication != Publication.MANUAL:
        problems["publication"] = PortalError(
            "A validation phase's results are published only by an organizer: keep its publication manual.",
            code="validation_published_manually",
        )
    if problems:
        raise ValidationError(problems)
    settings = leaderboard_settings_get(phase=phase)
    reranks = (rules.ranking_method, rules.counted_submission) != (
        settings.ranking_method,
        settings.counted_submission,
    )
    for name, value in asdict(rules).items():
        setattr(settings, name, value)
    settings.save()
    if reranks:
        leaderboard_rebuild_schedule(phase_id=phase.pk)
    return settings


def _column_problems(*, phase: Phase, columns: Sequence[ColumnSpec]) -> list[PortalError]:
    profile = profile_with_volumes(name=phase.metric_profile)
    produced = profile.metric_keys
    problems = [
        PortalError(
            f"The {profile.name} metric profile produces no metric {column.metric_key!r}, so its column "
            f"would stay empty: choose one of {', '.join(produced)}.",
            code="metric_not_in_profile",
        )
        for column in columns
        if column.metric_key not in produced
    ]
    keys = [column.metric_key for column in columns]
    problems += [
        PortalError(f"Two columns show {key}; keep one of them.", code="column_twice")
        for key in sorted({key for key in keys if keys.count(key) > 1})
    ]
    if not any(column.in_ranking for column in columns):
        problems.append(
            PortalError(
                "The leaderboard ranks on no column: make at least one column ranked.", code="nothing_ranked"
            )
        )
    return problems


def leaderboard_columns_set(*, phase: Phase, columns: Sequence[ColumnSpec]) -> list[LeaderboardColumn]:
    """Replace the phase's leaderboard columns with ``columns``; a blank label takes the profile's.

    ``ValidationError`` (on ``columns``) with a sentence per problem: a metric the phase's profile does not
    produce, a metric shown twice, no ranked column. The board is rebuilt after the commit when the
    columns changed (its entries store a mean per column).
    """
    problems = _column_problems(phase=phase, columns=columns)
    if problems:
        raise ValidationError({"columns": problems})
    labels = {
        metric.key: f"{metric.label} ({metric.units})" if metric.units else metric.label
        for metric in profile_with_volumes(name=phase.metric_profile).metrics
    }
    wanted = [
        LeaderboardColumn(
            phase=phase,
            metric_key=column.metric_key,
            label=column.label.strip() or labels[column.metric_key],
            higher_is_better=column.higher_is_better,
            in_ranking=column.in_ranking,
            order=column.order,
        )
        for column in sorted(columns, key=lambda column: column.order)
    ]
    fields = ("metric_key", "label", "higher_is_better", "in_ranking", "order")
    stored = LeaderboardColumn.objects.filter(phase=phase).order_by("order", "pk")
    if [tuple(getattr(column, name) for name in fields) for column in wanted] == list(
        stored.values_list(*fields)
    ):
        return list(stored)
    stored.delete()
    LeaderboardColumn.objects.bulk_create(wanted)
    leaderboard_rebuild_schedule(phase_id=phase.pk)
    return list(LeaderboardColumn.objects.filter(phase=phase).order_by("order", "pk"))


class LeaderboardPublisher:
    """The leaderboards as the publisher of the submissions' results (``portal.submissions.publication``):
    a phase's board is rebuilt when its results change, and per-case scores follow the board's rule."""

    def case_results_visible(self, *, user: User, submission: Submission) -> bool:
        access = selectors.leaderboard_access_get(user=user, phase_slug=submission.phase.slug)
        return selectors.submission_case_scores_visible(access=access, user=user, submission=submission)

    def results_changed(self, *, phase_id: int) -> None:
        leaderboard_rebuild_schedule(phase_id=phase_id)

    def counted_submission_sentence(self, *, phase: Phase) -> str:
        counted = leaderboard_settings_get(phase=phase).counted_submission
        return COUNTED_SUBMISSION_SENTENCES[LeaderboardSettings.CountedSubmission(counted)]

    def submission_ended(self, *, submission_id: int) -> None:
        ensembles.ensemble_builds_wake(member_id=submission_id)


COUNTED_SUBMISSION_SENTENCES: Mapping[LeaderboardSettings.CountedSubmission, str] = {
    LeaderboardSettings.CountedSubmission.SELECTED: (
        "The leaderboard counts the submission your team selects as final (until you select one, its "
        "latest scored submission)."
    ),
    LeaderboardSettings.CountedSubmission.LATEST: (
        "The leaderboard counts your team's latest scored submission: selecting one as final does not "
        "change what it counts."
    ),
    LeaderboardSettings.CountedSubmission.BEST: (
        "The leaderboard counts your team's best-ranked submission: selecting one as final does not "
        "change what it counts."
    ),
}


def leaderboard_rebuild(*, phase: Phase) -> None:
    """Recompute and store the phase's ranks from its scored submissions, then queue their stability.

    Takes the counted submission of each team (or participant without a team), ranks them with the
    phase's method and stores each entry's rank, ranking score and column means. The entries are
    replaced in one transaction, under the lock of the phase's settings row, so readers see the old
    ranking or the new one, never a mixture; a phase without scored submissions gets an empty board.
    The bootstrap and the pairwise tests, which cost more as entries grow, follow in
    ``leaderboard_stability_rebuild``, queued after the commit. Safe to run twice.
    """
    settings = leaderboard_settings_get(phase=phase)
    columns = leaderboard_columns_ensure(phase=phase)
    case_ids = [str(pk) for pk in selectors.phase_case_ids(phase=phase)]
    counted = _counted_submissions(phase=phase, settings=settings, columns=columns, case_ids=case_ids)
    table = _score_table(submission_ids=[candidate.submission_id for candidate in counted], phase=phase)
    entries: list[LeaderboardEntry] = []
    if counted and case_ids:
        entries = _ranked_entries(
            phase=phase, settings=settings, columns=columns, case_ids=case_ids, counted=counted, table=table
        )
    with transaction.atomic():
        LeaderboardSettings.objects.select_for_update().get(pk=settings.pk)
        known = {
            submission_id: (admission, outcome)
            for submission_id, admission, outcome in LeaderboardEntry.objects.filter(phase=phase).values_list(
                "submission_id", "clinical_correlations", "outcome_correlations"
            )
        }
        submitted_at = {candidate.submission_id: candidate.submitted_at for candidate in counted}
        for entry in entries:
            entry.clinical_correlations, entry.outcome_correlations = known.get(entry.submission_id, ({}, {}))
            entry.api_document = _api_document(entry, submitted_at=submitted_at[entry.submission_id])
        LeaderboardEntry.objects.filter(phase=phase).delete()
        LeaderboardEntry.objects.bulk_create(entries)
        if not entries:
            RankStability.objects.filter(phase=phase).delete()
            return
        RankStability.objects.update_or_create(
            phase=phase,
            defaults={
                "method": settings.ranking_method,
                "columns": [_column_snapshot(column) for column in columns],
                "summary": {"entries": len(entries)},
                "computed_at": entries[0].computed_at,
            },
        )
        transaction.on_commit(partial(tasks.leaderboard_stability_task.delay, phase_id=phase.pk))


def leaderboard_stability_rebuild(*, phase: Phase) -> None:
    """Bootstrap the stored ranking's stability, test its best entries pairwise, correlate volumes.

    Works on the entries ``leaderboard_rebuild`` stored: 1000 seeded bootstrap samples of the cases give
    each entry its rank distribution, median and 95% interval; Holm-corrected Wilcoxon tests compare the
    best ``PAIRWISE_ENTRIES`` on each ranked metric; entries without clinical correlations get them. If
    the entries changed meanwhile, nothing is stored: the newer rebuild has queued its own stability.
    Safe to run twice (the bootstrap is seeded).
    """
    ranked = dict(LeaderboardEntry.objects.filter(phase=phase).values_list("submission_id", "rank"))
    case_ids = [str(pk) for pk in selectors.phase_case_ids(phase=phase)]
    if not ranked or not case_ids:
        return
    settings = leaderboard_settings_get(phase=phase)
    table = _score_table(submission_ids=list(ranked), phase=phase)
    metrics = _ranked_metrics(leaderboard_columns_ensure(phase=phase), table)
    stability = bootstrap_rank_stability(
        table,
        metrics,
        method=settings.ranking_method,
        cases=case_ids,
        samples=BOOTSTRAP_SAMPLES,
        seed=BOOTSTRAP_SEED,
    )
    best_first = sorted(ranked, key=lambda submission_id: (ranked[submission_id], submission_id))
    pairwise = _pairwise(table=table, metrics=metrics, top=[str(pk) for pk in best_first[:PAIRWISE_ENTRIES]])
    with transaction.atomic():
        LeaderboardSettings.objects.select_for_update().get(pk=settings.pk)
        entries = list(LeaderboardEntry.objects.filter(phase=phase))
        if {entry.submission_id: entry.rank for entry in entries} != ranked:
            logger.info("The leaderboard of phase %s changed while its stability was computed.", phase.pk)
            return
        _stability_apply(phase=phase, entries=entries, stability=stability, table=table)
        LeaderboardEntry.objects.bulk_update(
            entries,
            [
                "median_rank",
                "rank_interval",
                "rank_counts",
                "clinical_correlations",
                "outcome_correlations",
                "api_document",
            ],
        )
        RankStability.objects.filter(phase=phase).update(
            summary=_stability_summary(stability, pairwise=pairwise)
        )


def _stability_apply(
    *, phase: Phase, entries: Sequence[LeaderboardEntry], stability: BootstrapStability, table: ScoreTable
) -> None:
    spread = {int(row.submission_id): row for row in stability.submissions}
    submitted_at = dict(
        Submission.objects.filter(pk__in=[entry.submission_id for entry in entries]).values_list(
            "pk", "created_at"
        )
    )
    missing = {
        entry.pk for entry in entries if not (entry.clinical_correlations or entry.outcome_correlations)
    }
    admission = selectors.phase_clinical_scores(phase=phase, outcomes=False) if missing else {}
    outcome = selectors.phase_clinical_scores(phase=phase, outcomes=True) if missing else {}
    for entry in entries:
        bootstrap = spread[entry.submission_id]
        entry.median_rank = bootstrap.median_rank
        entry.rank_interval = list(bootstrap.rank_interval)
        entry.rank_counts = {str(rank): count for rank, count in enumerate(bootstrap.rank_counts, 1) if count}
        if entry.pk in missing:
            per_case = table[str(entry.submission_id)]
            entry.clinical_correlations = _clinical_correlations(clinical=admission, per_case=per_case)
            entry.outcome_correlations = _clinical_correlations(clinical=outcome, per_case=per_case)
        entry.api_document = _api_document(entry, submitted_at=submitted_at[entry.submission_id])


def leaderboard_publish(*, phase: Phase) -> LeaderboardSettings:
    """Publish a phase whose leaderboard is published manually; other rules are left as they are."""
    settings = leaderboard_settings_get(phase=phase)
    if not settings.is_published:
        settings.is_published = True
        settings.save(update_fields=["is_published"])
    return settings


def leaderboard_export(*, phase: Phase, table: Table, file_format: FileFormat) -> Export:
    """The stored leaderboard, the per-case scores of its entries, every split of what the results pages
    compare by a case attribute (``subgroups.leaderboard_subgroup_export_rows``), or their clinical
    biomarkers (``biomarkers.leaderboard_biomarker_export_rows``), as a CSV or JSON file."""
    if table == "leaderboard":
        rows = selectors.leaderboard_export_rows(phase=phase)
    elif table == "cases":
        rows = selectors.leaderboard_case_export_rows(phase=phase)
    elif table == "subgroups":
        rows = subgroups.leaderboard_subgroup_export_rows(phase=phase)
    else:
        rows = biomarkers.leaderboard_biomarker_export_rows(phase=phase)
    filename = f"{phase.slug}-{table}.{file_format}"
    if file_format == "json":
        content = json.dumps(rows, indent=2, default=str).encode()
        return Export(content=content, content_type="application/json", filename=filename)
    return Export(
        content=csv_table_text(rows).encode(), content_type="text/csv; charset=utf-8", filename=filename
    )


def _candidates(*, phase: Phase) -> list[_Candidate]:
    """The phase's SUCCEEDED submissions, newest first; of its ensembles only those an organizer ranks
    (the others are listed beside the ranking, ``portal.leaderboards.ensembles``). A validation re-run
    (``portal.algorithms.validation``) carries the team (or participant) of the submission it re-ran, by
    which the board names it, not its organizer's."""
    rows = (
        Submission.objects.filter(phase=phase, status=Submission.Status.SUCCEEDED)
        .exclude(kind=Submission.Kind.ENSEMBLE, ensemble__is_ranked=False)
        .order_by("-created_at", "-pk")
        .values_list(
            "pk",
            "team_id",
            "creator_id",
            "is_final_selection",
            "created_at",
            "kind",
            "validation_run__original__team_id",
            "validation_run__original__creator_id",
        )
    )
    candidates = []
    for pk, team_id, user_id, is_final, created_at, kind, original_team_id, original_user_id in rows:
        if kind == Submission.Kind.RERUN:
            team_id, user_id = original_team_id, original_user_id
        candidates.append(
            _Candidate(
                pk,
                team_id,
                user_id,
                is_final,
                created_at,
                is_ensemble=kind == Submission.Kind.ENSEMBLE,
                counts_alone=kind in (Submission.Kind.ENSEMBLE, Submission.Kind.RERUN),
            )
        )
    return candidates


def _submitter(candidate: _Candidate) -> tuple[str, int]:
    """Whom a submission counts for: its team, its participant without a team, or (a ranked ensemble or a
    validation re-run, made by an organizer) itself."""
    if candidate.counts_alone:
        return ("alone", candidate.submission_id)
    return ("team", candidate.team_id) if candidate.team_id is not None else ("user", candidate.user_id)


def _counted_submissions(
    *, phase: Phase, settings: LeaderboardSettings, columns: Sequence[LeaderboardColumn], case_ids: list[str]
) -> list[_Candidate]:
    """One submission per submitter, as the phase's counted-submission rule says."""
    by_submitter: dict[tuple[str, int], list[_Candidate]] = {}
    for candidate in _candidates(phase=phase):
        by_submitter.setdefault(_submitter(candidate), []).append(candidate)
    if settings.counted_submission == Counted.BEST and case_ids:
        return _best_of_each(
            phase=phase, by_submitter=by_submitter, settings=settings, columns=columns, case_ids=case_ids
        )
    counted = []
    for newest_first in by_submitter.values():
        selected = [candidate for candidate in newest_first if candidate.is_final_selection]
        use_selected = settings.counted_submission == Counted.SELECTED and selected
        counted.append(selected[0] if use_selected else newest_first[0])
    return counted


def _best_of_each(
    *,
    phase: Phase,
    by_submitter: Mapping[tuple[str, int], list[_Candidate]],
    settings: LeaderboardSettings,
    columns: Sequence[LeaderboardColumn],
    case_ids: list[str],
) -> list[_Candidate]:
    """Rank every scored submission together; each submitter's best-ranked one counts."""
    candidates = {str(c.submission_id): c for group in by_submitter.values() for c in group}
    table = _score_table(submission_ids=[c.submission_id for c in candidates.values()], phase=phase)
    ranking = _rank(
        table=table, settings=settings, metrics=_ranked_metrics(columns, table), case_ids=case_ids
    )
    best: dict[tuple[str, int], _Candidate] = {}
    for entry in ranking.entries:
        candidate = candidates[entry.submission_id]
        best.setdefault(_submitter(candidate), candidate)
    return list(best.values())


def _score_table(*, submission_ids: Sequence[int], phase: Phase) -> dict[str, dict[str, dict[str, float]]]:
    """Submission id -> case id -> metric -> value, from the per-case results on the phase's ground truth.

    Results on other ground-truth versions (kept when the phase switched versions) are left out.

    Read with one plain query and decoded here: a phase holds tens of thousands of results, and the
    ORM's per-row conversion of the JSON column costs several times the query itself.
    """
    table: dict[str, dict[str, dict[str, float]]] = {str(pk): {} for pk in submission_ids}
    if not table:
        return table
    results = CaseResult._meta.db_table
    # Only the model's table name and placeholders enter the SQL text; the ids are parameters.
    placeholders = ", ".join(["%s"] * len(table))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT submission_id, case_id, metrics FROM {results} "
            f"WHERE ground_truth_version = %s AND submission_id IN ({placeholders})",
            [phase.ground_truth_version, *(int(pk) for pk in table)],
        )
        for submission_id, case_id, metrics in cursor.fetchall():
            decoded = json.loads(metrics) if isinstance(metrics, str) else metrics
            table[str(submission_id)][str(case_id)] = decoded
    return table


def _ranked_metrics(columns: Sequence[LeaderboardColumn], table: ScoreTable) -> list[RankedMetric]:
    """The ranked columns as ``RankedMetric``; a missing value counts as the worst value seen."""
    ranked = [column for column in columns if column.in_ranking] or list(columns)
    metrics = []
    for column in ranked:
        seen = [
            float(per_metric[column.metric_key])
            for per_case in table.values()
            for per_metric in per_case.values()
            if column.metric_key in per_metric
        ]
        worst = min(seen, default=0.0) if column.higher_is_better else max(seen, default=0.0)
        metrics.append(RankedMetric(column.metric_key, column.higher_is_better, worst=worst))
    return metrics


def _rank(
    *, table: ScoreTable, settings: LeaderboardSettings, metrics: Sequence[RankedMetric], case_ids: list[str]
) -> Ranking:
    method = rank_then_aggregate
    if settings.ranking_method == LeaderboardSettings.RankingMethod.AGGREGATE_THEN_RANK:
        method = aggregate_then_rank
    return method(table, metrics, cases=case_ids)


def _ranked_entries(
    *,
    phase: Phase,
    settings: LeaderboardSettings,
    columns: Sequence[LeaderboardColumn],
    case_ids: list[str],
    counted: Sequence[_Candidate],
    table: ScoreTable,
) -> list[LeaderboardEntry]:
    """Rank the counted submissions; each entry gets its rank, score and column means (no bootstrap yet)."""
    ranking = _rank(
        table=table, settings=settings, metrics=_ranked_metrics(columns, table), case_ids=case_ids
    )
    by_id = {str(candidate.submission_id): candidate for candidate in counted}
    now = timezone.now()
    entries = []
    for ranked in ranking.entries:
        candidate = by_id[ranked.submission_id]
        entries.append(
            LeaderboardEntry(
                phase=phase,
                team_id=candidate.team_id,
                user_id=None if candidate.team_id is not None or candidate.is_ensemble else candidate.user_id,
                submission_id=candidate.submission_id,
                rank=ranked.rank,
                score=ranked.score,
                metrics=_column_summaries(columns, table[ranked.submission_id], case_ids),
                computed_at=now,
            )
        )
    return entries


def _column_snapshot(column: LeaderboardColumn) -> dict[str, object]:
    return {
        "key": column.metric_key,
        "label": column.label,
        "higher_is_better": column.higher_is_better,
        "in_ranking": column.in_ranking,
    }


def _column_summaries(
    columns: Sequence[LeaderboardColumn], per_case: Mapping[str, Mapping[str, float]], case_ids: list[str]
) -> dict[str, dict[str, float | None]]:
    """Mean and standard deviation (as numpy's ``std``, over n) of each column over the scored cases;
    missing and non-finite values are left out."""
    keys = [column.metric_key for column in columns]
    nothing: Mapping[str, float] = {}
    values = np.array(
        [[float(per_case.get(case_id, nothing).get(key, math.nan)) for key in keys] for case_id in case_ids]
    ).reshape(len(case_ids), len(keys))
    finite = np.isfinite(values)
    counts = finite.sum(axis=0)
    filled = np.where(finite, values, 0.0)
    means = filled.sum(axis=0) / np.maximum(counts, 1)
    spreads = np.sqrt(np.where(finite, (values - means) ** 2, 0.0).sum(axis=0) / np.maximum(counts, 1))
    return {
        key: {"mean": float(means[k]), "sd": float(spreads[k])} if counts[k] else {"mean": None, "sd": None}
        for k, key in enumerate(keys)
    }


def _pairwise(
    *, table: ScoreTable, metrics: Sequence[RankedMetric], top: list[str]
) -> list[dict[str, object]]:
    """Holm-corrected pairwise Wilcoxon tests among the best entries, per ranked metric, in rank order."""
    if len(top) < 2:
        return []
    subset = {submission_id: table[submission_id] for submission_id in top}
    results = []
    for metric in metrics:
        tests = pairwise_wilcoxon(subset, metric.name, higher_is_better=metric.higher_is_better)
        position = {submission_id: i for i, submission_id in enumerate(tests.submission_ids)}
        better = tests.significantly_better()
        results.append(
            {
                "metric": metric.name,
                "submission_ids": [int(pk) for pk in top],
                "p_adjusted": [[tests.adjusted_p_values[position[a]][position[b]] for b in top] for a in top],
                "better": [[better[position[a]][position[b]] for b in top] for a in top],
            }
        )
    return results


def _stability_summary(
    stability: BootstrapStability, *, pairwise: list[dict[str, object]]
) -> dict[str, object]:
    return {
        "entries": len(stability.submissions),
        "samples": stability.samples,
        "seed": stability.seed,
        "confidence": stability.confidence,
        "kendall_tau_median": _finite_or_none(stability.kendall_tau_median),
        "kendall_tau_quartiles": [_finite_or_none(value) for value in stability.kendall_tau_quartiles],
        "pairwise": pairwise,
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clinical_correlations(
    *, clinical: Mapping[str, Mapping[str, float]], per_case: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float | int | None]]:
    """Spearman's rho (and its bootstrap interval) of the predicted volume with each clinical score, as
    ``evaluation.biomarkers.clinical_correlations`` computes it, in the entry's stored shape."""
    volumes = {
        case_id: float(metrics[PREDICTED_VOLUME])
        for case_id, metrics in per_case.items()
        if PREDICTED_VOLUME in metrics
    }
    return {
        label: {
            "rho": _finite_or_none(result.coefficient),
            "low": _finite_or_none(result.interval[0]),
            "high": _finite_or_none(result.interval[1]),
            "p_value": _finite_or_none(result.p_value),
            "pairs": result.pairs,
        }
        for label, result in clinical_correlations(volumes, clinical, seed=BOOTSTRAP_SEED).items()
    }


def _api_document(entry: LeaderboardEntry, *, submitted_at: datetime.datetime) -> str:
    """The entry as the API gives it, without its team's name (read at request time, as teams rename)
    and without its correlations with follow-up outcomes (added at request time where the user may see
    them)."""
    document = {
        "rank": entry.rank,
        "submission": entry.submission_id,
        "submitted_at": submitted_at,
        "ranking_score": entry.score,
        "metrics": entry.metrics,
        "median_rank": entry.median_rank,
        "rank_interval": entry.rank_interval,
        "clinical_correlations": entry.clinical_correlations,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)
