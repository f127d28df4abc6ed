"""An open algorithm phase on two hidden ISLES'22-style cases (tiny DWI, ADC and FLAIR) with a training case
beside them (the sanity case), its people, and helpers that upload an image archive through the API as a
participant's client would."""

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from inference.image_checks import image_tar_inspect
from inference.runtime import Algorithm, FakeRuntime
from portal.accounts.models import ChallengeRole, User
from portal.algorithms import services as algorithm_services
from portal.algorithms.models import AlgorithmSettings
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, GroundTruth
from tests.inference.images import AlgorithmImage, algorithm_images, image_archive_write, image_save
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory, ImageFactory
from tests.portal.submissions.conftest import SHAPE, SPACING_MM, mask_bytes

CASE_NAMES = ("sub-stroke0100", "sub-stroke0101")
TRAINING_CASE_NAME = "sub-stroke0001"
"""A training case of the phase's dataset: the sanity case, whose log participants may read."""
INPUTS = ("dwi-brain-mri", "adc-brain-mri", "flair-brain-mri")
# A no-op algorithm: its segmentation is its DWI input (every voxel > 0, so a full mask).
COPY_DWI = (
    "echo segmenting; mkdir -p /output/images/stroke-lesion-segmentation"
    " && cp /input/images/dwi-brain-mri/*.mha /output/images/stroke-lesion-segmentation/output.mha"
)


def copy_dwi(input_folder: Path, output_folder: Path) -> None:
    """The no-op algorithm for ``FakeEngine``: its segmentation is its DWI input (every voxel > 0, so a
    full mask)."""
    print("segmenting")
    source = next((input_folder / "images" / "dwi-brain-mri").glob("*.mha"))
    target = output_folder / "images" / "stroke-lesion-segmentation" / "output.mha"
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)


@dataclass(frozen=True)
class AlgorithmPhase:
    phase: Phase
    cases: tuple[Case, ...]
    participant: User
    organizer: User

    def client_for(self, user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client


def case_ground_truth_add(case: Case) -> None:
    content = mask_bytes()
    GroundTruth.objects.create(
        case=case,
        file=ContentFile(content, name="mask.nii.gz"),
        sha256=hashlib.sha256(content).hexdigest(),
        shape=list(SHAPE),
        spacing_mm=list(SPACING_MM),
        lesion_volume_ml=0.004,
        source_encoding="uint8 {0, 1}",
    )


@pytest.fixture
def algorithm_phase(db: None) -> AlgorithmPhase:
    """An open ALGORITHM phase (2 per day) on two test cases, with small sandbox limits, and a training
    case of the same dataset."""
    phase = PhaseFactory(
        submission_kind=Phase.SubmissionKind.ALGORITHM, split=Split.TEST, daily_submission_limit=2
    )
    AlgorithmSettings.objects.create(
        phase=phase,
        interface_set=AlgorithmSettings.InterfaceSetName.ISLES22,
        time_limit_s=20,
        memory_gb=0.125,
        cpus=1.0,
        pids=32,
        tmpfs_mb=16,
        output_max_mb=4,
        image_max_gb=0.5,
    )
    cases = []
    for name, split in ((TRAINING_CASE_NAME, Split.TRAIN), *((name, Split.TEST) for name in CASE_NAMES)):
        case = CaseFactory(dataset=phase.dataset, name=name, split=split)
        for interface in INPUTS:
            ImageFactory(
                case=case, interface=interface, shape=list(SHAPE), spacing_mm=list(SPACING_MM), fill=3
            )
        case_ground_truth_add(case)
        cases.append(case)
    roles = {}
    for username, role in (
        ("participant", ChallengeRole.Role.PARTICIPANT),
        ("organizer", ChallengeRole.Role.ORGANIZER),
    ):
        roles[role] = ChallengeRoleFactory(challenge=phase.challenge, role=role, user__username=username).user
    return AlgorithmPhase(
        phase=phase,
        cases=tuple(cases[1:]),
        participant=roles[ChallengeRole.Role.PARTICIPANT],
        organizer=roles[ChallengeRole.Role.ORGANIZER],
    )


def archive_upload(
    client: APIClient, *, phase: Phase, archive: Path, chunk_bytes: int = 4096
) -> dict[str, Any]:
    """Upload ``archive`` to the phase in chunks through the API; return the last response's body."""
    content = archive.read_bytes()
    started = client.post(
        f"/api/phases/{phase.slug}/algorithm-uploads/", {"total_bytes": len(content)}, format="json"
    )
    assert started.status_code == 201, started.json()
    upload_id = started.json()["id"]
    body: dict[str, Any] = started.json()
    for start in range(0, len(content), chunk_bytes):
        body = chunk_put(client, upload_id=upload_id, content=content, start=start, end=start + chunk_bytes)
    return body


def chunk_put(client: APIClient, *, upload_id: str, content: bytes, start: int, end: int) -> dict[str, Any]:
    end = min(end, len(content))
    response = client.put(
        f"/api/algorithm-uploads/{upload_id}/",
        data=content[start:end],
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{end - 1}/{len(content)}",
    )
    return {"status": response.status_code, **response.json()}


def evaluation_cli_scores(
    *, profile: str, ground_truth: Path, predictions: Path, output: Path
) -> dict[str, dict[str, float]]:
    """The per-case scores the evaluation CLI (``python -m evaluation score``, as an organizer runs it on a
    laptop) gives the masks in ``predictions`` against those in ``ground_truth``, by case name."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation",
            "score",
            "--profile",
            profile,
            "--ground-truth",
            str(ground_truth),
            "--predictions",
            str(predictions),
            "--output",
            str(output),
            "--workers",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    cases: dict[str, dict[str, float]] = json.loads(output.read_text())["cases"]
    return cases


class FakeEngine:
    """The worker's container runtime swapped for ``inference.runtime.FakeRuntime``: ``image(algorithm)``
    writes an image archive (by hand, in ``docker save``'s layout) whose "container" is the Python
    function ``algorithm``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.algorithms: dict[str, Algorithm] = {}
        self.runtime = FakeRuntime(self.algorithms)

    def image(self, algorithm: Algorithm) -> Path:
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"User": "1000:1000", "Entrypoint": [f"/bin/{algorithm.__name__}"]},
        }
        archive = image_archive_write(self.folder / f"{algorithm.__name__}.tar", config=config)
        image_id = image_tar_inspect(archive, max_size_bytes=1 << 30).image_id
        self.algorithms[image_id] = algorithm
        self.runtime = FakeRuntime(self.algorithms)
        return archive

    def forget_images(self) -> None:
        """Play a worker whose runtime cannot load the images made so far."""
        self.algorithms.clear()
        self.runtime = FakeRuntime(self.algorithms)


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEngine:
    engine = FakeEngine(tmp_path)
    monkeypatch.setattr(algorithm_services, "container_runtime", lambda: engine.runtime)
    return engine


@pytest.fixture(scope="session")
def algorithm_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlgorithmImage]:
    """A builder of busybox images running a script, ``algorithm_image(script, user=...)``, per session."""
    with algorithm_images(docker_client, tmp_path_factory.mktemp("algorithm-images")) as build:
        yield build


@pytest.fixture
def saved_image(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> Callable[[str], Path]:
    """A function saving the busybox image that runs a script, as ``docker save`` would: -> archive path."""

    def save(script: str) -> Path:
        return image_save(docker_client, algorithm_image(script), tmp_path / "image.tar")

    return save
