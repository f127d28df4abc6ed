"""An ensemble's report: everything the portal knows of one ensemble of submissions, on one page an
organizer can put in a paper's supplement (DeepISLES's workflow, issue 20).

``ensemble_report`` reads, and computes nothing the pages below compute differently: the members' and the
ensemble's scores and the paired test are ``leaderboards.ensembles.ensemble_comparison``'s (one per
leaderboard column, as the ensemble's page shows them), the split by case attributes is
``leaderboards.subgroups``'s, the biomarkers ``leaderboards.biomarkers``'s and the reader studies'
verdicts ``readerstudies.selectors.reader_study_results``; each only for the ensemble and its members.
What it adds is the interval of each mean score (a bootstrap over the cases, as the subgroup means have
theirs) and the external validation: the members' re-runs on the challenge's validation phases
(``algorithms.validation``) and the ensembles there that fuse those re-runs with the same rule in the
same order.

The report is the organizers' (as the ensemble's page is): it holds per-case results of hidden test
cases and the correlations with follow-up outcomes, so the caller checks that the user is an organizer
of the challenge before calling it.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evaluation.preference import PreferenceRate, StudyResults
from evaluation.subgroups import subgroup_means
from portal.algorithms.models import AlgorithmImage, ValidationRun
from portal.challenges.models import Phase
from portal.leaderboards import biomarkers, ensembles, selectors, services, subgroups
from portal.leaderboards.biomarkers import PhaseBiomarkers
from portal.leaderboards.ensembles import BestMemberTest, EnsembleComparison
from portal.leaderboards.models import Ensemble, EnsembleMember
from portal.leaderboards.selectors import ComparedSubmission
from portal.leaderboards.subgroups import SubgroupSplit
from portal.readerstudies.models import MaskSource, ReaderStudy
from portal.readerstudies.selectors import reader_study_results
from portal.submissions.models import Submission

SCORE_SAMPLES = subgroups.SUBGROUP_SAMPLES
SCORE_SEED = subgroups.SUBGROUP_SEED
"""The bootstrap of a mean score's interval: as many resamples of the cases, from the same seed, as the
subgroup means take, so the report's intervals read alike."""


@dataclass(frozen=True)
class ReportMember:
    """One member of the ensemble: its submission (with team, creator and phase), who made it, the
    container image it ran (None for a member without a stored image) and, for a re-run on a validation
    phase, the submission it re-ran."""

    submission: Submission
    name: str
    image: AlgorithmImage | None
    rerun_of: int | None


@dataclass(frozen=True)
class MeanScore:
    """A submission's mean of one metric over its scored cases (the ensemble page's mean), with the
    bootstrap percentile interval of that mean (None without a scored case)."""

    submission_id: int
    label: str
    is_ensemble: bool
    mean: float | None
    interval: tuple[float, float] | None
    cases: int


@dataclass(frozen=True)
class MetricScores:
    """One leaderboard column: the ensemble's and each member's mean with its interval, and the paired
    Wilcoxon signed-rank test of the ensemble against its best member (None until it is scored)."""

    metric_key: str
    metric_label: str
    higher_is_better: bool
    scores: tuple[MeanScore, ...]
    test: BestMemberTest | None


@dataclass(frozen=True)
class Rerun:
    """A member's re-run on a validation phase: the run (its submission, original and skipped cases), the
    phase, its mean of each of the phase's leaderboard columns (label, mean) and its scored cases."""

    run: ValidationRun
    phase: Phase
    means: tuple[tuple[str, float | None], ...]
    scored_cases: int


@dataclass(frozen=True)
class ValidatedEnsemble:
    """An ensemble on a validation phase fusing the re-runs of this ensemble's members with its rule, in
    its member order, with its own scores and test against its best member (re-run)."""

    ensemble: Ensemble
    phase: Phase
    scores: tuple[MetricScores, ...]


@dataclass(frozen=True)
class StudyVerdict:
    """A reader study one of whose mask sources is the ensemble (or its validated counterpart): its
    results over every answer and the ensemble's source's preference rate among them."""

    study: ReaderStudy
    source_label: str
    results: StudyResults
    ensemble_rate: PreferenceRate


@dataclass(frozen=True)
class SubgroupSection:
    """The split of the phase's first ranked metric by each case attribute, for the ensemble and its
    members; ``why_none`` says in a sentence why there is no split (None when there is)."""

    splits: tuple[SubgroupSplit, ...]
    why_none: str | None


@dataclass(frozen=True)
class EnsembleReport:
    """Everything the report shows, section by section."""

    ensemble: Ensemble
    phase: Phase
    members: tuple[ReportMember, ...]
    missing_outputs: tuple[tuple[str, str], ...]
    """(case, sentence) for each case where a member had no usable output (counted as an empty mask)."""
    cases_fused: int
    scores: tuple[MetricScores, ...]
    reruns: tuple[Rerun, ...]
    validated_ensembles: tuple[ValidatedEnsemble, ...]
    subgroups: SubgroupSection
    biomarkers: PhaseBiomarkers
    studies: tuple[StudyVerdict, ...]
    samples: int
    seed: int
    """The bootstrap of the mean scores' intervals and the subgroup means: resamples and seed."""
    biomarker_samples: int
    """The bootstrap resamples of the clinical correlations' intervals."""


def ensemble_report(*, ensemble: Ensemble) -> EnsembleReport:
    """The report of ``ensemble`` (an organizer's, with its submission and phase). Reads only; the
    caller checks that the user is an organizer of the challenge."""
    phase = ensemble.submission.phase
    comparisons = _comparisons(ensemble=ensemble)
    labels = _rerun_labels(ensemble=ensemble)
    compared = _compared(comparison=comparisons[0], labels=labels)
    validated = _validated_ensembles(ensemble=ensemble)
    return EnsembleReport(
        ensemble=ensemble,
        phase=phase,
        members=_members(ensemble=ensemble),
        missing_outputs=tuple(
            (mask.case.name, note)
            for mask in ensemble.masks.select_related("case").order_by("case__name")
            for note in mask.notes
        ),
        cases_fused=ensemble.masks.count(),
        scores=tuple(_metric_scores(comparison, labels=labels) for comparison in comparisons),
        reruns=_reruns(ensemble=ensemble),
        validated_ensembles=validated,
        subgroups=_subgroups(phase=phase, compared=compared),
        biomarkers=biomarkers.compared_biomarkers(phase=phase, compared=compared, with_outcomes=True),
        studies=_studies(
            submission_ids=[ensemble.submission_id, *(row.ensemble.submission_id for row in validated)]
        ),
        samples=SCORE_SAMPLES,
        seed=SCORE_SEED,
        biomarker_samples=biomarkers.BIOMARKER_SAMPLES,
    )


def _comparisons(*, ensemble: Ensemble) -> list[EnsembleComparison]:
    """The ensemble page's comparison of every leaderboard column of its phase, in column order."""
    columns = services.leaderboard_columns_ensure(phase=ensemble.submission.phase)
    return [
        ensembles.ensemble_comparison(ensemble=ensemble, metric_key=column.metric_key) for column in columns
    ]


def _rerun_labels(*, ensemble: Ensemble) -> dict[int, str]:
    """How to name the ensemble's members that are re-runs (on a validation phase): by the team (or
    participant) of the submission re-run, not by the organizer who owns the re-run."""
    runs = ValidationRun.objects.filter(submission__ensemble_memberships__ensemble=ensemble).select_related(
        "original__team", "original__creator"
    )
    return {
        run.submission_id: f"{_submitter(run.original)} (re-run {run.submission_id} of {run.original_id})"
        for run in runs
    }


def _submitter(submission: Submission) -> str:
    return submission.team.name if submission.team is not None else submission.creator.username


def _metric_scores(comparison: EnsembleComparison, *, labels: Mapping[int, str]) -> MetricScores:
    """Each column of the comparison (the ensemble first, then the members in order) with its mean and
    the mean's interval over the cases it has a finite value for; a member named in ``labels`` is
    labelled so."""
    scores = []
    for index, column in enumerate(comparison.columns):
        values = {
            row.case_name: value
            for row in comparison.rows
            if (value := row.values[index]) is not None and math.isfinite(value)
        }
        scores.append(
            MeanScore(
                submission_id=column.submission_id,
                label=labels.get(column.submission_id, column.label),
                is_ensemble=column.is_ensemble,
                mean=column.mean,
                interval=_mean_interval(values),
                cases=len(values),
            )
        )
    scores.sort(key=lambda score: not score.is_ensemble)
    return MetricScores(
        metric_key=comparison.metric_key,
        metric_label=comparison.metric_label,
        higher_is_better=comparison.higher_is_better,
        scores=tuple(scores),
        test=comparison.test,
    )


def _mean_interval(values: Mapping[str, float]) -> tuple[float, float] | None:
    """The bootstrap percentile interval of the mean of ``values`` (case -> value): the subgroup means'
    bootstrap with every case in one subgroup."""
    if not values:
        return None
    (everything,) = subgroup_means(
        values, dict.fromkeys(values, "all cases"), samples=SCORE_SAMPLES, seed=SCORE_SEED
    )
    return everything.interval


def _members(*, ensemble: Ensemble) -> tuple[ReportMember, ...]:
    members = ensembles.ensemble_members(ensemble=ensemble)
    ids = [member.pk for member in members]
    images = {image.submission_id: image for image in AlgorithmImage.objects.filter(submission_id__in=ids)}
    originals = dict(
        ValidationRun.objects.filter(submission_id__in=ids).values_list("submission_id", "original_id")
    )
    return tuple(
        ReportMember(
            submission=member,
            name=_submitter(member),
            image=images.get(member.pk),
            rerun_of=originals.get(member.pk),
        )
        for member in members
    )


def _compared(*, comparison: EnsembleComparison, labels: Mapping[int, str]) -> list[ComparedSubmission]:
    """The ensemble, then its members, as the results pages' splits and biomarkers compare them."""
    compared = [
        ComparedSubmission(
            submission_id=column.submission_id,
            name=selectors.ensemble_name(submission_id=column.submission_id)
            if column.is_ensemble
            else labels.get(column.submission_id, column.label),
            rank=None,
            is_ensemble=column.is_ensemble,
        )
        for column in comparison.columns
    ]
    compared.sort(key=lambda row: not row.is_ensemble)
    return compared


def _reruns(*, ensemble: Ensemble) -> tuple[Rerun, ...]:
    """The members' re-runs on validation phases, by member order, newest first for one member."""
    member_ids = ensembles.ensemble_member_ids(ensemble=ensemble)
    runs = sorted(
        ValidationRun.objects.filter(original_id__in=member_ids).select_related(
            "submission__phase", "original__team", "original__creator"
        ),
        key=lambda run: member_ids.index(run.original_id),
    )
    result = []
    for run in runs:
        phase = run.submission.phase
        columns = services.leaderboard_columns_ensure(phase=phase)
        result.append(
            Rerun(
                run=run,
                phase=phase,
                means=tuple(
                    (column.label, run.submission.metrics_mean.get(column.metric_key)) for column in columns
                ),
                scored_cases=run.submission.case_results.filter(
                    ground_truth_version=phase.ground_truth_version
                ).count(),
            )
        )
    return tuple(result)


def _validated_ensembles(*, ensemble: Ensemble) -> tuple[ValidatedEnsemble, ...]:
    """The ensembles on the challenge's validation phases whose members are re-runs of this ensemble's
    members, in its order, fused with its rule: the ensemble validated on external data."""
    phase = ensemble.submission.phase
    member_ids = ensembles.ensemble_member_ids(ensemble=ensemble)
    rows = (
        EnsembleMember.objects.filter(
            ensemble__submission__phase__challenge_id=phase.challenge_id,
            ensemble__submission__phase__is_validation=True,
            ensemble__rule=ensemble.rule,
        )
        .exclude(ensemble=ensemble)
        .order_by("ensemble_id", "position")
        .values_list("ensemble_id", "submission__validation_run__original_id")
    )
    originals: dict[int, list[int | None]] = {}
    for ensemble_id, original_id in rows:
        originals.setdefault(ensemble_id, []).append(original_id)
    matching = [pk for pk, ids in originals.items() if ids == member_ids]
    found = Ensemble.objects.filter(pk__in=matching).select_related("submission__phase__challenge")
    return tuple(
        _validated_ensemble(ensemble=validated)
        for validated in found.order_by("submission__phase__title", "-submission__created_at")
    )


def _validated_ensemble(*, ensemble: Ensemble) -> ValidatedEnsemble:
    labels = _rerun_labels(ensemble=ensemble)
    return ValidatedEnsemble(
        ensemble=ensemble,
        phase=ensemble.submission.phase,
        scores=tuple(
            _metric_scores(comparison, labels=labels) for comparison in _comparisons(ensemble=ensemble)
        ),
    )


def _subgroups(*, phase: Phase, compared: Sequence[ComparedSubmission]) -> SubgroupSection:
    """The split by every case attribute of the phase's first ranked metric (the results pages'
    default), for ``compared``."""
    choices = subgroups.leaderboard_split_choices(phase=phase)
    if not choices.attributes:
        return SubgroupSection(
            splits=(),
            why_none="The phase's cases have no attribute to split by: upload a table of them (centre, "
            "scanner) on the challenge's data page, or import reference masks for the lesion volume bins.",
        )
    if not choices.metrics:
        return SubgroupSection(
            splits=(),
            why_none="The phase's leaderboard has not been ranked yet, so there is no metric to split.",
        )
    per_case = selectors.compared_case_metrics(phase=phase, compared=compared)
    metric = next(iter(choices.metrics))
    return SubgroupSection(
        splits=tuple(
            subgroups.compared_subgroup_split(
                per_case=per_case, compared=compared, attribute=attribute, metric=metric, choices=choices
            )
            for attribute in choices.attributes
        ),
        why_none=None,
    )


def _studies(*, submission_ids: Sequence[int]) -> tuple[StudyVerdict, ...]:
    """Every reader study with one of the submissions ``submission_ids`` (the ensemble and its validated
    counterparts) among its mask sources, oldest first, with its results over every answer."""
    sources = (
        MaskSource.objects.filter(submission_id__in=submission_ids)
        .select_related("study")
        .order_by("study__created_at", "study_id", "position")
    )
    verdicts = []
    for source in sources:
        results = reader_study_results(study=source.study)
        verdicts.append(
            StudyVerdict(
                study=source.study,
                source_label=source.label,
                results=results,
                ensemble_rate=next(rate for rate in results.preference if rate.source == source.label),
            )
        )
    return tuple(verdicts)
