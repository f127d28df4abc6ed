"""An ensemble of three real (busybox) algorithm containers: each writes a different mask, the organizer
fuses the three submissions' stored outputs by majority vote through the API, and the ensemble's masks and
scores are checked against numpy's voxel-wise majority and the evaluation CLI (``python -m evaluation``).

The tasks run eagerly in the test process; ``django_capture_on_commit_callbacks`` runs each next step
that a step queues after its commit.
"""

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pytest_django import DjangoCaptureOnCommitCallbacks

from evaluation.io import read_mask
from portal.accounts.models import ChallengeRole
from portal.leaderboards.models import Ensemble
from portal.submissions.models import CaseResult, Submission
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.algorithms.conftest import AlgorithmPhase, archive_upload, evaluation_cli_scores
from tests.portal.submissions.conftest import SHAPE, SPACING_MM

pytestmark = pytest.mark.integration

Box = tuple[slice, slice, slice]  # (z, y, x)
# Three algorithms, three lesions: the majority is where at least two of them overlap.
LESIONS: dict[str, Box] = {
    "participant": (slice(0, 2), slice(0, 3), slice(0, 3)),
    "second": (slice(0, 3), slice(1, 4), slice(1, 4)),
    "third": (slice(1, 4), slice(0, 2), slice(2, 6)),
}


def _nifti_bytes(lesion: Box) -> bytes:
    """An uncompressed NIfTI-1 mask on the cases' grid, as a container writes it."""
    voxels = np.zeros(tuple(reversed(SHAPE)), dtype=np.uint8)
    voxels[lesion] = 1
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(SPACING_MM)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.nii"
        sitk.WriteImage(image, str(path))
        return path.read_bytes()


def _script_writing(lesion: Box) -> str:
    """A busybox shell script that writes the mask of ``lesion`` byte for byte (printf's octal escapes)."""
    escaped = "".join(f"\\{byte:03o}" for byte in _nifti_bytes(lesion))
    return (
        "mkdir -p /output/images/stroke-lesion-segmentation"
        f" && printf '{escaped}' > /output/images/stroke-lesion-segmentation/output.nii"
    )


def test_an_ensemble_of_three_containers_is_their_majority_and_scored_as_the_cli_scores_it(
    algorithm_phase: AlgorithmPhase,
    saved_image: Callable[[str], Path],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    tmp_path: Path,
) -> None:
    phase = algorithm_phase.phase
    participants = {"participant": algorithm_phase.participant}
    for username in ("second", "third"):
        participants[username] = ChallengeRoleFactory(
            challenge=phase.challenge, role=ChallengeRole.Role.PARTICIPANT, user__username=username
        ).user
    members = []
    for username, user in participants.items():
        with django_capture_on_commit_callbacks(execute=True):
            body = archive_upload(
                algorithm_phase.client_for(user),
                phase=phase,
                archive=saved_image(_script_writing(LESIONS[username])),
                chunk_bytes=1 << 20,
            )
        member = Submission.objects.get(pk=body["submission"])
        assert member.status == Submission.Status.SUCCEEDED, member.error
        members.append(member)

    with django_capture_on_commit_callbacks(execute=True):
        created = algorithm_phase.client_for(algorithm_phase.organizer).post(
            f"/api/phases/{phase.slug}/ensembles/",
            {"members": [member.pk for member in members], "rule": "majority_vote"},
            format="json",
        )
    assert created.status_code == 201, created.json()

    ensemble = Ensemble.objects.select_related("submission").get(pk=created.json()["id"])
    assert ensemble.build_status == Ensemble.BuildStatus.SUCCEEDED, ensemble.error
    assert ensemble.submission.status == Submission.Status.SUCCEEDED, ensemble.submission.error
    truths, fused = tmp_path / "ground-truth", tmp_path / "ensemble"
    truths.mkdir()
    fused.mkdir()
    for case in algorithm_phase.cases:
        outputs = []
        for member in members:
            job = member.jobs.get(case=case)
            path = tmp_path / f"{member.pk}-{case.name}.nii.gz"
            path.write_bytes(job.segmentation.read())
            outputs.append(read_mask(path).array)
        assert len({output.tobytes() for output in outputs}) == 3  # three different masks
        stored = ensemble.masks.get(case=case)
        assert stored.members_without_output == []
        (fused / f"{case.name}.nii.gz").write_bytes(stored.file.read())
        (truths / f"{case.name}.nii.gz").write_bytes(case.ground_truths.get().file.read())
        majority = np.sum(outputs, axis=0) >= 2
        assert majority.any()
        assert np.array_equal(read_mask(fused / f"{case.name}.nii.gz").array, majority)

    cli = evaluation_cli_scores(
        profile=phase.metric_profile, ground_truth=truths, predictions=fused, output=tmp_path / "scores.json"
    )
    portal = {
        result.case.name: result.metrics
        for result in CaseResult.objects.filter(submission=ensemble.submission).select_related("case")
    }
    assert sorted(portal) == sorted(cli) == sorted(case.name for case in algorithm_phase.cases)
    for name, metrics in cli.items():
        assert {key: portal[name][key] for key in metrics} == pytest.approx(metrics), name
