"""A worker converts a hidden case's inputs once, whichever submission runs on it: the portal passes the
worker's conversion cache (``ISLES_WORKER_CACHE_DIR``) and the sha256 each image was stored with, so the
jobs of the next submission link the converted files, and an image re-imported with other voxels is
converted again. Runs on ``inference.runtime.FakeRuntime``, where "the container" reads the staged files."""

import shutil
from pathlib import Path
from typing import Any

from pytest_django import DjangoCaptureOnCommitCallbacks

from portal.datasets.models import Case, Image
from portal.submissions.models import Submission
from tests.portal.algorithms.conftest import AlgorithmPhase, FakeEngine, archive_upload
from tests.portal.datasets.factories import ImageFactory

INPUTS = ("dwi-brain-mri", "adc-brain-mri", "flair-brain-mri")


class StagedDwi:
    """An algorithm that copies its DWI input as its segmentation and notes the inode of each staged DWI
    file by name (the stored image's name, its sha256)."""

    def __init__(self, name: str) -> None:
        self.__name__ = name  # names the fake image, so each submission's image differs
        self.inodes: dict[str, int] = {}

    def __call__(self, input_folder: Path, output_folder: Path) -> None:
        source = next((input_folder / "images" / "dwi-brain-mri").glob("*.mha"))
        self.inodes[source.name] = source.stat().st_ino
        target = output_folder / "images" / "stroke-lesion-segmentation" / "output.mha"
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)


def _submit(
    algorithm_phase: AlgorithmPhase, archive: Path, capture: DjangoCaptureOnCommitCallbacks
) -> Submission:
    client = algorithm_phase.client_for(algorithm_phase.participant)
    with capture(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=archive)
    submission = Submission.objects.get(pk=body["submission"])
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    return submission


def _image_replace(image: Image, *, fill: int) -> Image:
    """Import the image again with other voxels (another sha256)."""
    case, interface, shape, spacing_mm = image.case, image.interface, image.shape, image.spacing_mm
    image.delete()
    replaced: Image = ImageFactory(
        case=case, interface=interface, shape=shape, spacing_mm=spacing_mm, fill=fill
    )
    return replaced


def test_the_next_submission_on_a_case_converts_nothing_and_a_changed_image_converts_again(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.ISLES_WORKER_CACHE_DIR = tmp_path / "worker-cache"
    conversions = settings.ISLES_WORKER_CACHE_DIR / "conversions"
    # Every image of every case its own content (the fixture's images are all alike); the sanity job runs
    # on the training case, the others on the two hidden cases.
    cases = list(Case.objects.filter(dataset=algorithm_phase.phase.dataset))
    for number, case in enumerate(cases):
        for offset, interface in enumerate(INPUTS):
            _image_replace(case.images.get(interface=interface), fill=10 + 10 * number + offset)
    images = Image.objects.filter(case__in=cases)
    first, second, third = StagedDwi("first"), StagedDwi("second"), StagedDwi("third")

    _submit(algorithm_phase, fake_engine.image(first), django_capture_on_commit_callbacks)
    _submit(algorithm_phase, fake_engine.image(second), django_capture_on_commit_callbacks)

    assert sorted(path.name for path in conversions.iterdir()) == sorted(
        f"{image.sha256}.mha" for image in images
    )
    assert len(first.inodes) == len(cases) == 3
    assert second.inodes == first.inodes  # the very files the first submission's jobs converted

    hidden_dwi = algorithm_phase.cases[0].images.get(interface="dwi-brain-mri")
    old_name = f"{hidden_dwi.sha256}.mha"
    new_name = f"{_image_replace(hidden_dwi, fill=99).sha256}.mha"
    algorithm_phase.phase.daily_submission_limit = 3
    algorithm_phase.phase.save(update_fields=["daily_submission_limit"])
    _submit(algorithm_phase, fake_engine.image(third), django_capture_on_commit_callbacks)

    assert new_name not in first.inodes
    kept = {name: inode for name, inode in first.inodes.items() if name != old_name}
    assert third.inodes == {**kept, new_name: (conversions / new_name).stat().st_ino}
