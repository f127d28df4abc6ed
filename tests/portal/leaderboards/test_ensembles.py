"""Ensembles of submissions: an organizer fuses three algorithm submissions' stored outputs, the ensemble
is scored like a submission, listed on the leaderboard unranked (or ranked), compared with its members, and
compared with the reference in a reader study.

The members' outputs are real small NIfTI masks stored as their jobs' segmentations; the members are scored
by the real evaluation step, so every number on the pages comes from the same code as in production.
"""

import datetime
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from scipy.stats import wilcoxon

from evaluation.fusion import majority_vote, staple
from evaluation.io import read_mask
from evaluation.profiles import profile_with_volumes
from evaluation.scoring import score_case
from portal.challenges.models import Split
from portal.leaderboards import ensembles
from portal.leaderboards.models import Ensemble, EnsembleMask, LeaderboardEntry
from portal.readerstudies import services as study_services
from portal.readerstudies.models import BlindedMask
from portal.steps.services import steps_sweep
from portal.submissions.models import CaseResult, Submission
from portal.submissions.services import submission_requeue
from tests.portal.accounts.factories import UserFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.leaderboards.ensemble_world import (
    CASES,
    MEMBERS,
    REFERENCE,
    SHAPE_XYZ,
    EnsembleWorld,
    OnCommit,
    ensemble_built,
    ensemble_world_make,
    mask_array,
    nifti,
)


@pytest.fixture
def world(db: None, django_capture_on_commit_callbacks: OnCommit) -> EnsembleWorld:
    return ensemble_world_make(capture=django_capture_on_commit_callbacks)


@pytest.fixture
def built(world: EnsembleWorld, django_capture_on_commit_callbacks: OnCommit) -> Ensemble:
    return ensemble_built(world=world, capture=django_capture_on_commit_callbacks)


def _stored_masks(ensemble: Ensemble) -> Iterator[tuple[str, np.ndarray, EnsembleMask]]:
    for mask in ensemble.masks.select_related("case"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "mask.nii.gz"
            path.write_bytes(mask.file.read())
            yield mask.case.name, read_mask(path).array, mask


def _member_masks(case_index: int) -> list[np.ndarray]:
    return [
        mask_array(boxes[case_index])
        if case_index < len(boxes)
        else np.zeros(tuple(reversed(SHAPE_XYZ)), np.uint8)
        for boxes in MEMBERS.values()
    ]


def test_ensemble_masks_are_the_voxel_wise_majority_of_the_members_stored_outputs(
    world: EnsembleWorld, built: Ensemble
) -> None:
    assert built.build_status == Ensemble.BuildStatus.SUCCEEDED
    stored = {name: (array, row) for name, array, row in _stored_masks(built)}

    assert sorted(stored) == list(CASES)
    for index, name in enumerate(CASES):
        expected = majority_vote(_member_masks(index))
        assert np.array_equal(stored[name][0], expected), name
    # Gamma had no output for the last case: it counted as empty there, and the case says so.
    assert stored[CASES[2]][1].members_without_output == [world.members["Gamma"].pk]
    assert stored[CASES[0]][1].members_without_output == []
    assert "has no output for this case" in stored[CASES[2]][1].notes[0]


def test_ensemble_is_scored_like_any_submission_on_its_fused_masks(
    world: EnsembleWorld, built: Ensemble
) -> None:
    submission = built.submission
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SUCCEEDED
    assert submission.kind == Submission.Kind.ENSEMBLE
    assert submission.creator == world.organizer
    assert submission.team is None
    profile = profile_with_volumes(name=world.phase.metric_profile)
    for name, array, _row in _stored_masks(built):
        with tempfile.TemporaryDirectory() as folder:
            truth, prediction = Path(folder) / "truth.nii.gz", Path(folder) / "prediction.nii.gz"
            truth.write_bytes(nifti(mask_array(REFERENCE)))
            prediction.write_bytes(nifti(array.astype(np.uint8)))
            expected = score_case(
                profile=profile, case_id=name, ground_truth_path=truth, prediction_path=prediction
            )
        result = CaseResult.objects.get(submission=submission, case__name=name)
        assert result.metrics == pytest.approx(dict(expected.metrics))


def test_staple_ensemble_stores_staple_masks(
    world: EnsembleWorld, django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ensemble = ensembles.ensemble_create(
            phase=world.phase,
            user=world.organizer,
            members=[member.pk for member in world.members.values()],
            rule="staple",
        )
    ensemble.refresh_from_db()
    stored = {name: array for name, array, _row in _stored_masks(ensemble)}
    for index, name in enumerate(CASES):
        assert np.array_equal(stored[name], staple(_member_masks(index)).mask), name


def test_ensemble_build_run_again_changes_nothing(world: EnsembleWorld, built: Ensemble) -> None:
    before = list(built.masks.values_list("pk", "file"))

    ensembles.ensemble_build(ensemble_id=built.pk)

    built.refresh_from_db()
    assert built.build_status == Ensemble.BuildStatus.SUCCEEDED
    assert list(built.masks.values_list("pk", "file")) == before


def test_ensemble_build_of_a_failed_ensemble_returns_quietly(world: EnsembleWorld, built: Ensemble) -> None:
    Ensemble.objects.filter(pk=built.pk).update(build_status=Ensemble.BuildStatus.FAILED)

    ensembles.ensemble_build(ensemble_id=built.pk)

    built.refresh_from_db()
    assert built.build_status == Ensemble.BuildStatus.FAILED
    assert built.attempt == 1


@pytest.mark.parametrize(
    ("members", "sentence"),
    [
        (lambda world, other: [world.members["Alpha"].pk], "at least 2 member submissions"),
        (lambda world, other: [world.members["Alpha"].pk, other.pk], "was made to another phase"),
        (
            lambda world, other: [world.members["Alpha"].pk, world.members["Alpha"].pk],
            "named twice",
        ),
        (lambda world, other: [world.members["Alpha"].pk, 987654], "There is no submission 987654"),
    ],
    ids=["one member", "another phase", "twice", "unknown"],
)
def test_ensemble_create_refuses_bad_members_with_a_sentence(
    world: EnsembleWorld, members: Callable[[EnsembleWorld, Submission], list[int]], sentence: str
) -> None:
    other_phase = PhaseFactory(challenge=world.phase.challenge, dataset=world.phase.dataset)
    other = Submission.objects.create(
        phase=other_phase,
        creator=world.participant,
        kind=Submission.Kind.ALGORITHM,
        sha256="1" * 64,
        size_bytes=1,
        status=Submission.Status.SUCCEEDED,
    )

    with pytest.raises(ensembles.EnsembleRefused, match=sentence):
        ensembles.ensemble_create(
            phase=world.phase, user=world.organizer, members=members(world, other), rule="majority_vote"
        )
    assert not Submission.objects.filter(kind=Submission.Kind.ENSEMBLE).exists()


def test_ensemble_create_refuses_a_predictions_member_and_one_not_succeeded(world: EnsembleWorld) -> None:
    alpha = world.members["Alpha"]
    predictions = Submission.objects.create(
        phase=world.phase,
        creator=world.participant,
        kind=Submission.Kind.PREDICTIONS,
        sha256="2" * 64,
        size_bytes=1,
        status=Submission.Status.SUCCEEDED,
    )
    with pytest.raises(ensembles.EnsembleRefused, match="is an archive of predicted masks, not an algorithm"):
        ensembles.ensemble_create(
            phase=world.phase, user=world.organizer, members=[alpha.pk, predictions.pk], rule="majority_vote"
        )
    Submission.objects.filter(pk=world.members["Beta"].pk).update(status=Submission.Status.FAILED)
    with pytest.raises(ensembles.EnsembleRefused, match="is failed; only a submission that succeeded"):
        ensembles.ensemble_create(
            phase=world.phase,
            user=world.organizer,
            members=[alpha.pk, world.members["Beta"].pk],
            rule="majority_vote",
        )
    with pytest.raises(ensembles.EnsembleRefused, match="no fusion rule 'mean'"):
        ensembles.ensemble_create(
            phase=world.phase,
            user=world.organizer,
            members=[alpha.pk, world.members["Gamma"].pk],
            rule="mean",
        )


def test_only_an_organizer_builds_an_ensemble(world: EnsembleWorld) -> None:
    with pytest.raises(PermissionDenied):
        ensembles.ensemble_create(
            phase=world.phase,
            user=world.participant,
            members=[member.pk for member in world.members.values()],
            rule="majority_vote",
        )


def test_leaderboard_lists_the_ensemble_unranked_until_an_organizer_ranks_it(
    world: EnsembleWorld,
    built: Ensemble,
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> None:
    ranked = set(LeaderboardEntry.objects.filter(phase=world.phase).values_list("submission_id", flat=True))
    assert ranked == {member.pk for member in world.members.values()}
    page = world.client(world.participant).get(reverse("leaderboard-detail", args=[world.phase.slug]))
    assert "Ensembles (not ranked)" in page.text
    assert f"Ensemble (submission {built.submission_id})" in page.text

    with django_capture_on_commit_callbacks(execute=True):
        response = world.client(world.organizer).post(
            reverse("ensemble-ranking", args=[world.phase.slug, built.pk]), {"is_ranked": "on"}
        )

    assert response.status_code == 302
    entry = LeaderboardEntry.objects.get(phase=world.phase, submission=built.submission)
    assert entry.team is None
    assert entry.user is None
    page = world.client(world.participant).get(reverse("leaderboard-detail", args=[world.phase.slug]))
    assert "Ensembles (not ranked)" not in page.text
    assert f'<td class="rank">{entry.rank}</td>' in page.text
    api = world.client(world.participant).get(f"/api/phases/{world.phase.slug}/leaderboard/").json()
    assert {row["team"] for row in api["results"]} == {
        "Alpha",
        "Beta",
        "Gamma",
        f"Ensemble (submission {built.submission_id})",
    }


def test_ensemble_page_shows_members_and_ensemble_side_by_side_with_the_paired_test(
    world: EnsembleWorld, built: Ensemble
) -> None:
    comparison = ensembles.ensemble_comparison(ensemble=built, metric_key="dice")
    dice = {
        column.submission_id: [row.values[index] for row in comparison.rows]
        for index, column in enumerate(comparison.columns)
    }
    best = max(world.members.values(), key=lambda member: np.mean(dice[member.pk]))
    assert comparison.test is not None
    assert comparison.test.best_member == best.pk
    expected = wilcoxon(dice[built.submission_id], dice[best.pk])
    assert comparison.test.p_value == pytest.approx(expected.pvalue)
    assert comparison.rows[2].members_without_output == (world.members["Gamma"].pk,)

    page = world.client(world.organizer).get(reverse("ensemble-detail", args=[world.phase.slug, built.pk]))

    assert page.status_code == 200
    assert f"best member (submission {best.pk}" in page.text
    assert "Wilcoxon signed-rank test on 3 paired cases" in page.text
    assert f"{CASES[2]}: Submission {world.members['Gamma'].pk} has no output for this case" in page.text
    for name in ("Alpha", "Beta", "Gamma"):
        assert f"{name} ({world.members[name].pk})" in page.text


def test_ensemble_form_ticks_the_top_three_and_refuses_one_member_with_a_sentence(
    world: EnsembleWorld,
) -> None:
    client = world.client(world.organizer)
    url = reverse("ensemble-create", args=[world.phase.slug])

    form = client.get(url)
    assert form.status_code == 200
    assert form.text.count("checked") == 3
    refused = client.post(url, {"members": [world.members["Alpha"].pk], "rule": "majority_vote"})
    assert refused.status_code == 400
    assert "An ensemble needs at least 2 member submissions; pick 2 or more." in refused.text
    assert world.client(world.participant).get(url).status_code == 403


def test_api_builds_the_top_three_and_answers_bad_input_with_a_sentence(
    world: EnsembleWorld, django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]]
) -> None:
    client = world.client(world.organizer)
    url = f"/api/phases/{world.phase.slug}/ensembles/"

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(url, {"top": 3, "rule": "majority_vote"}, content_type="application/json")

    assert created.status_code == 201, created.content
    assert sorted(created.json()["members"]) == sorted(member.pk for member in world.members.values())
    detail = client.get(f"/api/ensembles/{created.json()['id']}/").json()
    assert detail["status"] == "SUCCEEDED"
    assert detail["build_status"] == "SUCCEEDED"
    assert detail["cases"][2]["members_without_output"] == [world.members["Gamma"].pk]
    assert detail["best_member_test"]["metric"] == "dice"
    refused = client.post(url, {"members": [world.members["Alpha"].pk]}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json() == {
        "code": "too_few_members",
        "detail": "An ensemble needs at least 2 member submissions; pick 2 or more.",
    }
    assert (
        world.client(world.participant).post(url, {"top": 3}, content_type="application/json").status_code
        == 403
    )


def test_reader_study_compares_the_ensemble_with_the_reference(
    world: EnsembleWorld,
    built: Ensemble,
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> None:
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
    assert study.status == study.Status.READY, study.error
    stored = {name: array for name, array, _row in _stored_masks(built)}
    blinded = BlindedMask.objects.filter(source__submission=built.submission).select_related(
        "study_case__case"
    )
    assert blinded.count() == len(CASES)
    for mask in blinded:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "blinded.nii.gz"
            path.write_bytes(mask.file.read())
            assert np.array_equal(read_mask(path).array, stored[mask.study_case.case.name])


def test_the_ensembles_submission_pages_open_for_its_organizer(world: EnsembleWorld, built: Ensemble) -> None:
    client = world.client(world.organizer)

    page = client.get(reverse("submission-detail", args=[built.submission_id]))
    listing = client.get(reverse("phase-submissions", args=[world.phase.slug]))
    api = client.get(f"/api/submissions/{built.submission_id}/")

    assert page.status_code == 200
    assert "An ensemble of submissions, built by an organizer" in page.text
    assert reverse("ensemble-detail", args=[world.phase.slug, built.pk]) in page.text
    assert "Select as final" not in page.text
    assert listing.status_code == 200
    assert api.status_code == 200


def test_the_reader_study_form_offers_the_ensemble_named_as_one(
    world: EnsembleWorld, built: Ensemble
) -> None:
    page = world.client(world.organizer).get(reverse("readerstudy-create", args=[world.phase.challenge.slug]))

    assert f"organizer, ensemble submission {built.submission_id} to {world.phase.title}" in page.text


def _queued_ensemble(world: EnsembleWorld) -> Ensemble:
    """An ensemble whose build message was never delivered (its commit's callbacks are not run)."""
    return ensembles.ensemble_create(
        phase=world.phase,
        user=world.organizer,
        members=[member.pk for member in world.members.values()],
        rule="majority_vote",
    )


def test_the_sweeper_builds_an_ensemble_whose_worker_died(
    world: EnsembleWorld, django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]]
) -> None:
    ensemble = _queued_ensemble(world)
    Ensemble.objects.filter(pk=ensemble.pk).update(
        build_status=Ensemble.BuildStatus.RUNNING,
        attempt=1,
        claimed_by="a dead host pid 1 claim x",
        heartbeat_at=timezone.now() - datetime.timedelta(hours=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        report = steps_sweep()

    assert f"ensemble build {ensemble.pk}" in report.requeued
    ensemble.refresh_from_db()
    assert ensemble.build_status == Ensemble.BuildStatus.SUCCEEDED
    assert ensemble.attempt == 2
    assert ensemble.masks.count() == len(CASES)
    assert Submission.objects.get(pk=ensemble.submission_id).status == Submission.Status.SUCCEEDED


def test_an_organizer_requeues_an_ensemble_whose_build_message_was_lost(
    world: EnsembleWorld, django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]]
) -> None:
    ensemble = _queued_ensemble(world)

    with django_capture_on_commit_callbacks(execute=True):
        submission_requeue(submission_id=ensemble.submission_id, user=world.organizer)

    ensemble.refresh_from_db()
    assert ensemble.build_status == Ensemble.BuildStatus.SUCCEEDED
    submission = Submission.objects.get(pk=ensemble.submission_id)
    assert submission.status == Submission.Status.SUCCEEDED
    assert submission.state_changes.filter(note__startswith="1 unfinished job(s) queued again").exists()


def test_the_admin_shows_an_ensemble_read_only(world: EnsembleWorld, built: Ensemble) -> None:
    admin = world.client(UserFactory(username="admin", is_staff=True, is_superuser=True))

    listing = admin.get(reverse("admin:leaderboards_ensemble_changelist"))
    change = admin.get(reverse("admin:leaderboards_ensemble_change", args=[built.pk]))

    assert listing.status_code == 200
    assert change.status_code == 200
    assert "Majority vote" in change.text
    assert admin.get(reverse("admin:leaderboards_ensemble_add")).status_code == 403
