"""A phase's results split by a case attribute: per submission, the mean of a metric in each subgroup of
cases (centre, scanner, reference lesion volume bin...) with its bootstrap interval, and the test of
whether the metric differs between subgroups (``evaluation.subgroups``).

Reads only, computed when asked (the leaderboard stores no split). A split is made of per-case scores, so
it follows their rule: what ``selectors.leaderboard_compared`` lists (the entries a person may see the
per-case scores of, and for organizers the unranked ensembles), none for a participant in a hidden test
phase. The attributes
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
from portal.leaderboards.selectors import ComparedSubmission, LeaderboardAccess

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

    submission: ComparedSubmission
    overall_mean: float | None
    subgroups: tuple[SubgroupMean, ...]
    test: SubgroupTest


@dataclass(frozen=True)
class SubgroupSplit:
    """The split of one metric by one attribute, for each submission the person's results pages compare."""

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
    attribute) for what the user's results pages compare (``selectors.leaderboard_compared``); None when
    the phase's cases have no attribute or its board no column yet.

    Raises ``PortalError`` (code ``no_such_attribute`` or ``no_such_metric``) naming the choices when
    either is not one of ``choices`` (the phase's). The caller checks ``access.case_scores_visible`` first.
    """
    if not choices.attributes or not choices.metrics:
        return None
    attribute = _chosen(
        attribute, choices.attributes, what="an attribute to split by", code="no_such_attribute"
    )
    metric = _chosen(metric, choices.metrics, what="a metric", code="no_such_metric")
    compared = selectors.leaderboard_compared(access=access, user=user)
    return compared_subgroup_split(
        per_case=selectors.compared_case_metrics(phase=access.phase, compared=compared),
        compared=compared,
        attribute=attribute,
        metric=metric,
        choices=choices,
    )


def leaderboard_subgroup_export_rows(*, phase: Phase) -> list[dict[str, object]]:
    """Every split of the phase (each attribute by each column) for what an organizer's results pages
    compare (``selectors.phase_compared``), as flat rows: one per subgroup, with the submission's
    test on the row of each of its subgroups (organizers' export)."""
    choices = leaderboard_split_choices(phase=phase)
    compared = selectors.phase_compared(phase=phase)
    per_case = selectors.compared_case_metrics(phase=phase, compared=compared)
    table = []
    for attribute in choices.attributes:
        for metric in choices.metrics:
            split = compared_subgroup_split(
                per_case=per_case,
                compared=compared,
                attribute=attribute,
                metric=metric,
                choices=choices,
            )
            table += [
                {
                    "attribute": attribute,
                    "metric": metric,
                    "rank": submission.submission.rank,
                    "team": submission.submission.name,
                    "submission": submission.submission.submission_id,
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


def compared_subgroup_split(
    *,
    per_case: Mapping[int, Mapping[str, Mapping[str, float]]],
    compared: Sequence[ComparedSubmission],
    attribute: str,
    metric: str,
    choices: SplitChoices,
) -> SubgroupSplit:
    """The split of ``metric`` by ``attribute`` (both among ``choices``) for ``compared``, from their
    per-case results ``per_case`` (``selectors.compared_case_metrics``). The caller decides what is
    compared and checks that the person may see it (the results pages, an ensemble's report)."""
    by_case = choices.cases.by_case
    subgroups = {case: values[attribute] for case, values in by_case.items() if values.get(attribute)}
    submissions = []
    for submission in compared:
        values = {
            case: float(metrics[metric])
            for case, metrics in per_case[submission.submission_id].items()
            if metric in metrics
        }
        finite = [value for value in values.values() if math.isfinite(value)]
        submissions.append(
            SubmissionSubgroups(
                submission=submission,
                overall_mean=sum(finite) / len(finite) if finite else None,
                subgroups=subgroup_means(values, subgroups, samples=SUBGROUP_SAMPLES, seed=SUBGROUP_SEED),
                test=subgroup_difference_test(values, subgroups),
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
