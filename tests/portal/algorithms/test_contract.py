"""The contract of an algorithm phase as its people read it: which cases cannot run (for organizers,
before any job fails), an upload refused when the sanity case lacks an input, and the participant's
page and API made from the table and settings the worker runs containers with."""

import shutil
from pathlib import Path

from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from inference.contract import ISLES24
from inference.interfaces import DEFAULT_SANDBOX, docker_run_command
from portal.algorithms.models import AlgorithmSettings
from portal.algorithms.selectors import algorithm_contract, phase_cases_missing_inputs
from portal.datasets.models import Image
from portal.submissions.models import Submission
from tests.portal.algorithms.conftest import (
    CASE_NAMES,
    TRAINING_CASE_NAME,
    AlgorithmPhase,
    FakeEngine,
    archive_upload,
)


def _remove(algorithm_phase: AlgorithmPhase, case_name: str, interface: str) -> None:
    Image.objects.filter(
        case__dataset=algorithm_phase.phase.dataset, case__name=case_name, interface=interface
    ).delete()


def _copy_dwi(input_folder: Path, output_folder: Path) -> None:
    """A no-op algorithm: its segmentation is its DWI input."""
    target = output_folder / "images" / "stroke-lesion-segmentation" / "output.mha"
    target.parent.mkdir(parents=True)
    shutil.copy(next((input_folder / "images" / "dwi-brain-mri").glob("*.mha")), target)


def _page(algorithm_phase: AlgorithmPhase, who: str, name: str) -> str:
    client = Client()
    client.force_login(getattr(algorithm_phase, who))
    response = client.get(reverse(name, args=[algorithm_phase.phase.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_complete_phase_lists_no_case_and_takes_uploads(algorithm_phase: AlgorithmPhase) -> None:
    assert phase_cases_missing_inputs(phase=algorithm_phase.phase) == []

    response = algorithm_phase.client_for(algorithm_phase.participant).post(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/", {"total_bytes": 10}, format="json"
    )

    assert response.status_code == 201


def test_cases_lacking_an_input_are_listed_for_organizers_with_the_sanity_case_first(
    algorithm_phase: AlgorithmPhase,
) -> None:
    _remove(algorithm_phase, CASE_NAMES[1], "flair-brain-mri")
    _remove(algorithm_phase, TRAINING_CASE_NAME, "adc-brain-mri")
    _remove(
        algorithm_phase, CASE_NAMES[0], "adc-brain-mri"
    )  # no complete training case: the first runs first

    gaps = phase_cases_missing_inputs(phase=algorithm_phase.phase)

    assert [(gap.case_name, gap.is_sanity, gap.missing) for gap in gaps] == [
        (CASE_NAMES[0], True, ("adc-brain-mri",)),
        (CASE_NAMES[1], False, ("flair-brain-mri",)),
    ]
    assert gaps[0].sentence.startswith(f"The sanity case {CASE_NAMES[0]} has no adc-brain-mri")
    assert "its jobs will fail" in gaps[1].sentence
    organizer_page = _page(algorithm_phase, "organizer", "algorithm-upload")
    assert f"Case {CASE_NAMES[1]} has no flair-brain-mri" in organizer_page
    participant_page = _page(algorithm_phase, "participant", "algorithm-upload")
    assert CASE_NAMES[1] not in participant_page
    assert "its sanity case lacks images every container reads" in participant_page
    contract = algorithm_phase.client_for(algorithm_phase.organizer).get(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-contract/"
    )
    assert contract.json()["missing_inputs"] == [gap.sentence for gap in gaps]
    seen_by_participant = algorithm_phase.client_for(algorithm_phase.participant).get(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-contract/"
    )
    assert seen_by_participant.json()["missing_inputs"] is None


def test_an_upload_is_refused_at_its_start_when_the_sanity_case_lacks_an_input(
    algorithm_phase: AlgorithmPhase,
) -> None:
    _remove(algorithm_phase, TRAINING_CASE_NAME, "dwi-brain-mri")
    _remove(algorithm_phase, CASE_NAMES[0], "dwi-brain-mri")

    response = algorithm_phase.client_for(algorithm_phase.participant).post(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/", {"total_bytes": 10}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "sanity_case_incomplete"
    assert response.json()["detail"].startswith(
        "This phase cannot run algorithms yet: its sanity case has no dwi-brain-mri"
    )
    assert CASE_NAMES[0] not in response.json()["detail"]  # a hidden case's name stays hidden


def test_a_hidden_case_lacking_an_input_does_not_stop_uploads(algorithm_phase: AlgorithmPhase) -> None:
    _remove(algorithm_phase, CASE_NAMES[1], "dwi-brain-mri")

    response = algorithm_phase.client_for(algorithm_phase.participant).post(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/", {"total_bytes": 10}, format="json"
    )

    assert response.status_code == 201


def test_the_contract_page_shows_every_isles24_input_the_output_the_sandbox_and_its_docker_run_line(
    algorithm_phase: AlgorithmPhase,
) -> None:
    AlgorithmSettings.objects.filter(phase=algorithm_phase.phase).update(interface_set="isles24")
    settings = AlgorithmSettings.objects.get(phase=algorithm_phase.phase)

    page = _page(algorithm_phase, "participant", "algorithm-contract")
    body = (
        algorithm_phase.client_for(algorithm_phase.participant)
        .get(f"/api/phases/{algorithm_phase.phase.slug}/algorithm-contract/")
        .json()
    )

    for interface in ISLES24.image_inputs:
        assert f"/input/images/{interface.slug}/&lt;name&gt;.mha" in page
    assert "/input/acute-stroke-clinical-information.json" in page
    assert "/output/images/stroke-lesion-segmentation/&lt;name&gt;.mha" in page
    assert [item["slug"] for item in body["inputs"]] == [interface.slug for interface in ISLES24.inputs]
    expected = docker_run_command(
        image="my-algorithm",
        limits=settings.sandbox_limits,
        cpus=settings.cpus,
        gpu=False,
        input_folder="$PWD/test/input",
        output_folder="$PWD/test/output",
    )
    assert body["docker_run"] == expected
    assert " ".join(expected) in page
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "--memory-swap", "/input:ro"):
        assert flag in " ".join(expected)
    assert f"{settings.tmpfs_mb} MB" in page
    assert f"{settings.time_limit_s} s per case" in page


def test_a_predictions_phase_has_no_container_contract(algorithm_phase: AlgorithmPhase) -> None:
    phase = algorithm_phase.phase
    phase.submission_kind = phase.SubmissionKind.PREDICTIONS
    phase.save()

    response = algorithm_phase.client_for(algorithm_phase.participant).get(
        f"/api/phases/{phase.slug}/algorithm-contract/"
    )

    assert response.status_code == 404


def test_a_phase_without_settings_runs_in_the_sandbox_the_starter_tests_with() -> None:
    assert AlgorithmSettings().sandbox_limits == DEFAULT_SANDBOX


def test_the_job_of_a_case_lacking_an_input_fails_naming_it_and_the_others_run(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    _remove(algorithm_phase, CASE_NAMES[1], "flair-brain-mri")
    client = algorithm_phase.client_for(algorithm_phase.participant)

    with django_capture_on_commit_callbacks(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=fake_engine.image(_copy_dwi))

    jobs = {job.case.name: job for job in Submission.objects.get(pk=body["submission"]).jobs.all()}
    assert jobs[CASE_NAMES[1]].status == "FAILED"
    assert jobs[CASE_NAMES[1]].failure.startswith(
        f"Case {CASE_NAMES[1]} has no flair-brain-mri, which this phase's containers read"
    )
    assert jobs[CASE_NAMES[0]].status == jobs[TRAINING_CASE_NAME].status == "SUCCEEDED"
    assert len(fake_engine.runtime.runs) == 2  # the case lacking an input never ran


def test_the_contract_offers_a_gpu_only_when_the_phase_asks(algorithm_phase: AlgorithmPhase) -> None:
    phase = algorithm_phase.phase
    with_gpu = algorithm_contract(phase=phase, gpu=True)
    AlgorithmSettings.objects.filter(phase=phase).update(gpu=False)

    without_gpu = algorithm_contract(phase=phase, gpu=True)

    assert with_gpu.gpu
    assert "--gpus" in with_gpu.docker_run
    assert not without_gpu.gpu
    assert "--gpus" not in without_gpu.docker_run
