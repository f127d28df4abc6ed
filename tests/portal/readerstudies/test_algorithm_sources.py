"""A study of an algorithm that really ran: a busybox container's jobs write the segmentations, and the
study shows each of them, blinded, against the reference masks."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pytest_django import DjangoCaptureOnCommitCallbacks

from portal.readerstudies import services
from portal.readerstudies.models import BlindedMask, ReaderStudy
from portal.submissions.models import Submission
from tests.portal.algorithms.conftest import (  # noqa: F401 (fixtures shared with the algorithms tests)
    COPY_DWI,
    AlgorithmPhase,
    algorithm_image,
    algorithm_phase,
    archive_upload,
    saved_image,
)
from tests.portal.datasets.factories import ImageFactory
from tests.portal.submissions.conftest import SHAPE, SPACING_MM

pytestmark = pytest.mark.integration


def _voxels(mask: BlindedMask) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.nii.gz"
        path.write_bytes(mask.file.read())
        return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_a_study_shows_the_segmentations_a_real_containers_jobs_wrote(
    algorithm_phase: AlgorithmPhase,  # noqa: F811 (the fixture imported above)
    saved_image: object,  # noqa: F811 (the fixture imported above)
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    for case in algorithm_phase.cases:
        ImageFactory(case=case, interface="non-contrast-ct", shape=list(SHAPE), spacing_mm=list(SPACING_MM))
    client = algorithm_phase.client_for(algorithm_phase.participant)
    with django_capture_on_commit_callbacks(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=saved_image(COPY_DWI))
    submission = Submission.objects.get(pk=body["submission"])
    assert submission.status == Submission.Status.SUCCEEDED, submission.error

    with django_capture_on_commit_callbacks(execute=True):
        study = services.reader_study_create(
            created_by=algorithm_phase.organizer,
            challenge=algorithm_phase.phase.challenge,
            dataset=algorithm_phase.phase.dataset,
            split="TEST",
            title="Copy of the DWI against the reference",
            sources=[services.REFERENCE, submission],
        )

    study.refresh_from_db()
    assert study.status == ReaderStudy.Status.READY, study.error
    algorithm_masks = BlindedMask.objects.filter(source__submission=submission)
    assert algorithm_masks.count() == len(algorithm_phase.cases)
    # The container copied its DWI input, which is 3 everywhere: a full mask on every case.
    assert all(_voxels(mask).all() for mask in algorithm_masks)
    reference_masks = BlindedMask.objects.filter(source__kind="REFERENCE")
    assert not any(_voxels(mask).all() for mask in reference_masks)
