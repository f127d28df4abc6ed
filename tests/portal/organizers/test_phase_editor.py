"""The phase editor as an organizer uses it: a predictions phase and an algorithm phase made through the
real form, a sentence for each value a rule refuses, a re-scoring or re-ranking change told (with its
count) before it is saved and run once confirmed, and the organizers of another challenge refused."""

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.forms import BooleanField
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, User
from portal.algorithms.models import AlgorithmSettings
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import Dataset, GroundTruth, GroundTruthVersion
from portal.datasets.services import ground_truth_version_create
from portal.leaderboards.models import LeaderboardColumn, LeaderboardEntry, LeaderboardSettings
from portal.submissions.models import CaseResult, GroundTruthSwitch, Rescoring, Submission
from portal.submissions.services import submission_create
from portal.submissions.tasks import submission_check_task, submission_evaluate_task
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory
from tests.portal.submissions.conftest import (
    CASE_NAMES,
    SHAPE,
    SPACING_MM,
    good_masks,
    mask_bytes,
    upload,
    zip_bytes,
)

ISLES22_IMAGES = ("dwi-brain-mri", "adc-brain-mri", "flair-brain-mri")


@dataclass(frozen=True)
class World:
    challenge: Challenge
    dataset: Dataset
    organizer: User
    participant: User
    other_organizer: User


def _ground_truth(case_name: str, dataset: Dataset) -> None:
    content = mask_bytes()
    GroundTruth.objects.create(
        case=dataset.cases.get(name=case_name),
        file=ContentFile(content, name="mask.nii.gz"),
        sha256="0" * 64,
        shape=list(SHAPE),
        spacing_mm=list(SPACING_MM),
        lesion_volume_ml=8 * 0.5 * 0.5 * 2.0 / 1000,
        source_encoding="uint8 {0, 1}",
    )


@pytest.fixture
def world(db: None) -> World:
    """A challenge whose dataset holds two hidden test cases (an NCCT and the ISLES'22 images each, and
    ground-truth version 1), its organizer and a participant, and the organizer of another challenge."""
    challenge = ChallengeFactory(slug="stroke-2027", title="Stroke 2027")
    dataset = DatasetFactory(challenge=challenge, slug="release")
    for name in CASE_NAMES:
        case = CaseFactory(dataset=dataset, name=name, split=Split.TEST)
        for interface in ("non-contrast-ct", *ISLES22_IMAGES):
            ImageFactory(case=case, interface=interface, shape=list(SHAPE), spacing_mm=list(SPACING_MM))
        _ground_truth(name, dataset)
    GroundTruthVersion.objects.create(dataset=dataset, number=1, source=GroundTruthVersion.Source.IMPORT)
    role = ChallengeRole.Role
    return World(
        challenge=challenge,
        dataset=dataset,
        organizer=ChallengeRoleFactory(challenge=challenge, role=role.ORGANIZER).user,
        participant=ChallengeRoleFactory(challenge=challenge, role=role.PARTICIPANT).user,
        other_organizer=ChallengeRoleFactory(challenge=ChallengeFactory(), role=role.ORGANIZER).user,
    )


def _client(user: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _as_submitted(response: HttpResponse) -> dict[str, str]:
    """What the browser sends when the page's form is submitted unchanged."""
    forms = response.context["forms"]
    data: dict[str, str] = {}
    for form in (
        forms.phase,
        forms.leaderboard,
        forms.sandbox,
        forms.columns.management_form,
        *forms.columns,
    ):
        for bound in form:
            value = bound.value()
            if isinstance(bound.field, BooleanField):
                if value:
                    data[bound.html_name] = "on"
            elif value is not None:
                data[bound.html_name] = str(value)
    return data


def _text(response: HttpResponse) -> str:
    """The page as a reader sees its words: tags (and the long list of time zones) dropped, entities
    decoded, spaces collapsed."""
    page = re.sub(r"<select[^>]*time_zone.*?</select>", " ", response.content.decode(), flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _new_phase_form(client: Client, world: World, **changes: str) -> dict[str, str]:
    data = _as_submitted(client.get(reverse("organizer-phase-create", args=[world.challenge.slug])))
    data |= {
        "title": "Preliminary",
        "slug": "preliminary-2027",
        "time_zone": "Europe/Berlin",
        "opens_at": "2027-01-10T09:00",
        "closes_at": "2027-03-01T18:00",
        "team_freeze_at": "2027-02-15T12:00",
        "daily_submission_limit": "3",
        "total_submission_limit": "12",
        "dataset": str(world.dataset.pk),
        "split": "TEST",
        "ground_truth_version": "1",
    }
    return data | changes


def _create(client: Client, world: World, data: dict[str, str]) -> HttpResponse:
    return client.post(reverse("organizer-phase-create", args=[world.challenge.slug]), data)


def test_an_organizer_creates_a_predictions_phase_with_its_leaderboard(world: World) -> None:
    client = _client(world.organizer)
    data = _new_phase_form(client, world)
    data |= {"columns-1-role": "shown", "columns-2-DELETE": "on", "columns-3-label": "F1 of lesions"}
    data |= {"ranking_method": "aggregate_then_rank", "counted_submission": "SELECTED"}

    response = _create(client, world, data)

    assert response.status_code == 302, _text(response)
    phase = Phase.objects.get(slug="preliminary-2027")
    assert response["Location"] == reverse("organizer-phase-edit", args=[world.challenge.slug, phase.slug])
    assert (phase.challenge, phase.submission_kind, phase.dataset, phase.split) == (
        world.challenge,
        Phase.SubmissionKind.PREDICTIONS,
        world.dataset,
        Split.TEST,
    )
    # 09:00 in Berlin in January is 08:00 UTC.
    assert f"{phase.opens_at:%Y-%m-%d %H:%M %Z}" == "2027-01-10 08:00 UTC"
    assert f"{phase.closes_at:%Y-%m-%d %H:%M}" == "2027-03-01 17:00"
    assert f"{phase.team_freeze_at:%Y-%m-%d %H:%M}" == "2027-02-15 11:00"
    assert (phase.daily_submission_limit, phase.total_submission_limit) == (3, 12)
    settings = LeaderboardSettings.objects.get(phase=phase)
    assert (settings.ranking_method, settings.counted_submission) == ("aggregate_then_rank", "SELECTED")
    columns = list(
        LeaderboardColumn.objects.filter(phase=phase).values_list("metric_key", "label", "in_ranking")
    )
    assert columns == [
        ("dice", "Dice", True),
        ("absolute_volume_difference_ml", "Absolute volume difference (ml)", False),
        ("lesion_f1", "F1 of lesions", True),
    ]
    assert not AlgorithmSettings.objects.filter(phase=phase).exists()
    page = _text(client.get(response["Location"]))
    assert "= 2027-01-10 08:00 UTC" in page
    assert "isles24: dice, absolute_volume_difference_ml, absolute_lesion_count_difference, lesion_f1" in page


def test_the_empty_column_row_as_a_browser_sends_it_adds_no_column(world: World) -> None:
    """A browser sends the empty row's selects on their first option; the row still adds nothing."""
    client = _client(world.organizer)
    data = _new_phase_form(client, world, **{"columns-4-direction": "higher", "columns-4-role": "ranked"})

    response = _create(client, world, data)

    assert response.status_code == 302, _text(response)
    phase = Phase.objects.get(slug="preliminary-2027")
    assert LeaderboardColumn.objects.filter(phase=phase).count() == 4


def test_the_page_shows_the_utc_time_of_what_was_typed(world: World) -> None:
    client = _client(world.organizer)
    data = _new_phase_form(client, world, time_zone="America/New_York", daily_submission_limit="0")

    page = _text(_create(client, world, data))

    # Refused for its limit, the page says what 09:00 in New York is in UTC.
    assert "= 2027-01-10 14:00 UTC" in page


def test_an_organizer_creates_an_algorithm_phase_with_its_sandbox(world: World) -> None:
    client = _client(world.organizer)
    data = _new_phase_form(client, world, submission_kind="ALGORITHM", slug="final-2027", title="Final")
    data |= {
        "interface_set": "isles22",
        "time_limit_s": "300",
        "memory_gb": "6",
        "cpus": "2",
        "pids": "128",
        "tmpfs_mb": "256",
        "output_max_mb": "64",
        "image_max_gb": "4",
        "logs_visible_to_participants": "on",
    }
    del data["gpu"]  # unticked: this algorithm runs on CPUs

    response = _create(client, world, data)

    assert response.status_code == 302, _text(response)
    phase = Phase.objects.get(slug="final-2027")
    assert phase.submission_kind == Phase.SubmissionKind.ALGORITHM
    sandbox = AlgorithmSettings.objects.get(phase=phase)
    assert (sandbox.interface_set, sandbox.time_limit_s, sandbox.memory_gb, sandbox.cpus) == (
        "isles22",
        300,
        6,
        2,
    )
    assert (sandbox.pids, sandbox.tmpfs_mb, sandbox.output_max_mb, sandbox.image_max_gb) == (128, 256, 64, 4)
    assert sandbox.logs_visible_to_participants is True
    assert sandbox.gpu is False


def test_an_organizer_creates_an_external_validation_phase_published_by_hand(world: World) -> None:
    client = _client(world.organizer)
    data = _new_phase_form(
        client, world, submission_kind="ALGORITHM", slug="second-centre", title="Second centre"
    )
    data |= {"interface_set": "isles22", "is_validation": "on", "publication": "MANUAL"}

    response = _create(client, world, data)

    assert response.status_code == 302, _text(response)
    phase = Phase.objects.get(slug="second-centre")
    assert phase.is_validation is True
    board = LeaderboardSettings.objects.get(phase=phase)
    assert (board.publication, board.is_published) == ("MANUAL", False)
    assert "External-validation phase" in _text(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        (
            {"closes_at": "2027-01-09T09:00"},
            "The phase closes (2027-01-09 08:00 UTC) before it opens (2027-01-10 08:00 UTC)",
        ),
        ({"daily_submission_limit": "0"}, "A team needs at least one submission a day: set 0 to 1 or more."),
        (
            {"total_submission_limit": "-2"},
            "A team needs at least one submission in total: set -2 to 1 or more.",
        ),
        (
            {"daily_submission_limit": "5", "total_submission_limit": "3"},
            "The daily limit (5) is above the total",
        ),
        (
            {"team_freeze_at": "2027-03-02T09:00"},
            "Teams would freeze (2027-03-02 08:00 UTC) after the phase closes",
        ),
        ({"upload_max_mb": "0"}, "An archive of at most 0 MB holds no masks: allow 1 MB or more."),
        ({"opens_at": "2027-03-28T02:30"}, "2027-03-28 02:30 does not exist in Europe/Berlin"),
        (
            {"ground_truth_version": "7"},
            "Dataset stroke-2027/release has no ground-truth version 7; pick one of its versions (1).",
        ),
        (
            {"split": "TRAIN"},
            "Dataset stroke-2027/release has no training cases, so the phase would score nothing",
        ),
        (
            {"columns-0-metric_key": "hausdorff_95"},
            "The isles24 metric profile produces no metric 'hausdorff_95'",
        ),
        ({"columns-1-metric_key": "dice"}, "Two columns show dice; keep one of them."),
        ({"slug": "has space"}, "'has space' cannot be a slug"),
        ({"title": " "}, "Give the phase a title participants will recognise."),
        (
            {"submission_kind": "ALGORITHM", "interface_set": "isles24"},
            "The isles24 interface set reads images that 2 case(s) of this phase lack (sub-stroke0100 has no "
            "ct-angiography, perfusion-ct,",
        ),
        (
            {"submission_kind": "ALGORITHM", "memory_gb": "0"},
            "A container needs memory to start: give it at least 0.1 GB.",
        ),
        ({"submission_kind": "ALGORITHM", "time_limit_s": "0"}, "A case needs at least 1 second to run"),
        (
            {"is_validation": "on", "publication": "AUTOMATIC"},
            "A validation phase's results are published only by an organizer: keep its publication manual.",
        ),
    ],
)
def test_each_refused_value_gets_its_sentence_and_nothing_is_saved(
    world: World, changes: dict[str, str], sentence: str
) -> None:
    client = _client(world.organizer)
    data = _new_phase_form(client, world, **changes)

    response = _create(client, world, data)

    assert response.status_code == 200
    assert sentence in _text(response)
    assert not Phase.objects.exists()
    assert not LeaderboardColumn.objects.exists()


def test_a_form_error_and_a_column_error_are_shown_together(world: World) -> None:
    client = _client(world.organizer)
    data = _new_phase_form(client, world, opens_at="next Monday", **{"columns-0-order": "-1"})

    response = _create(client, world, data)

    assert response.status_code == 200
    assert response.context["forms"].phase.errors["opens_at"] == ["Enter a valid date/time."]
    assert response.context["forms"].columns.forms[0].errors["order"]
    assert not Phase.objects.exists()


def test_every_column_shown_only_is_refused(world: World) -> None:
    client = _client(world.organizer)
    data = _new_phase_form(client, world, **{f"columns-{index}-role": "shown" for index in range(4)})

    response = _create(client, world, data)

    assert "The leaderboard ranks on no column: make at least one column ranked." in _text(response)
    assert not Phase.objects.exists()


def test_a_slug_taken_by_another_challenges_phase_is_refused(world: World) -> None:
    PhaseFactory(slug="preliminary-2027")
    client = _client(world.organizer)

    response = _create(client, world, _new_phase_form(client, world))

    assert "A phase called preliminary-2027 already exists" in _text(response)
    assert Phase.objects.count() == 1


# --- Editing a phase that has a scored submission ---------------------------------------------------------


@pytest.fixture
def scored(world: World, django_capture_on_commit_callbacks: Any) -> Submission:
    """A predictions phase of the world's dataset, opened yesterday, with one submission scored on
    version 1 (its masks equal the reference) and the leaderboard built from it."""
    phase = PhaseFactory(challenge=world.challenge, dataset=world.dataset, slug="training-2027")
    submission = submission_create(
        phase=phase, user=world.participant, upload=upload(zip_bytes(good_masks()))
    )
    with django_capture_on_commit_callbacks(execute=True):
        submission_check_task(submission_id=submission.pk)
        submission_evaluate_task(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SUCCEEDED
    assert LeaderboardEntry.objects.filter(phase=phase).count() == 1
    return submission


def _moved_lesion(folder: Path) -> Path:
    """A mask on the cases' grid whose lesion lies away from the corner the predictions mark."""
    voxels = np.zeros(tuple(reversed(SHAPE)), dtype=np.uint8)
    voxels[2:4, 3:5, 4:6] = 1
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(SPACING_MM)
    path = folder / "corrected.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def _edit_url(phase: Phase) -> str:
    return reverse("organizer-phase-edit", args=[phase.challenge.slug, phase.slug])


def test_the_edit_page_saves_an_unchanged_phase_without_asking(world: World, scored: Submission) -> None:
    client = _client(world.organizer)
    data = _as_submitted(client.get(_edit_url(scored.phase)))

    response = client.post(_edit_url(scored.phase), data | {"title": "Training (renamed)"})

    assert response.status_code == 302, _text(response)
    assert Phase.objects.get(pk=scored.phase_id).title == "Training (renamed)"
    assert not Rescoring.objects.exists()


def test_a_new_ground_truth_version_is_told_before_it_is_saved_then_rescores(
    world: World, scored: Submission, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    ground_truth_version_create(
        dataset=world.dataset,
        masks={"sub-stroke0100": _moved_lesion(tmp_path)},
        note="Corrected by a neuroradiologist",
        source=GroundTruthVersion.Source.UPLOAD,
        created_by=world.organizer,
    )
    client = _client(world.organizer)
    data = _as_submitted(client.get(_edit_url(scored.phase))) | {"ground_truth_version": "2"}

    asked = client.post(_edit_url(scored.phase), data)

    assert asked.status_code == 200
    assert "This re-scores 1 submission: the ground-truth version changes" in _text(asked)
    assert Phase.objects.get(pk=scored.phase_id).ground_truth_version == 1
    assert not Rescoring.objects.exists()
    assert not GroundTruthSwitch.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(_edit_url(scored.phase), data | {"confirm": "on"})

    assert confirmed.status_code == 302, _text(confirmed)
    assert Phase.objects.get(pk=scored.phase_id).ground_truth_version == 2
    rescoring = Rescoring.objects.get()
    assert (rescoring.status, rescoring.ground_truth_version, rescoring.submissions_rescored) == (
        Rescoring.Status.SUCCEEDED,
        2,
        1,
    )
    scored.refresh_from_db()
    assert scored.metrics_mean["dice"] == pytest.approx(0.5)
    entry = LeaderboardEntry.objects.get(phase=scored.phase)
    assert entry.metrics["dice"]["mean"] == pytest.approx(0.5)


def test_a_new_metric_profile_replaces_the_scores_after_confirming(
    world: World, scored: Submission, django_capture_on_commit_callbacks: Any
) -> None:
    client = _client(world.organizer)
    data = _as_submitted(client.get(_edit_url(scored.phase))) | {"metric_profile": "isles22"}

    asked = client.post(_edit_url(scored.phase), data)
    assert "This re-scores 1 submission: the metric profile changes" in _text(asked)
    before = set(CaseResult.objects.values_list("pk", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(_edit_url(scored.phase), data | {"confirm": "on"})

    assert Phase.objects.get(pk=scored.phase_id).metric_profile == "isles22"
    assert Rescoring.objects.get().status == Rescoring.Status.SUCCEEDED
    after = set(CaseResult.objects.values_list("pk", flat=True))
    assert len(after) == 2  # every case scored again under the new profile
    assert not after & before


def test_a_new_profile_waits_for_a_submission_being_scored(world: World, scored: Submission) -> None:
    Submission.objects.filter(pk=scored.pk).update(status=Submission.Status.EVALUATING)
    client = _client(world.organizer)
    data = _as_submitted(client.get(_edit_url(scored.phase))) | {"metric_profile": "isles22", "confirm": "on"}

    response = client.post(_edit_url(scored.phase), data)

    assert (
        "1 submission of this phase is being scored right now; change what the phase is scored on in a "
        "minute, once the scoring is done."
    ) in _text(response)
    assert Phase.objects.get(pk=scored.phase_id).metric_profile == "isles24"
    assert CaseResult.objects.filter(submission=scored).count() == 2


def test_a_new_ranking_method_is_told_with_the_entries_it_reranks(
    world: World, scored: Submission, django_capture_on_commit_callbacks: Any
) -> None:
    client = _client(world.organizer)
    data = _as_submitted(client.get(_edit_url(scored.phase))) | {"ranking_method": "aggregate_then_rank"}

    asked = client.post(_edit_url(scored.phase), data)

    assert "This re-ranks the leaderboard's 1 entry: the ranking method changes." in _text(asked)
    assert LeaderboardSettings.objects.get(phase=scored.phase).ranking_method == "rank_then_aggregate"
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(_edit_url(scored.phase), data | {"confirm": "on"})
    assert confirmed.status_code == 302
    assert LeaderboardSettings.objects.get(phase=scored.phase).ranking_method == "aggregate_then_rank"


def test_the_kind_of_a_phase_with_submissions_cannot_change(world: World, scored: Submission) -> None:
    client = _client(world.organizer)
    data = _as_submitted(client.get(_edit_url(scored.phase))) | {"submission_kind": "ALGORITHM"}

    response = client.post(_edit_url(scored.phase), data)

    assert response.status_code == 200
    assert (
        "This phase already has 1 submission of predicted masks (archive), so it cannot take algorithm "
        "container instead: create another phase for them."
    ) in _text(response)
    assert Phase.objects.get(pk=scored.phase_id).submission_kind == Phase.SubmissionKind.PREDICTIONS


# --- Who may open the editor -----------------------------------------------------------------------------


def test_an_organizer_of_another_challenge_is_refused(world: World, scored: Submission) -> None:
    client = _client(world.other_organizer)
    create_url = reverse("organizer-phase-create", args=[world.challenge.slug])
    data = _as_submitted(_client(world.organizer).get(_edit_url(scored.phase))) | {"title": "Taken over"}

    assert client.get(create_url).status_code == 403
    assert client.post(create_url, _new_phase_form(_client(world.organizer), world)).status_code == 403
    assert client.get(_edit_url(scored.phase)).status_code == 403
    assert client.post(_edit_url(scored.phase), data).status_code == 403
    assert Phase.objects.get(pk=scored.phase_id).title == "Preliminary"
    assert Phase.objects.count() == 1


def test_a_phase_is_edited_only_under_its_own_challenge(world: World) -> None:
    elsewhere = PhaseFactory(slug="elsewhere")
    client = _client(world.organizer)

    url = reverse("organizer-phase-edit", args=[world.challenge.slug, elsewhere.slug])

    assert client.get(url).status_code == 404
