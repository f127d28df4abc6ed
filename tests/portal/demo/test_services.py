"""The demo challenge that ``make demo`` builds: data, phases, users, and safe to build twice."""

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, TeamMembership, User
from portal.algorithms.selectors import algorithm_settings_get
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, CaseAttributeTable, GroundTruth, Image
from portal.datasets.selectors import data_terms_consent_to_reruns
from portal.demo.baseline import BASELINE_IMAGE, BASELINE_USERNAME, BASELINE_VARIANTS, DemoBaseline
from portal.demo.services import (
    DEMO_CHALLENGE_SLUG,
    DEMO_FINAL_PHASE_SLUG,
    DEMO_VALIDATION_PHASE_SLUG,
    Demo,
    DemoBaselineFailed,
    DemoEnsembleImpossible,
    demo_ensemble_create,
    demo_ensemble_members_register,
    demo_setup,
    demo_study_create,
)
from portal.leaderboards.models import Ensemble
from portal.submissions.models import Submission
from tests.portal.submissions.review_world import submission_create

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One VAR_DIR for the module: the synthetic releases are written once and reused, as on a re-run."""
    return tmp_path_factory.mktemp("demo-var")


def test_demo_setup_builds_a_challenge_with_hidden_test_cases_two_phases_a_validation_and_three_accounts(
    var_dir: Path,
) -> None:
    demo = demo_setup(var_dir=var_dir)

    assert demo.challenge.slug == DEMO_CHALLENGE_SLUG
    assert demo.cases_per_split == {Split.TRAIN: 8, Split.TEST: 4}
    assert GroundTruth.objects.filter(case__split=Split.TEST, case__dataset__slug="isles24").count() == 4
    phases = {phase.submission_kind: phase for phase in demo.challenge.phases.filter(is_validation=False)}
    assert set(phases) == {Phase.SubmissionKind.PREDICTIONS, Phase.SubmissionKind.ALGORITHM}
    assert all(phase.is_open and phase.split == Split.TEST for phase in phases.values())
    # The external-validation phase: a second, smaller synthetic release of two cases with their masks.
    validation = demo.challenge.phases.get(is_validation=True)
    assert (validation.slug, validation.submission_kind) == (DEMO_VALIDATION_PHASE_SLUG, "ALGORITHM")
    assert validation.dataset != phases[Phase.SubmissionKind.ALGORITHM].dataset
    assert GroundTruth.objects.filter(case__dataset=validation.dataset, case__split=Split.TEST).count() == 2
    # The baseline team consents to re-runs there; the demo participant has still to accept the terms.
    consents = {
        username: data_terms_consent_to_reruns(
            user_id=User.objects.get(username=username).pk, challenge=demo.challenge.pk
        )
        for username in (BASELINE_USERNAME, "participant")
    }
    assert consents == {BASELINE_USERNAME: True, "participant": False}
    roles = {user.username: user.role for user in demo.users}
    assert roles == {
        "organizer": ChallengeRole.Role.ORGANIZER,
        "participant": ChallengeRole.Role.PARTICIPANT,
        "reader": ChallengeRole.Role.READER,
    }
    membership = TeamMembership.objects.select_related("team__captain").get(
        user__username="participant", challenge=demo.challenge
    )
    assert membership.team.captain == membership.user


def test_demo_cases_alternate_between_two_centres_from_one_uploaded_table(var_dir: Path) -> None:
    demo_setup(var_dir=var_dir)
    demo = demo_setup(var_dir=var_dir)

    centres = [
        case.attributes.get("centre")
        for case in Case.objects.filter(dataset__challenge=demo.challenge, dataset__slug="isles24")
    ]
    assert sorted(set(centres)) == ["TUM", "Zurich"]
    assert abs(centres.count("TUM") - centres.count("Zurich")) <= 1
    tables = CaseAttributeTable.objects.filter(dataset__challenge=demo.challenge)
    assert [(table.original_name, table.status) for table in tables] == [("demo-centres.csv", "APPLIED")]


def test_demo_setup_starts_a_pre_annotated_campaign_of_two_hidden_cases_for_the_reader_and_organizer(
    var_dir: Path,
) -> None:
    demo = demo_setup(var_dir=var_dir)
    again = demo_setup(var_dir=var_dir)

    campaign = demo.campaign
    assert again.campaign == campaign
    assert campaign.starting_mask == AnnotationCampaign.StartingMask.PRE_ANNOTATION
    cases = campaign.campaign_cases.select_related("case")
    assert [case.case.split for case in cases] == [Split.TEST, Split.TEST]
    annotators = AnnotationAssignment.objects.filter(campaign_case__campaign=campaign)
    assert sorted(annotators.values_list("annotator__username", flat=True)) == [
        "organizer",
        "organizer",
        "reader",
        "reader",
    ]


@pytest.mark.integration
def test_demo_setup_submits_the_threshold_reference_algorithm_as_a_baseline_team_once(
    var_dir: Path, docker_client: object
) -> None:
    first = demo_setup(var_dir=var_dir)
    second = demo_setup(var_dir=var_dir)

    baseline = first.baseline.submission
    assert baseline is not None, first.baseline.note
    assert second.baseline.submission == baseline
    assert baseline.phase.slug == DEMO_FINAL_PHASE_SLUG
    assert (baseline.kind, baseline.team.name) == ("ALGORITHM", "Baseline: threshold (Tmax > 6 s)")
    assert baseline.algorithm_image.size_bytes > 0
    assert algorithm_settings_get(phase=baseline.phase).logs_visible_to_participants


def test_demo_accounts_log_in_with_the_printed_password_and_api_token(var_dir: Path) -> None:
    demo = demo_setup(var_dir=var_dir)

    for user in demo.users:
        assert Client().login(username=user.username, password=user.password), user.username
        assert len(user.api_token) == 40


def test_the_demo_organizer_runs_the_challenge_from_its_pages_and_a_separate_site_admin_has_the_admin(
    var_dir: Path,
) -> None:
    demo = demo_setup(var_dir=var_dir)
    organizer = next(user for user in demo.users if user.role == ChallengeRole.Role.ORGANIZER)
    client = Client()
    assert client.login(username=organizer.username, password=organizer.password)

    assert not User.objects.get(username=organizer.username).is_superuser
    assert client.get(reverse("organizer-dashboard", args=[DEMO_CHALLENGE_SLUG])).status_code == 200
    assert client.get(reverse("organizer-challenge-create")).status_code == 200
    assert client.get("/admin/")["Location"].startswith(reverse("admin:login"))

    admin = Client()
    assert admin.login(username=demo.site_admin.username, password=demo.site_admin.password)
    assert admin.get("/admin/").status_code == 200
    assert not ChallengeRole.objects.filter(user__username=demo.site_admin.username).exists()


def _row_counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Case, Image, GroundTruth, Phase))


def test_demo_setup_run_twice_keeps_the_same_rows_and_passwords(var_dir: Path) -> None:
    first = demo_setup(var_dir=var_dir)
    counts = _row_counts()

    second = demo_setup(var_dir=var_dir)

    assert _row_counts() == counts
    assert second.users == first.users
    saved = json.loads((var_dir / "demo-credentials.json").read_text())
    assert saved == {
        **{user.username: user.password for user in first.users},
        first.site_admin.username: first.site_admin.password,
    }
    assert second.site_admin == first.site_admin
    assert (var_dir / "demo-credentials.json").stat().st_mode & 0o077 == 0


def test_demo_command_setup_only_prints_each_account_with_its_token(var_dir: Path, settings, capsys) -> None:
    settings.VAR_DIR = var_dir

    call_command("demo", "--setup-only")

    printed = capsys.readouterr().out
    demo = demo_setup(var_dir=var_dir)
    for user in demo.users:
        assert f"{user.password}  {user.api_token}" in printed
    assert f"siteadmin    {demo.site_admin.password}  (for " in printed
    assert "8 train, 4 test cases" in printed


def test_demo_study_create_says_why_there_is_no_study_when_the_baseline_failed(var_dir: Path) -> None:
    demo = demo_setup(var_dir=var_dir)
    organizer = next(user for user in demo.users if user.role == ChallengeRole.Role.ORGANIZER)
    failed = submission_create(
        demo.challenge.phases.get(slug=DEMO_FINAL_PHASE_SLUG),
        User.objects.get(username=organizer.username),
        {},
        status=Submission.Status.FAILED,
    )
    Submission.objects.filter(pk=failed.pk).update(
        error="The sanity case failed: the container exited with 1."
    )
    demo = replace(demo, baseline=DemoBaseline(submission=failed, note="submitted"))

    with pytest.raises(DemoBaselineFailed) as failure:
        demo_study_create(demo=demo)

    assert str(failure.value) == (
        f"The baseline submission {failed.pk} ended failed (The sanity case failed: the container exited "
        "with 1.), so the demo has no reader study."
    )
    assert failure.value.submission_id == failed.pk


def _baselines(demo: Demo, statuses: list[str]) -> tuple[Demo, tuple[DemoBaseline, ...]]:
    """The demo with three algorithm submissions of the final phase in ``statuses`` as its baseline and
    the baseline's two variants (made directly: how the worker runs them is tested apart)."""
    phase = demo.challenge.phases.get(slug=DEMO_FINAL_PHASE_SLUG)
    participant = User.objects.get(username="participant")
    runs = [submission_create(phase, participant, {}, status=status) for status in statuses]
    Submission.objects.filter(pk__in=[run.pk for run in runs]).update(kind=Submission.Kind.ALGORITHM)
    baselines = [DemoBaseline(submission=run, note="submitted") for run in runs]
    return replace(demo, baseline=baselines[0]), tuple(baselines[1:])


def test_demo_ensemble_is_the_organizers_majority_vote_of_the_three_baselines_once_all_have_run(
    var_dir: Path,
) -> None:
    demo, variants = _baselines(demo_setup(var_dir=var_dir), ["SUCCEEDED", "SUCCEEDED", "EVALUATING"])

    assert demo_ensemble_create(demo=demo, variants=variants) is None  # one still runs
    Submission.objects.filter(pk=variants[1].submission.pk).update(status=Submission.Status.SUCCEEDED)
    ensemble = demo_ensemble_create(demo=demo, variants=variants)
    again = demo_ensemble_create(demo=demo, variants=variants)

    assert ensemble is not None
    assert again == ensemble
    members = [demo.baseline.submission.pk, *(variant.submission.pk for variant in variants)]
    assert list(ensemble.memberships.order_by("position").values_list("submission", flat=True)) == members
    assert ensemble.rule == Ensemble.Rule.MAJORITY_VOTE
    assert (ensemble.submission.creator.username, ensemble.is_ranked) == ("organizer", False)


def test_demo_ensemble_says_why_there_is_none_when_fewer_than_two_baselines_succeeded(var_dir: Path) -> None:
    demo, variants = _baselines(demo_setup(var_dir=var_dir), ["SUCCEEDED", "FAILED", "CANCELLED"])

    with pytest.raises(DemoEnsembleImpossible) as impossible:
        demo_ensemble_create(demo=demo, variants=variants)

    assert str(impossible.value) == (
        "1 of the demo's 3 baselines succeeded, so there is no ensemble to build; the organizer can build "
        "one from the leaderboard once two algorithms have run."
    )
    assert not Ensemble.objects.exists()


@pytest.mark.integration
def test_demo_ensemble_members_run_on_an_image_of_todays_threshold_code_even_after_an_older_demo(
    var_dir: Path, docker_client
) -> None:
    demo = demo_setup(var_dir=var_dir)
    today = docker_client.images.get(BASELINE_IMAGE).id
    # An earlier demo's image of older code: here, one whose entrypoint knows none of the variants' flags.
    stale, _ = docker_client.images.build(
        fileobj=io.BytesIO(f'FROM {BASELINE_IMAGE}\nENTRYPOINT ["false"]\n'.encode()),
        tag=BASELINE_IMAGE,
        rm=True,
    )
    assert stale.id != today

    try:
        variants = demo_ensemble_members_register(demo=demo, say=print)
    finally:
        docker_client.images.remove(stale.id, force=True)  # untagged by then, unless the rebuild failed

    assert docker_client.images.get(BASELINE_IMAGE).id == today
    for variant, registered in zip(BASELINE_VARIANTS, variants, strict=True):
        image = docker_client.images.get(variant.image)
        assert registered.submission is not None, registered.note
        assert registered.submission.team.name == variant.team_name
        assert image.attrs["Config"]["Cmd"] == list(variant.arguments)
        assert image.attrs["Config"]["Entrypoint"] == ["python3", "-m", "inference.reference.threshold"]
    assert demo_ensemble_members_register(demo=demo, say=print) == variants  # once
