"""A phase's clinical biomarkers: is an algorithm's lesion volume as good a biomarker as the experts'?

Per case, the lesion volume (ml) and lesion count (the profile's 26-connected components) of each compared
submission and of the reference annotation; each submission's agreement with the reference on both
(ICC(A,1) and Bland-Altman, ``evaluation.biomarkers.agreement_with_reference``); and the Spearman
correlation of its volume with each clinical score beside the reference's on the same cases, with the
paired difference (``evaluation.biomarkers.correlations_beside_reference``): DeepISLES's "as good as the
experts" comparison.

Reads only, computed when asked from the volumes and counts the evaluation step stored with each case's
result (``evaluation.profiles.profile_with_volumes``): no page reads a mask. It follows the per-case
scores' rule (what ``selectors.leaderboard_compared`` lists; nothing for a participant in a hidden test
phase), and correlations with follow-up outcomes are computed only for those who may see them
(``LeaderboardAccess.outcome_correlations_visible``).
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from evaluation import plots
from evaluation.biomarkers import (
    Agreement,
    CorrelationBesideReference,
    agreement_with_reference,
    clinical_correlations,
    correlations_beside_reference,
)
from evaluation.profiles import (
    PREDICTED_LESION_COUNT,
    PREDICTED_VOLUME,
    REFERENCE_LESION_COUNT,
    REFERENCE_VOLUME,
)
from evaluation.stats import Correlation
from portal.accounts.models import User
from portal.challenges.models import Phase
from portal.leaderboards import selectors
from portal.leaderboards.selectors import ComparedSubmission, LeaderboardAccess

BIOMARKER_SAMPLES = 1000
BIOMARKER_SEED = 0
REFERENCE_NAME = "Reference annotation"


@dataclass(frozen=True)
class CaseBiomarkers:
    """One case's lesion volume and lesion count, as one submission (or the reference) has them; the count
    is None for a result scored before counts were stored."""

    case: str
    volume_ml: float
    lesion_count: int | None


@dataclass(frozen=True)
class ReferenceBiomarkers:
    """The reference annotation's per-case values and its volume's correlation with each clinical score."""

    cases: list[CaseBiomarkers]
    correlations: dict[str, Correlation]


@dataclass(frozen=True)
class SubmissionBiomarkers:
    """One compared submission's per-case values, its agreement with the reference on each, and its
    volume's correlations beside the reference's, by clinical score label."""

    submission: ComparedSubmission
    cases: list[CaseBiomarkers]
    volume_agreement: Agreement
    count_agreement: Agreement
    correlations: dict[str, CorrelationBesideReference]


@dataclass(frozen=True)
class PhaseBiomarkers:
    """The reference first, then each compared submission; ``clinical_labels`` are the scores correlated
    (those the cases carry, outcomes only where the person may see them)."""

    reference: ReferenceBiomarkers
    submissions: list[SubmissionBiomarkers]
    clinical_labels: list[str]


def leaderboard_biomarkers(*, access: LeaderboardAccess, user: User) -> PhaseBiomarkers:
    """The biomarkers of what the user's results pages compare. The caller checks
    ``access.case_scores_visible`` first."""
    return compared_biomarkers(
        phase=access.phase,
        compared=selectors.leaderboard_compared(access=access, user=user),
        with_outcomes=access.outcome_correlations_visible,
    )


def leaderboard_biomarker_export_rows(*, phase: Phase) -> list[dict[str, object]]:
    """Every compared submission's biomarkers, the reference first, as flat rows of the same columns
    (organizers' export, with the outcomes): agreement of volume and count, and per clinical score (by
    its column's name, e.g. ``mrs_90d_rho``) the correlation, the reference's on the same cases and their
    difference, each with its 95% interval; empty where a row has none."""
    biomarkers = compared_biomarkers(
        phase=phase, compared=selectors.phase_compared(phase=phase), with_outcomes=True
    )
    keys = {score.label: score.column for score in selectors.CLINICAL_SCORES}
    reference: dict[str, object] = {"rank": None, "team": REFERENCE_NAME, "submission": None}
    reference |= {"is_ensemble": False, "cases": len(biomarkers.reference.cases)}
    for label, correlation in biomarkers.reference.correlations.items():
        reference |= _correlation_columns(f"{keys[label]}_", correlation)
    rows = [reference]
    for submission in biomarkers.submissions:
        row: dict[str, object] = {
            "rank": submission.submission.rank,
            "team": submission.submission.name,
            "submission": submission.submission.submission_id,
            "is_ensemble": submission.submission.is_ensemble,
            "cases": len(submission.cases),
            **_agreement_columns("volume_", submission.volume_agreement),
            **_agreement_columns("lesion_count_", submission.count_agreement),
        }
        for label, beside in submission.correlations.items():
            row |= _correlation_columns(f"{keys[label]}_", beside.correlation)
            row |= _correlation_columns(f"{keys[label]}_reference_", beside.reference)
            row[f"{keys[label]}_difference"] = finite_or_none(beside.difference.difference)
            row[f"{keys[label]}_difference_low"] = finite_or_none(beside.difference.interval[0])
            row[f"{keys[label]}_difference_high"] = finite_or_none(beside.difference.interval[1])
        rows.append(row)
    header = list(dict.fromkeys(key for row in rows for key in row))
    return [{key: row.get(key) for key in header} for row in rows]


def finite_or_none(value: float) -> float | None:
    """A number as JSON and CSV give it: NaN (undefined) and infinities as null."""
    return value if math.isfinite(value) else None


def compared_biomarkers(
    *, phase: Phase, compared: Sequence[ComparedSubmission], with_outcomes: bool
) -> PhaseBiomarkers:
    """The biomarkers of ``compared`` on the phase, with the correlations with follow-up outcomes when
    ``with_outcomes``. The caller decides what is compared and checks that the person may see it and,
    for ``with_outcomes``, the outcomes (``LeaderboardAccess.outcome_correlations_visible``)."""
    per_case = selectors.compared_case_metrics(phase=phase, compared=compared)
    clinical = selectors.phase_clinical_scores(phase=phase, outcomes=False, case_key="name")
    if with_outcomes:
        clinical |= selectors.phase_clinical_scores(phase=phase, outcomes=True, case_key="name")
    reference = _reference_cases(per_case.values())
    reference_volumes = {row.case: row.volume_ml for row in reference}
    reference_counts = {
        row.case: float(row.lesion_count) for row in reference if row.lesion_count is not None
    }
    cases = {
        row.submission_id: _cases(
            per_case[row.submission_id], volume=PREDICTED_VOLUME, count=PREDICTED_LESION_COUNT
        )
        for row in compared
    }
    volumes = {key: {row.case: row.volume_ml for row in rows} for key, rows in cases.items()}
    correlations = correlations_beside_reference(
        reference_volumes, volumes, clinical, samples=BIOMARKER_SAMPLES, seed=BIOMARKER_SEED
    )
    submissions = [
        SubmissionBiomarkers(
            submission=row,
            cases=cases[row.submission_id],
            volume_agreement=agreement_with_reference(reference_volumes, volumes[row.submission_id]),
            count_agreement=agreement_with_reference(
                reference_counts,
                {
                    case.case: float(case.lesion_count)
                    for case in cases[row.submission_id]
                    if case.lesion_count is not None
                },
            ),
            correlations=correlations[row.submission_id],
        )
        for row in compared
    ]
    return PhaseBiomarkers(
        reference=ReferenceBiomarkers(
            cases=reference,
            correlations=clinical_correlations(
                reference_volumes, clinical, samples=BIOMARKER_SAMPLES, seed=BIOMARKER_SEED
            ),
        ),
        submissions=submissions,
        clinical_labels=list(clinical),
    )


def _cases(
    metrics_by_case: Mapping[str, Mapping[str, float]], *, volume: str, count: str
) -> list[CaseBiomarkers]:
    """The cases whose result holds the volume, by name; the count where the result holds it."""
    return [
        CaseBiomarkers(
            case=case,
            volume_ml=float(metrics[volume]),
            lesion_count=int(metrics[count]) if count in metrics else None,
        )
        for case, metrics in sorted(metrics_by_case.items())
        if volume in metrics
    ]


def _reference_cases(results: Iterable[Mapping[str, Mapping[str, float]]]) -> list[CaseBiomarkers]:
    """The reference's values per case, from any compared result of the case (every result on the phase's
    ground-truth version stores the same reference volume and count); a result with the count wins."""
    merged: dict[str, Mapping[str, float]] = {}
    for by_case in results:
        for case, metrics in by_case.items():
            if case not in merged or REFERENCE_LESION_COUNT not in merged[case]:
                merged[case] = metrics
    return _cases(merged, volume=REFERENCE_VOLUME, count=REFERENCE_LESION_COUNT)


def _agreement_columns(prefix: str, agreement: Agreement) -> dict[str, object]:
    icc, limits = agreement.icc, agreement.bland_altman
    nan = float("nan")
    values = {
        "icc": icc.coefficient if icc is not None else nan,
        "icc_low": icc.interval[0] if icc is not None else nan,
        "icc_high": icc.interval[1] if icc is not None else nan,
        "bias": limits.bias if limits is not None else nan,
        "bias_low": limits.bias_interval[0] if limits is not None else nan,
        "bias_high": limits.bias_interval[1] if limits is not None else nan,
        "lower_limit": limits.lower_limit if limits is not None else nan,
        "upper_limit": limits.upper_limit if limits is not None else nan,
    }
    return {f"{prefix}{key}": finite_or_none(value) for key, value in values.items()}


def _correlation_columns(prefix: str, correlation: Correlation) -> dict[str, object]:
    return {
        f"{prefix}rho": finite_or_none(correlation.coefficient),
        f"{prefix}rho_low": finite_or_none(correlation.interval[0]),
        f"{prefix}rho_high": finite_or_none(correlation.interval[1]),
        f"{prefix}pairs": correlation.pairs,
    }


def correlation_plot_svg(*, result: PhaseBiomarkers, label: str, shown: int) -> str:
    """The reference's correlation of its volume with ``label`` and each submission's (the first
    ``shown``) as a dot plot with their intervals (``evaluation.plots.correlation_dot_plot_svg``), an
    SVG document whose text is escaped."""
    rows = [
        _interval_row(REFERENCE_NAME, result.reference.correlations.get(label), is_reference=True),
        *(
            _interval_row(
                submission.submission.name,
                beside.correlation if (beside := submission.correlations.get(label)) is not None else None,
            )
            for submission in result.submissions[:shown]
        ),
    ]
    return plots.correlation_dot_plot_svg(
        title=f"Lesion volume vs {label}: Spearman rho with 95% intervals",
        rows=rows,
        value_label=f"Spearman rho with {label}",
    )


def _interval_row(
    name: str, correlation: Correlation | None, *, is_reference: bool = False
) -> plots.IntervalRow:
    if correlation is None:
        return plots.IntervalRow(name, math.nan, (math.nan, math.nan), f"{name}: too few cases", is_reference)
    low, high = correlation.interval
    tip = f"{name}: rho = {correlation.coefficient:.3f} ({low:.3f} to {high:.3f}), n = {correlation.pairs}"
    return plots.IntervalRow(name, correlation.coefficient, correlation.interval, tip, is_reference)
