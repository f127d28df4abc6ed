"""A phase's results split by a case attribute: per submission, the mean of a metric in each subgroup of
cases (centre, scanner, reference lesion volume bin...) with its bootstrap interval, and the test of
whether the metric differs between subgroups (``evaluation.subgroups``).

Reads only, computed when asked (the leaderboard stores no split). A split is made of per-case scores, so
it follows their rule: the entries a person may see the per-case scores of
(``selectors.leaderboard_case_entries``), none for a participant in a hidden test phase. The attributes
are the dataset's (``datasets.selectors.case_attributes_get``): uploaded by the organizers or derived from
the reference and the data known at admission, never from follow-up outcomes.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evaluation.subgroups import SubgroupMean, SubgroupTest, subgroup_difference_test, subgroup_means
from portal.accounts.models import User
from portal.challenges.models import Phase
from portal.datasets.selectors import CaseAttributes, case_attributes_get
from portal.errors import PortalError
from portal.leaderboards import selectors
from portal.leaderboards.models import LeaderboardEntry
from portal.leaderboards.selectors import CaseScoreRow, LeaderboardAccess, entry_submitter_name

SUBGROUP_SAMPLES = 1000
SUBGROUP_SEED = 0


@dataclass(frozen=True)
class SplitChoices:
    """What a phase's results can be split by (attribute key -> label) and which metric (column key ->
    label), in the order offered, with each case's attributes."""

    attributes: dict[str, str]
    metrics: dict[str, str]
    cases: CaseAttributes


@dataclass(frozen=True)
class SubmissionSubgroups:
    """One submission's split: the mean over all its scored cases, each subgroup's, and the test."""

    entry: LeaderboardEntry
    name: str
    overall_mean: float | None
    subgroups: tuple[SubgroupMean, ...]
    test: SubgroupTest


@dataclass(frozen=True)
class SubgroupSplit:
    """The split of one metric by one attribute, for each entry the person may see per-case scores of."""

    attribute: str
    attribute_label: str
    metric: str
    metric_label: str
    cases_without_value: int
    """Cases of the phase with no value for the attribute: in no subgroup."""
    submissions: list[SubmissionSubgroups]


def leaderboard_split_choices(*, phase: Phase) -> SplitChoices:
    """The attributes the phase's cases have values for, and the columns its last ranking used."""
    cases = case_attributes_get(
        dataset_id=phase.dataset_id, split=phase.split, ground_truth_version=phase.ground_truth_version
    )
    stability = getattr(phase, "rank_stability", None)
    columns = stability.columns if stability is not None else []
    return SplitChoices(
        attributes=dict(cases.labels),
        metrics={str(column["key"]): str(column["label"]) for column in columns},
        cases=cases,
    )


def leaderboard_subgroup_split(
    *,
    access: LeaderboardAccess,
    user: User,
    choices: SplitChoices,
    attribute: str | None,
    metric: str | None,
) -> SubgroupSplit | None:
    """The split of ``metric`` (default: the first column) by ``attribute`` (default: the first
    attribute) for the entries whose per-case scores the user may see; None when the phase's cases have
    no attribute or its board no column yet.

    Raises ``PortalError`` (code ``no_such_attribute`` or ``no_such_metric``) naming the choices when
    either is not one of ``choices`` (the phase's). The caller checks ``access.case_scores_visible`` first.
    """
    if not choices.attributes or not choices.metrics:
        return None
    attribute = _chosen(
        attribute, choices.attributes, what="an attribute to split by", code="no_such_attribute"
    )
    metric = _chosen(metric, choices.metrics, what="a metric", code="no_such_metric")
    entries = selectors.leaderboard_case_entries(access=access, user=user)
    return _split(
        rows=selectors.leaderboard_case_rows(entries=entries),
        entries=entries,
        attribute=attribute,
        metric=metric,
        choices=choices,
    )


def leaderboard_subgroup_export_rows(*, phase: Phase) -> list[dict[str, object]]:
    """Every split of the phase (each attribute by each column) for every entry, as flat rows: one per
    subgroup, with the submission's test on the row of each of its subgroups (organizers' export)."""
    choices = leaderboard_split_choices(phase=phase)
    entries = list(selectors.leaderboard_rows(phase=phase))
    rows = selectors.leaderboard_case_rows(entries=entries)
    table = []
    for attribute in choices.attributes:
        for metric in choices.metrics:
            split = _split(
                rows=rows,
                entries=entries,
                attribute=attribute,
                metric=metric,
                choices=choices,
            )
            table += [
                {
                    "attribute": attribute,
                    "metric": metric,
                    "rank": submission.entry.rank,
                    "team": submission.name,
                    "submission": submission.entry.submission_id,
                    "subgroup": group.subgroup,
                    "cases": group.cases,
                    "mean": group.mean,
                    "low": group.interval[0],
                    "high": group.interval[1],
                    "test": submission.test.test or "",
                    "statistic": _finite_or_none(submission.test.statistic),
                    "p_value": _finite_or_none(submission.test.p_value),
                }
                for submission in split.submissions
                for group in submission.subgroups
            ]
    return table


def _chosen(value: str | None, offered: Mapping[str, str], *, what: str, code: str) -> str:
    if value is None or value == "":
        return next(iter(offered))
    if value not in offered:
        raise PortalError(f"Choose {what}: one of {', '.join(offered)}.", code=code)
    return value


def _split(
    *,
    rows: Sequence[CaseScoreRow],
    entries: Sequence[LeaderboardEntry],
    attribute: str,
    metric: str,
    choices: SplitChoices,
) -> SubgroupSplit:
    by_case = choices.cases.by_case
    subgroups = {case: values[attribute] for case, values in by_case.items() if values.get(attribute)}
    values: dict[int, dict[str, float]] = {entry.submission_id: {} for entry in entries}
    for row in rows:
        if metric in row.metrics:
            values[row.entry.submission_id][row.case_name] = float(row.metrics[metric])
    submissions = []
    for entry in entries:
        per_case = values[entry.submission_id]
        finite = [value for value in per_case.values() if math.isfinite(value)]
        submissions.append(
            SubmissionSubgroups(
                entry=entry,
                name=entry_submitter_name(entry),
                overall_mean=sum(finite) / len(finite) if finite else None,
                subgroups=subgroup_means(per_case, subgroups, samples=SUBGROUP_SAMPLES, seed=SUBGROUP_SEED),
                test=subgroup_difference_test(per_case, subgroups),
            )
        )
    return SubgroupSplit(
        attribute=attribute,
        attribute_label=choices.attributes[attribute],
        metric=metric,
        metric_label=choices.metrics[metric],
        cases_without_value=len(by_case) - len(subgroups),
        submissions=submissions,
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
