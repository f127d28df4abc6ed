"""An ensemble's report, on the ensemble tests' world (three teams' algorithm submissions whose jobs stored
real masks, scored by the evaluation, and their majority vote built and scored): the page shows what the
ensemble's page and the evaluation computed, says plainly when a section has nothing, shows the external
validation and the reader study once there are some, and its HTML export needs nothing outside itself.
"""

from html.parser import HTMLParser

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from evaluation.stats import wilson_interval
from portal.accounts.models import ChallengeRole, User
from portal.algorithms.models import ValidationRun
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.leaderboards import ensembles
from portal.leaderboards.models import Ensemble, EnsembleMember
from portal.organizers.ensemble_report import ensemble_report
from portal.readerstudies import services as study_services
from portal.readerstudies.models import ReaderStudy, StudyReader
from portal.submissions.models import CaseResult, Submission
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory
from tests.portal.leaderboards.ensemble_world import (
    CASES,
    EnsembleWorld,
    OnCommit,
    ensemble_built,
    ensemble_world_make,
)

CENTRES = {CASES[0]: "TUM", CASES[1]: "TUM", CASES[2]: "Zurich"}
NIHSS = {CASES[0]: 4, CASES[1]: 9, CASES[2]: 15}
VALIDATION_CASES = ("sub-centre2-0001", "sub-centre2-0002")
SKIPPED = (
    "Case sub-centre2-0003 has no non-contrast-ct, which the containers read: it was not run, nor scored."
)


@pytest.fixture
def world(db: None, django_capture_on_commit_callbacks: OnCommit) -> EnsembleWorld:
    """The ensemble tests' world, its cases with a centre (as an uploaded table sets it) and an NIHSS."""
    made = ensemble_world_make(capture=django_capture_on_commit_callbacks)
    for case in made.cases:
        case.attributes = {"centre": CENTRES[case.name]}
        case.admission_data = {"demographic_baseline": {"nihss_admission": NIHSS[case.name]}}
        case.save(update_fields=["attributes", "admission_data"])
    return made


@pytest.fixture
def built(world: EnsembleWorld, django_capture_on_commit_callbacks: OnCommit) -> Ensemble:
    return ensemble_built(world=world, capture=django_capture_on_commit_callbacks)


def _url(ensemble: Ensemble, name: str = "ensemble-report") -> str:
    return reverse(name, args=[ensemble.submission.phase.slug, ensemble.pk])


def _page(world: EnsembleWorld, ensemble: Ensemble) -> str:
    """The report page's text, each run of white space as one space (as a browser shows it)."""
    response = world.client(world.organizer).get(_url(ensemble))
    assert response.status_code == 200
    return " ".join(response.text.split())


def test_report_shows_the_members_the_rule_and_the_ensemble_pages_scores_with_intervals(
    world: EnsembleWorld, built: Ensemble
) -> None:
    report = ensemble_report(ensemble=built)
    page = _page(world, built)

    for name, member in world.members.items():
        assert f"<td>{name}</td>" in page
        assert f"<td>{member.pk}</td>" in page
    assert (
        "majority vote, voxel by voxel: a voxel is lesion where more than half of the 3 members mark it"
        in page
    )
    gamma = world.members["Gamma"].pk
    assert f"{CASES[2]}: Submission {gamma} has no output for this case; it counted as an empty mask." in page
    assert [metric.metric_key for metric in report.scores][:2] == ["dice", "absolute_volume_difference_ml"]
    for metric in report.scores:
        comparison = ensembles.ensemble_comparison(ensemble=built, metric_key=metric.metric_key)
        ensemble_score = metric.scores[0]
        assert ensemble_score.is_ensemble
        assert ensemble_score.mean == comparison.columns[-1].mean
        assert metric.test == comparison.test
        assert {score.label: score.mean for score in metric.scores} == {
            column.label: column.mean for column in comparison.columns
        }
    dice = report.scores[0].scores[0]
    stored = [
        result.metrics["dice"]
        for result in CaseResult.objects.filter(submission=built.submission).order_by("case__name")
    ]
    assert dice.mean == pytest.approx(np.mean(stored))
    assert dice.cases == len(CASES)
    assert dice.interval is not None
    assert min(stored) <= dice.interval[0] <= dice.mean <= dice.interval[1] <= max(stored)
    assert f'<td class="number">{dice.mean:.3f}</td>' in page
    assert f"{dice.interval[0]:.3f} to {dice.interval[1]:.3f}" in page
    test = report.scores[0].test
    assert test is not None
    assert f"Ensemble against its best member (submission {test.best_member}): Wilcoxon signed-rank" in page
    assert "95 % percentile interval from 1000 bootstrap resamples of those" in page
    # The ensemble page links to the report.
    detail = world.client(world.organizer).get(reverse("ensemble-detail", args=[world.phase.slug, built.pk]))
    assert _url(built) in detail.text


def test_report_says_plainly_when_there_is_no_external_validation_nor_reader_study(
    world: EnsembleWorld, built: Ensemble
) -> None:
    page = _page(world, built)

    assert "There is no external validation of this ensemble: none of its members has been re-run" in page
    assert "No reader study compares this ensemble's masks: there is no reader-study verdict yet." in page


def test_report_splits_the_ensemble_and_its_members_by_centre_with_the_test(
    world: EnsembleWorld, built: Ensemble
) -> None:
    report = ensemble_report(ensemble=built)
    page = _page(world, built)

    (centre,) = [split for split in report.subgroups.splits if split.attribute == "centre"]
    assert centre.metric == "dice"
    ensemble_row = centre.submissions[0]
    assert ensemble_row.submission.submission_id == built.submission_id
    dice = {
        result.case.name: result.metrics["dice"]
        for result in CaseResult.objects.filter(submission=built.submission).select_related("case")
    }
    by_hand = {
        centre_name: np.mean([dice[case] for case, where in CENTRES.items() if where == centre_name])
        for centre_name in ("TUM", "Zurich")
    }
    assert {group.subgroup: group.mean for group in ensemble_row.subgroups} == pytest.approx(by_hand)
    assert ensemble_row.test.test == "mann-whitney" or (
        ensemble_row.test.test is None and len(set(dice.values())) == 1
    )
    assert [row.submission.submission_id for row in centre.submissions] == [
        built.submission_id,
        *(member.pk for member in world.members.values()),
    ]
    assert "Dice by centre" in page
    # A forest plot per compared submission and attribute, inline.
    assert page.count('class="plot forest-plot"') == len(report.subgroups.splits) * (len(world.members) + 1)


def test_report_shows_the_biomarkers_beside_the_reference(world: EnsembleWorld, built: Ensemble) -> None:
    report = ensemble_report(ensemble=built)
    page = _page(world, built)

    assert report.biomarkers.clinical_labels == ["NIHSS at admission"]
    ensemble_row = report.biomarkers.submissions[0]
    assert ensemble_row.submission.is_ensemble
    assert ensemble_row.volume_agreement.cases == len(CASES)
    assert "\u03c1 with NIHSS at admission" in page  # rho
    assert "ICC(A,1) (two-way random effects, absolute agreement, single" in page
    assert 'class="plot bland-altman-plot"' in page
    assert 'class="plot correlation-plot"' in page


def _validated(world: EnsembleWorld, built: Ensemble) -> tuple[Phase, list[ValidationRun], Ensemble]:
    """A validation phase of the challenge on a second centre's cases, where the organizer re-ran two
    members (a third case lacked an input) and fused the re-runs with the ensemble's rule and order."""
    phase = PhaseFactory(
        challenge=world.phase.challenge,
        slug="external-validation",
        title="External validation",
        submission_kind=Phase.SubmissionKind.ALGORITHM,
        split=Split.TEST,
        is_validation=True,
    )
    cases = [CaseFactory(dataset=phase.dataset, name=name, split=Split.TEST) for name in VALIDATION_CASES]

    def scored(kind: str, dice: tuple[float, float]) -> Submission:
        submission = Submission.objects.create(
            phase=phase,
            creator=world.organizer,
            kind=kind,
            sha256=kind.lower().ljust(64, "0"),
            size_bytes=1,
            status=Submission.Status.SUCCEEDED,
            metrics_mean={"dice": float(np.mean(dice))},
        )
        for case, value in zip(cases, dice, strict=True):
            CaseResult.objects.create(submission=submission, case=case, metrics={"dice": value})
        return submission

    runs = [
        ValidationRun.objects.create(
            submission=scored(Submission.Kind.RERUN, dice),
            original=world.members[name],
            skipped_cases=[SKIPPED],
        )
        for name, dice in (("Alpha", (0.6, 0.8)), ("Beta", (0.4, 0.5)), ("Gamma", (0.2, 0.3)))
    ]
    validated = Ensemble.objects.create(
        submission=scored(Submission.Kind.ENSEMBLE, (0.7, 0.9)),
        rule=built.rule,
        build_status=Ensemble.BuildStatus.SUCCEEDED,
    )
    EnsembleMember.objects.bulk_create(
        EnsembleMember(ensemble=validated, submission_id=run.submission_id, position=position)
        for position, run in enumerate(runs)
    )
    return phase, runs, validated


def test_report_shows_the_members_reruns_and_the_validated_ensemble(
    world: EnsembleWorld, built: Ensemble
) -> None:
    phase, runs, validated = _validated(world, built)
    # An ensemble of the same re-runs in another order is another ensemble, not this one validated.
    other = Ensemble.objects.create(
        submission=Submission.objects.create(
            phase=phase,
            creator=world.organizer,
            kind=Submission.Kind.ENSEMBLE,
            sha256="9" * 64,
            size_bytes=0,
            status=Submission.Status.SUCCEEDED,
        ),
        rule=built.rule,
    )
    EnsembleMember.objects.bulk_create(
        EnsembleMember(ensemble=other, submission_id=run.submission_id, position=position)
        for position, run in enumerate(reversed(runs))
    )

    report = ensemble_report(ensemble=built)
    page = _page(world, built)

    assert [rerun.run.pk for rerun in report.reruns] == [run.pk for run in runs]
    assert [row.ensemble.pk for row in report.validated_ensembles] == [validated.pk]
    (dice,) = [metric for metric in report.validated_ensembles[0].scores if metric.metric_key == "dice"]
    assert dice.scores[0].mean == pytest.approx(0.8)
    assert dice.scores[0].cases == len(VALIDATION_CASES)
    assert "There is no external validation" not in page
    assert SKIPPED in page
    assert f"Alpha ({world.members['Alpha'].pk})" in page
    assert f"The ensemble on External validation (submission {validated.submission_id})" in page
    assert "Its masks: built; the submission: succeeded." in page
    assert "Dice 0.700" in page  # Alpha's re-run's mean
    # The validated ensemble's members are named by the teams whose submissions were re-run.
    assert f"<td>Alpha (re-run {runs[0].submission_id} of {world.members['Alpha'].pk})</td>" in page
    # The validated ensemble's own report says what it is.
    own = _page(world, validated)
    assert "This ensemble is itself an external validation: External validation is a validation phase" in own
    assert f"{runs[0].submission_id} (re-run of submission {world.members['Alpha'].pk})" in own
    assert "There is no external validation" not in own


def _reader_study(
    world: EnsembleWorld, built: Ensemble, django_capture_on_commit_callbacks: OnCommit
) -> ReaderStudy:
    """The ensemble against the reference, read by one expert who prefers the ensemble on two cases and
    has no preference on the third."""
    with django_capture_on_commit_callbacks(execute=True):
        study = study_services.reader_study_create(
            created_by=world.organizer,
            challenge=world.phase.challenge,
            dataset=world.phase.dataset,
            split=Split.TEST,
            title="Ensemble against the reference",
            sources=[study_services.REFERENCE, built.submission],
        )
    study.refresh_from_db()
    assert study.status == ReaderStudy.Status.READY, study.error
    expert = ChallengeRoleFactory(
        challenge=world.phase.challenge, role=ChallengeRole.Role.READER, user__username="expert"
    ).user
    reader = study_services.study_reader_invite(study=study, user=expert, invited_by=world.organizer)
    ensemble_source = study.sources.get(submission=built.submission)
    for item in StudyReader.objects.get(pk=reader.pk).items.select_related("study_case__case"):
        if item.study_case.case.name == CASES[2]:
            preference = "NONE"
        else:
            preference = "A" if item.source_a_id == ensemble_source.pk else "B"
        study_services.reading_item_answer(user=expert, item_token=item.token, preference=preference)
    return study


def test_report_shows_the_reader_studys_verdict_on_the_ensemble(
    world: EnsembleWorld, built: Ensemble, django_capture_on_commit_callbacks: OnCommit
) -> None:
    study = _reader_study(world, built, django_capture_on_commit_callbacks)

    report = ensemble_report(ensemble=built)
    page = _page(world, built)

    (verdict,) = report.studies
    assert verdict.study == study
    rate = verdict.ensemble_rate
    assert (rate.wins, rate.losses, rate.ties, rate.rate) == (2, 0, 1, 1.0)
    assert rate.interval == pytest.approx(wilson_interval(2, 2))
    assert "No reader study compares" not in page
    assert "Ensemble against the reference" in page
    assert "Readers preferred the ensemble's mask in 2 of 2 comparisons with a preference" in page
    assert f"95 % interval {rate.interval[0]:.3f} to {rate.interval[1]:.3f}" in page
    assert "Fleiss' kappa: not defined" in page  # one reader


class _References(HTMLParser):
    """Every element and every attribute that can make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if (
                name in ("src", "href", "srcset", "poster", "data", "action", "xlink:href")
                and value is not None
            ):
                self.references.append(value)


def test_html_export_is_one_self_contained_file_with_a_print_stylesheet(
    world: EnsembleWorld, built: Ensemble, django_capture_on_commit_callbacks: OnCommit
) -> None:
    _validated(world, built)
    _reader_study(world, built, django_capture_on_commit_callbacks)

    response = world.client(world.organizer).get(_url(built, "ensemble-report-export"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{world.phase.slug}-ensemble-{built.pk}-report.html"'
    )
    document = " ".join(response.content.decode().split())
    parser = _References()
    parser.feed(document)
    assert parser.references, "the contents' links to the sections are there"
    assert all(reference.startswith(("#", "data:")) for reference in parser.references), parser.references
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parser.tags)
    assert "@import" not in document
    assert "url(" not in document
    assert "@media print" in document
    assert parser.tags.count("svg") >= len(world.members) + 1
    # The same report as the page: members, scores, validation, reader study.
    page = _page(world, built)
    for text in (
        f"<td>{world.members['Gamma'].pk}</td>",
        SKIPPED,
        "Ensemble against the reference",
        "Dice by centre",
    ):
        assert text in document
        assert text in page
    assert _url(built, "ensemble-report-export") in page
    assert "Save as PDF" in page


def _other_challenges_organizer() -> User:
    other = ChallengeFactory(slug="other", title="Other challenge")
    return ChallengeRoleFactory(
        challenge=other, role=ChallengeRole.Role.ORGANIZER, user__username="elsewhere"
    ).user


@pytest.mark.parametrize("name", ["ensemble-report", "ensemble-report-export"])
def test_only_the_challenges_organizers_read_the_report(
    world: EnsembleWorld, built: Ensemble, name: str
) -> None:
    url = _url(built, name)

    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("account_login"))
    assert world.client(world.participant).get(url).status_code == 403
    assert world.client(_other_challenges_organizer()).get(url).status_code == 403
    other_phase = PhaseFactory(challenge=world.phase.challenge, dataset=world.phase.dataset, slug="training")
    assert (
        world.client(world.organizer).get(reverse(name, args=[other_phase.slug, built.pk])).status_code == 404
    )
    assert (
        world.client(world.organizer).get(reverse(name, args=[world.phase.slug, 987654])).status_code == 404
    )
    assert world.client(world.organizer).get(url).status_code == 200


def test_report_of_an_ensemble_not_built_yet_says_its_scores_follow(
    world: EnsembleWorld, django_capture_on_commit_callbacks: OnCommit
) -> None:
    ensemble = ensembles.ensemble_create(
        phase=world.phase,
        user=world.organizer,
        members=[member.pk for member in world.members.values()],
        rule="staple",
    )
    Case.objects.filter(dataset=world.phase.dataset).update(attributes={})

    page = _page(world, ensemble)
    report = ensemble_report(ensemble=ensemble)

    assert "STAPLE" in page
    assert "The paired test against the best member follows once the ensemble is scored." in page
    assert all(
        metric.scores[0].mean is None and metric.scores[0].interval is None for metric in report.scores
    )
    assert all(score.mean is not None for metric in report.scores for score in metric.scores[1:])
