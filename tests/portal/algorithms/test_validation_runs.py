"""External validation without a Docker engine: an organizer re-runs a participant's scored algorithm
submission on a validation phase (another dataset of the challenge, one of whose cases lacks an input),
on ``inference.runtime.FakeRuntime``; the re-run's jobs, its skipped case, its scores and the validation
phase's own leaderboard, and every refusal's sentence.

``django_capture_on_commit_callbacks`` runs each next step that a step queues after its commit, in this
process, as the worker would.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from evaluation.io import read_mask
from inference.runtime import FakeRuntime
from portal.accounts.models import ChallengeRole
from portal.algorithms.models import AlgorithmImage, AlgorithmSettings, ValidationRun
from portal.algorithms.validation import RerunRefused, validation_reruns_create
from portal.challenges.models import Phase, Split
from portal.datasets.models import DataCard
from portal.datasets.services import data_terms_accept
from portal.leaderboards.ensembles import (
    EnsembleRefused,
    ensemble_build,
    ensemble_create,
    ensemble_member_ids,
)
from portal.leaderboards.models import Ensemble, LeaderboardEntry, LeaderboardSettings
from portal.leaderboards.services import leaderboard_settings_get
from portal.organizers.ensemble_report import ensemble_report
from portal.organizers.services import ensemble_validate
from portal.steps.services import steps_sweep
from portal.submissions.exceptions import SubmissionRefused
from portal.submissions.models import Submission
from portal.submissions.services import submission_refusal_check, submission_stop
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.algorithms.conftest import (
    INPUTS,
    AlgorithmPhase,
    FakeEngine,
    archive_upload,
    case_ground_truth_add,
    copy_dwi,
)
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory
from tests.portal.submissions.conftest import SHAPE, SPACING_MM

Status = Submission.Status
SECOND_CENTRE = ("sub-centre2-0001", "sub-centre2-0002")
WITHOUT_FLAIR = "sub-centre2-0003"


def first_slices(input_folder: Path, output_folder: Path) -> None:
    """Another algorithm: the DWI's voxels above zero in the first half of its slices."""
    source = next((input_folder / "images" / "dwi-brain-mri").glob("*.mha"))
    image = sitk.ReadImage(str(source))
    voxels = (sitk.GetArrayFromImage(image) > 0).astype(np.uint8)
    voxels[voxels.shape[0] // 2 :] = 0
    mask = sitk.GetImageFromArray(voxels)
    mask.CopyInformation(image)
    target = output_folder / "images" / "stroke-lesion-segmentation" / "output.mha"
    target.parent.mkdir(parents=True)
    sitk.WriteImage(mask, str(target))


@dataclass(frozen=True)
class Validation:
    phase: Phase
    original: Submission


@pytest.fixture
def validation(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> Validation:
    """The participant's scored copy-the-DWI algorithm, their consent to re-runs, and a validation phase
    on a second centre's dataset: two complete cases and one without its FLAIR."""
    challenge = algorithm_phase.phase.challenge
    DataCard.objects.create(challenge=challenge, licence="CC BY-NC 4.0", terms="For research only.")
    data_terms_accept(user=algorithm_phase.participant, challenge=challenge, consents_to_reruns=True)
    client = algorithm_phase.client_for(algorithm_phase.participant)
    with django_capture_on_commit_callbacks(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=fake_engine.image(copy_dwi))
    original = Submission.objects.get(pk=body["submission"])
    assert original.status == Status.SUCCEEDED, original.error
    phase = PhaseFactory(
        challenge=challenge,
        dataset=DatasetFactory(challenge=challenge, slug="second-centre"),
        slug="external-validation",
        title="External validation",
        submission_kind=Phase.SubmissionKind.ALGORITHM,
        split=Split.TEST,
        is_validation=True,
    )
    AlgorithmSettings.objects.create(
        phase=phase, interface_set=AlgorithmSettings.InterfaceSetName.ISLES22, time_limit_s=20
    )
    for name in (*SECOND_CENTRE, WITHOUT_FLAIR):
        case = CaseFactory(dataset=phase.dataset, name=name, split=Split.TEST)
        for interface in INPUTS:
            if not (name == WITHOUT_FLAIR and interface == "flair-brain-mri"):
                ImageFactory(
                    case=case, interface=interface, shape=list(SHAPE), spacing_mm=list(SPACING_MM), fill=3
                )
        case_ground_truth_add(case)
    return Validation(phase=phase, original=original)


def test_a_rerun_runs_the_original_image_on_the_validation_cases_and_is_scored_apart(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    runs_before = len(fake_engine.runtime.runs)
    with django_capture_on_commit_callbacks(execute=True):
        (run,) = validation_reruns_create(
            phase=validation.phase, user=algorithm_phase.organizer, submissions=[validation.original.pk]
        )
    rerun = Submission.objects.get(pk=run.submission_id)

    assert rerun.status == Status.SUCCEEDED, rerun.error
    assert (rerun.kind, rerun.creator, rerun.team) == (Submission.Kind.RERUN, algorithm_phase.organizer, None)
    # The image is the original's archive, not a new upload.
    image = AlgorithmImage.objects.get(submission=rerun)
    original_image = validation.original.algorithm_image
    assert (image.file.name, image.image_id) == (original_image.file.name, original_image.image_id)
    assert rerun.file.name == validation.original.file.name
    jobs = [(job.case.name, job.is_sanity, job.status) for job in rerun.jobs.order_by("-is_sanity", "case")]
    assert jobs == [(SECOND_CENTRE[0], True, "SUCCEEDED"), (SECOND_CENTRE[1], False, "SUCCEEDED")]
    assert len(fake_engine.runtime.runs) == runs_before + 2
    assert run.skipped_cases == [
        f"Case {WITHOUT_FLAIR} has no flair-brain-mri, which the containers read: it was not run, nor scored."
    ]
    assert sorted(result.case.name for result in rerun.case_results.all()) == list(SECOND_CENTRE)
    assert 0 < rerun.metrics_mean["dice"] < 0.2
    # The validation phase's board is its own, lists the re-run under the participant, and waits for an
    # organizer to publish it; the challenge's board is unchanged.
    entry = LeaderboardEntry.objects.get(phase=validation.phase)
    assert (entry.submission_id, entry.user, entry.rank) == (rerun.pk, algorithm_phase.participant, 1)
    board = leaderboard_settings_get(phase=validation.phase)
    assert (board.publication, board.is_published) == (LeaderboardSettings.Publication.MANUAL, False)
    assert list(
        LeaderboardEntry.objects.filter(phase=algorithm_phase.phase).values_list("submission_id", flat=True)
    ) == [validation.original.pk]
    # A reader study can compare the re-run's masks like any submission's.
    client = Client()
    client.force_login(algorithm_phase.organizer)
    study_form = client.get(reverse("readerstudy-create", args=[validation.phase.challenge.slug]))
    assert f"organizer, validation re-run submission {rerun.pk} to External validation" in study_form.text


def _refusal(validation: Validation, user: Any, submissions: list[int], phase: Phase | None = None) -> str:
    with pytest.raises(RerunRefused) as refused:
        validation_reruns_create(phase=phase or validation.phase, user=user, submissions=submissions)
    return refused.value.sentence


def test_a_rerun_is_refused_with_one_sentence_per_rule(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    organizer, original = algorithm_phase.organizer, validation.original.pk
    with pytest.raises(PermissionDenied):
        validation_reruns_create(
            phase=validation.phase, user=algorithm_phase.participant, submissions=[original]
        )
    assert _refusal(validation, organizer, [original], phase=algorithm_phase.phase) == (
        f"{algorithm_phase.phase.title} is not a validation phase; re-runs go to a phase an organizer "
        "marked as one."
    )
    assert _refusal(validation, organizer, []) == "Pick at least one submission to re-run."
    assert _refusal(validation, organizer, [original, original]) == (
        "A submission is named twice; name each one once."
    )
    assert _refusal(validation, organizer, [999_999]) == (
        "There is no submission 999999; pick one of the challenge's."
    )
    # The participant accepts the terms again, now without consent: their latest acceptance rules.
    card = DataCard.objects.get(challenge=validation.phase.challenge)
    card.terms_version = 2
    card.save()
    data_terms_accept(user=algorithm_phase.participant, challenge=card.challenge, consents_to_reruns=False)
    assert _refusal(validation, organizer, [original]) == (
        f"The creator of submission {original} has not consented, in the data-use terms they accepted, to "
        "their algorithm being run again on validation data, so it is not re-run."
    )
    card.terms_version = 3
    card.save()
    data_terms_accept(user=algorithm_phase.participant, challenge=card.challenge, consents_to_reruns=True)
    with django_capture_on_commit_callbacks(execute=True):
        (run,) = validation_reruns_create(phase=validation.phase, user=organizer, submissions=[original])
    assert _refusal(validation, organizer, [original]) == (
        f"Submission {original} is already re-run on this phase as submission {run.submission_id}; use that "
        "one."
    )
    assert _refusal(validation, organizer, [run.submission_id]) == (
        f"Submission {run.submission_id} is not an algorithm submission; only a container can be run on "
        "other cases."
    )
    assert ValidationRun.objects.count() == 1


def test_participants_cannot_submit_to_a_validation_phase(
    algorithm_phase: AlgorithmPhase, validation: Validation
) -> None:
    with pytest.raises(SubmissionRefused) as refused:
        submission_refusal_check(
            phase=validation.phase, user=algorithm_phase.participant, kind=Phase.SubmissionKind.ALGORITHM
        )
    assert refused.value.sentence == (
        "This is an external-validation phase: it takes no submissions, and the organizers run chosen "
        "algorithms on it."
    )


def test_an_ensemble_on_the_validation_phase_fuses_the_reruns_of_its_members(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    tmp_path: Path,
) -> None:
    challenge, organizer = validation.phase.challenge, algorithm_phase.organizer
    second = ChallengeRoleFactory(
        challenge=challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="second"
    ).user
    data_terms_accept(user=second, challenge=challenge, consents_to_reruns=True)
    with django_capture_on_commit_callbacks(execute=True):
        body = archive_upload(
            algorithm_phase.client_for(second),
            phase=algorithm_phase.phase,
            archive=fake_engine.image(first_slices),
        )
    originals = [validation.original.pk, body["submission"]]
    # The challenge's ensemble of the two, then the same ensemble validated: its members re-run, fused.
    with django_capture_on_commit_callbacks(execute=True):
        ensemble_create(phase=algorithm_phase.phase, user=organizer, members=originals, rule="majority_vote")
    with pytest.raises(EnsembleRefused) as refused:
        ensemble_create(phase=validation.phase, user=organizer, members=originals, rule="majority_vote")
    assert refused.value.sentence == (
        f"Submission {originals[0]} was made to another phase; an ensemble on {validation.phase.title} "
        "fuses re-runs made here: re-run its members on this phase first."
    )
    with django_capture_on_commit_callbacks(execute=True):
        runs = validation_reruns_create(phase=validation.phase, user=organizer, submissions=originals)
    with django_capture_on_commit_callbacks(execute=True):
        ensemble = ensemble_create(
            phase=validation.phase,
            user=organizer,
            members=[run.submission_id for run in runs],
            rule="majority_vote",
        )

    ensemble = Ensemble.objects.select_related("submission").get(pk=ensemble.pk)
    assert ensemble.submission.status == Status.SUCCEEDED, ensemble.submission.error
    # The case no member ran (it lacks its FLAIR) has no mask and no score; elsewhere the majority of two
    # masks is where both mark a lesion.
    masks = {mask.case.name: mask for mask in ensemble.masks.select_related("case")}
    assert sorted(masks) == list(SECOND_CENTRE)
    for name, mask in masks.items():
        outputs = []
        for run in runs:
            path = tmp_path / f"{run.pk}-{name}.nii.gz"
            path.write_bytes(run.submission.jobs.get(case__name=name).segmentation.read())
            outputs.append(read_mask(path).array)
        fused = tmp_path / f"ensemble-{name}.nii.gz"
        fused.write_bytes(mask.file.read())
        assert mask.members_without_output == []
        assert np.array_equal(read_mask(fused).array, outputs[0] & outputs[1])
        assert 0 < read_mask(fused).array.sum() < outputs[0].sum()
    scored = sorted(ensemble.submission.case_results.values_list("case__name", flat=True))
    assert scored == list(SECOND_CENTRE)


def test_the_validation_page_offers_the_consented_submissions_and_reruns_the_chosen_ones(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    client = Client()
    client.force_login(algorithm_phase.organizer)
    url = reverse("validation-reruns", args=[validation.phase.slug])
    original = validation.original.pk

    page = client.get(url).content.decode()
    assert f'name="submissions" value="{original}" id="source-{original}">' in page
    assert "Consents" in page
    assert f"Case {WITHOUT_FLAIR} has no flair-brain-mri" in page
    refused = client.post(url, {"submissions": ["999999"]})
    assert refused.status_code == 400
    assert "There is no submission 999999; pick one of the challenge&#x27;s." in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"submissions": [str(original)]})

    assert response.status_code == 302
    run = ValidationRun.objects.get(original_id=original)
    listed = client.get(url).content.decode()
    assert f">{run.submission_id}</a>" in listed
    assert "Succeeded" in listed
    submission_page = client.get(reverse("submission-detail", args=[run.submission_id])).text
    assert f"A validation re-run, by an organizer, of submission {original}'s" in submission_page
    assert "Select as final" not in submission_page
    assert f"Case {WITHOUT_FLAIR} has no flair-brain-mri, which the containers read: it was not run" in listed


def test_the_validation_phases_submissions_page_says_it_takes_none(
    algorithm_phase: AlgorithmPhase, validation: Validation
) -> None:
    client = Client()
    client.force_login(algorithm_phase.participant)

    page = client.get(reverse("phase-submissions", args=[validation.phase.slug])).text

    assert "This is an external-validation phase: it takes no submissions" in " ".join(page.split())
    assert "Upload an algorithm container" not in page
    assert 'id="submit"' not in page


@dataclass(frozen=True)
class TwoAlgorithms:
    """The challenge's ensemble of two participants' algorithms (both consented to re-runs)."""

    originals: list[int]
    ensemble: Ensemble


@pytest.fixture
def two_algorithms(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> TwoAlgorithms:
    challenge = validation.phase.challenge
    second = ChallengeRoleFactory(
        challenge=challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="second"
    ).user
    data_terms_accept(user=second, challenge=challenge, consents_to_reruns=True)
    with django_capture_on_commit_callbacks(execute=True):
        body = archive_upload(
            algorithm_phase.client_for(second),
            phase=algorithm_phase.phase,
            archive=fake_engine.image(first_slices),
        )
    originals = [validation.original.pk, body["submission"]]
    with django_capture_on_commit_callbacks(execute=True):
        ensemble = ensemble_create(
            phase=algorithm_phase.phase,
            user=algorithm_phase.organizer,
            members=originals,
            rule="majority_vote",
        )
    return TwoAlgorithms(originals=originals, ensemble=ensemble)


def _outputs(submission_id: int, case_name: str, folder: Path) -> np.ndarray:
    path = folder / f"{submission_id}-{case_name}.nii.gz"
    job = Submission.objects.get(pk=submission_id).jobs.get(case__name=case_name)
    path.write_bytes(job.segmentation.read())
    return read_mask(path).array


def test_an_ensemble_is_validated_in_one_step_reusing_the_reruns_made_already(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    tmp_path: Path,
    settings: Any,
) -> None:
    organizer, originals = algorithm_phase.organizer, two_algorithms.originals
    with django_capture_on_commit_callbacks(execute=True):
        (earlier,) = validation_reruns_create(
            phase=validation.phase, user=organizer, submissions=originals[:1]
        )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        validated = ensemble_validate(
            ensemble=two_algorithms.ensemble, phase=validation.phase, user=organizer
        )

    # Only the member not re-run yet runs; the ensemble of the two re-runs waits for it.
    new = ValidationRun.objects.get(original_id=originals[1])
    assert ValidationRun.objects.filter(original_id=originals[0]).count() == 1
    assert new.submission.status == Status.EVALUATING
    assert ensemble_member_ids(ensemble=validated) == [earlier.submission_id, new.submission_id]
    assert (validated.rule, validated.build_status) == ("majority_vote", Ensemble.BuildStatus.WAITING)
    # A build message while a member runs does nothing, and leaves nothing for the sweeper to send again.
    ensemble_build(ensemble_id=validated.pk)
    ensemble_build(ensemble_id=validated.pk)
    validated.refresh_from_db()
    assert (validated.build_status, validated.heartbeat_at, validated.attempt) == ("WAITING", None, 0)
    settings.STEP_REQUEUE_AFTER_SECONDS = 0
    assert f"ensemble build {validated.pk}" not in steps_sweep().resent
    # The re-run's jobs run (the messages queued above); its end builds the ensemble, once.
    for callback in queued:
        with django_capture_on_commit_callbacks(execute=True):
            callback()

    validated = Ensemble.objects.select_related("submission").get(pk=validated.pk)
    assert validated.submission.status == Status.SUCCEEDED, validated.submission.error
    assert (validated.build_status, validated.attempt) == (Ensemble.BuildStatus.SUCCEEDED, 1)
    masks = {mask.case.name: mask for mask in validated.masks.select_related("case")}
    assert sorted(masks) == list(SECOND_CENTRE)
    for name, mask in masks.items():
        fused = tmp_path / f"ensemble-{name}.nii.gz"
        fused.write_bytes(mask.file.read())
        members = [_outputs(pk, name, tmp_path) for pk in (earlier.submission_id, new.submission_id)]
        assert np.array_equal(read_mask(fused).array, members[0] & members[1])
    with pytest.raises(EnsembleRefused) as refused:
        ensemble_validate(ensemble=two_algorithms.ensemble, phase=validation.phase, user=organizer)
    assert refused.value.sentence == (
        f"Ensemble {two_algorithms.ensemble.pk} is already validated on {validation.phase.title} as ensemble "
        f"{validated.pk}; use that one."
    )


def test_a_validated_ensemble_whose_message_was_lost_is_built_by_the_sweeper(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    settings: Any,
) -> None:
    organizer = algorithm_phase.organizer
    with django_capture_on_commit_callbacks(execute=True):
        validation_reruns_create(phase=validation.phase, user=organizer, submissions=two_algorithms.originals)
    # Both members have their re-runs already: nothing runs again, and the build's message is lost.
    with django_capture_on_commit_callbacks(execute=False):
        validated = ensemble_validate(
            ensemble=two_algorithms.ensemble, phase=validation.phase, user=organizer
        )
    assert ValidationRun.objects.count() == 2
    settings.STEP_REQUEUE_AFTER_SECONDS = 0

    with django_capture_on_commit_callbacks(execute=True):
        report = steps_sweep()

    assert f"ensemble build {validated.pk}" in report.resent
    validated = Ensemble.objects.select_related("submission").get(pk=validated.pk)
    assert validated.submission.status == Status.SUCCEEDED, validated.submission.error


def test_a_failed_rerun_counts_as_a_member_without_outputs(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    organizer, originals = algorithm_phase.organizer, two_algorithms.originals
    with django_capture_on_commit_callbacks(execute=True):
        validation_reruns_create(phase=validation.phase, user=organizer, submissions=originals[:1])
    fake_engine.forget_images()  # the second member's re-run fails: its image cannot be loaded

    with django_capture_on_commit_callbacks(execute=True):
        validated = ensemble_validate(
            ensemble=two_algorithms.ensemble, phase=validation.phase, user=organizer
        )

    failed = ValidationRun.objects.get(original_id=originals[1]).submission
    assert failed.status == Status.FAILED
    validated = Ensemble.objects.select_related("submission").get(pk=validated.pk)
    assert validated.submission.status == Status.SUCCEEDED, validated.submission.error
    for mask in validated.masks.all():
        assert mask.members_without_output == [failed.pk]
        assert mask.notes == [
            f"Submission {failed.pk} has no output for this case; it counted as an empty mask."
        ]
    page = _organizer_client(algorithm_phase).get(
        reverse("ensemble-detail", args=[validation.phase.slug, validated.pk])
    )
    assert f"validation re-run {failed.pk} (failed)" in page.text
    assert f"Submission {failed.pk} has no output for this case; it counted as an empty mask." in page.text


def _organizer_client(algorithm_phase: AlgorithmPhase) -> Client:
    client = Client()
    client.force_login(algorithm_phase.organizer)
    return client


def test_an_ensemble_validation_is_refused_with_one_sentence(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    organizer, ensemble = algorithm_phase.organizer, two_algorithms.ensemble
    with pytest.raises(PermissionDenied):
        ensemble_validate(ensemble=ensemble, phase=validation.phase, user=algorithm_phase.participant)
    with pytest.raises(RerunRefused) as refused:
        ensemble_validate(ensemble=ensemble, phase=algorithm_phase.phase, user=organizer)
    assert refused.value.sentence == (
        f"{algorithm_phase.phase.title} is not a validation phase; re-runs go to a phase an organizer marked "
        "as one."
    )
    card = DataCard.objects.get(challenge=validation.phase.challenge)
    card.terms_version = 2
    card.save()
    data_terms_accept(user=algorithm_phase.participant, challenge=card.challenge, consents_to_reruns=False)
    with pytest.raises(RerunRefused) as refused:
        ensemble_validate(ensemble=ensemble, phase=validation.phase, user=organizer)
    assert refused.value.sentence == (
        f"The creator of submission {two_algorithms.originals[0]} has not consented, in the data-use terms "
        "they accepted, to their algorithm being run again on validation data, so it is not re-run."
    )
    # Nothing of a refused validation is kept: the other member was not re-run either.
    assert not ValidationRun.objects.exists()
    assert not Ensemble.objects.filter(submission__phase=validation.phase).exists()


def test_the_ensemble_page_and_the_api_validate_an_ensemble(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    client = _organizer_client(algorithm_phase)
    ensemble = two_algorithms.ensemble
    page = client.get(reverse("ensemble-detail", args=[algorithm_phase.phase.slug, ensemble.pk])).text
    assert f'<option value="{validation.phase.slug}">{validation.phase.title}</option>' in page
    validate = reverse("organizer-ensemble-validate", args=[validation.phase.challenge.slug, ensemble.pk])
    refused = client.post(validate, {"phase": "nowhere"})
    assert refused.status_code == 400
    assert "There is no phase &#x27;nowhere&#x27; in this challenge; pick one of its validation phases." in (
        refused.text
    )
    api = algorithm_phase.client_for(algorithm_phase.organizer)
    url = reverse("api:ensemble-validations", args=[ensemble.pk])
    participant = algorithm_phase.client_for(algorithm_phase.participant)
    assert participant.post(url, {"phase": validation.phase.slug}, format="json").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(validate, {"phase": validation.phase.slug})

    validated = Ensemble.objects.get(submission__phase=validation.phase)
    assert response.status_code == 302
    assert response["Location"] == reverse("ensemble-detail", args=[validation.phase.slug, validated.pk])
    shown = client.get(response["Location"]).text
    assert "this ensemble of their re-runs is built once they have all ended" in shown
    assert "Its masks: built" in " ".join(shown.split())
    assert 'id="ensemble-validate"' not in shown  # an ensemble of re-runs is validated already
    answer = api.post(url, {"phase": validation.phase.slug}, format="json")
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        f"Ensemble {ensemble.pk} is already validated on {validation.phase.title} as ensemble "
        f"{validated.pk}; use that one."
    )
    assert answer.json()["code"] == "already_validated"


def test_the_ensembles_report_shows_its_validation_in_one_step(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The challenge's ensemble's report lists its members' re-runs, with the case they skipped, and the
    ensemble of the re-runs with the scores the evaluation stored."""
    ensemble = two_algorithms.ensemble
    with django_capture_on_commit_callbacks(execute=True):
        validated = ensemble_validate(
            ensemble=ensemble, phase=validation.phase, user=algorithm_phase.organizer
        )

    report = ensemble_report(ensemble=ensemble)

    assert [rerun.run.original_id for rerun in report.reruns] == two_algorithms.originals
    skipped = (
        f"Case {WITHOUT_FLAIR} has no flair-brain-mri, which the containers read: it was not run, nor scored."
    )
    assert [rerun.run.skipped_cases for rerun in report.reruns] == [[skipped], [skipped]]
    (row,) = report.validated_ensembles
    assert row.ensemble.pk == validated.pk
    dice = next(metric for metric in row.scores if metric.metric_key == "dice")
    stored = [result.metrics["dice"] for result in validated.submission.case_results.all()]
    assert dice.scores[0].is_ensemble
    assert dice.scores[0].mean == pytest.approx(np.mean(stored))
    assert dice.scores[0].cases == len(SECOND_CENTRE)
    url = reverse("ensemble-report", args=[algorithm_phase.phase.slug, ensemble.pk])
    page = " ".join(_organizer_client(algorithm_phase).get(url).text.split())
    assert f"The ensemble on {validation.phase.title} (submission {validated.submission_id})" in page
    assert "Its masks: built; the submission: succeeded." in page
    assert skipped in page
    assert "There is no external validation" not in page


def test_reruns_talk_to_the_organizer_once_per_validation_and_never_to_the_participant(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    organizer, participant, originals = (
        algorithm_phase.organizer,
        algorithm_phase.participant,
        two_algorithms.originals,
    )
    second_image = Submission.objects.get(pk=originals[1]).algorithm_image.image_id
    runnable = dict(fake_engine.algorithms)
    # The second member's re-run fails at its sanity case: this worker cannot load its image.
    fake_engine.algorithms.pop(second_image)
    fake_engine.runtime = FakeRuntime(fake_engine.algorithms)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        runs = validation_reruns_create(phase=validation.phase, user=organizer, submissions=originals)

    scored, failed = (Submission.objects.get(pk=run.submission_id) for run in runs)
    assert (scored.status, failed.status) == (Status.SUCCEEDED, Status.FAILED)
    sanity = failed.jobs.get(is_sanity=True)
    assert failed.error == (
        f"The sanity case {sanity.case.name} failed: {sanity.failure} The re-run's other cases were not run; "
        f"submission {originals[1]}, its scores and its team's limits are unchanged."
    )
    # One e-mail for the whole validation, to the organizer who made it; none per re-run, none to a team.
    (message,) = mail.outbox
    assert (message.to, message.subject) == (
        [organizer.email],
        "The re-runs on External validation have ended",
    )
    body = message.body
    assert body.startswith("Every re-run on External validation has ended: 1 of 2 succeeded.")
    assert (
        f"Re-run {scored.pk} of submission {originals[0]} (participant): scored; mean over the cases: dice"
        in (body)
    )
    assert f"Re-run {failed.pk} of submission {originals[1]} (second): failed. {failed.error}" in body
    # The participant sees no re-run among their submissions, nor its page.
    client = Client()
    client.force_login(participant)
    for phase in (algorithm_phase.phase, validation.phase):
        page = client.get(reverse("phase-submissions", args=[phase.slug])).text
        assert f"/submissions/{scored.pk}/" not in page
    assert client.get(reverse("submission-detail", args=[scored.pk])).status_code == 404
    assert (
        algorithm_phase.client_for(participant)
        .get(reverse("api:submission-detail", args=[scored.pk]))
        .status_code
        == 404
    )
    # The organizer reads the re-run's own sentence on its page.
    organizer_page = (
        _organizer_client(algorithm_phase).get(reverse("submission-detail", args=[failed.pk])).text
    )
    assert "The re-run&#x27;s other cases were not run" in organizer_page
    assert "toward your limits" not in organizer_page
    # A later re-run (the failed one again, now that its image loads) is a validation of its own: its
    # e-mail names it alone.
    fake_engine.algorithms.update(runnable)
    fake_engine.runtime = FakeRuntime(fake_engine.algorithms)
    with django_capture_on_commit_callbacks(execute=True):
        (again,) = validation_reruns_create(phase=validation.phase, user=organizer, submissions=originals[1:])
    assert len(mail.outbox) == 2
    assert mail.outbox[1].body.startswith("Every re-run on External validation has ended: 1 of 1 succeeded.")
    assert f"Re-run {again.submission_id} of submission" in mail.outbox[1].body
    assert f"Re-run {scored.pk} " not in mail.outbox[1].body


def test_an_organizer_stopping_a_rerun_reads_a_sentence_of_a_rerun(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    organizer = algorithm_phase.organizer
    with django_capture_on_commit_callbacks(execute=False):
        (run,) = validation_reruns_create(
            phase=validation.phase, user=organizer, submissions=[validation.original.pk]
        )
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        stopped = submission_stop(submission_id=run.submission_id, user=organizer, reason="Wrong dataset.")

    assert stopped.error == "An organizer stopped this submission: Wrong dataset."
    (message,) = mail.outbox
    assert message.to == [organizer.email]
    assert f"Re-run {run.submission_id} of submission {validation.original.pk} (participant): failed. " in (
        message.body
    )


def test_a_validated_ensemble_whose_reruns_all_failed_says_so(
    algorithm_phase: AlgorithmPhase,
    validation: Validation,
    two_algorithms: TwoAlgorithms,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    fake_engine.forget_images()  # every re-run fails at its sanity case

    with django_capture_on_commit_callbacks(execute=True):
        validated = ensemble_validate(
            ensemble=two_algorithms.ensemble, phase=validation.phase, user=algorithm_phase.organizer
        )

    validated = Ensemble.objects.select_related("submission").get(pk=validated.pk)
    assert (validated.build_status, validated.submission.status) == ("FAILED", Status.FAILED)
    assert validated.error == (
        "Every member failed or was cancelled, so there are no outputs to fuse; see the members' pages "
        "for why."
    )
    assert not validated.masks.exists()
