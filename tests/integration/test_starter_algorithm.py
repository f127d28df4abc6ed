"""The starter ``isles init-algorithm`` writes, unchanged but for its base image, end to end: built on the
offline base (``isles-base:bookworm``: Python 3 and NumPy), saved and submitted to an ISLES'24 algorithm
phase on synthetic cases, where it passes the image checks and every job succeeds, reading all thirteen
images and the clinical JSON. Its test script's ``docker run`` line, run by hand on a case staged as the
portal stages it, writes the same segmentation as the portal's job.

The Celery tasks run eagerly; ``django_capture_on_commit_callbacks`` runs each next step a step queues after
its commit. An engine without the base builds it first (about a minute).
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import numpy as np
import pytest
import SimpleITK as sitk
from pytest_django import DjangoCaptureOnCommitCallbacks

from inference.client import main as isles_main
from inference.contract import ISLES24, inputs_stage, output_collect
from portal.accounts.models import ChallengeRole
from portal.algorithms.models import AlgorithmSettings
from portal.algorithms.services import algorithm_baseline_register
from portal.challenges.models import Phase, Split
from portal.datasets.services import isles24_import
from portal.submissions.models import Submission
from releases.synthetic import write_release
from tests.inference.cases import isles24_case_inputs, isles24_reference_image
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import PhaseFactory

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "isles-base:bookworm"
IMAGE_TAG = "isles-starter:test"


@pytest.fixture
def starter_image(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[Path]:
    """The starter written by ``isles init-algorithm``, built on the offline base; its folder."""
    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        subprocess.run([str(ROOT / "docker/base/build-base-image.sh"), BASE_IMAGE], check=True, timeout=900)
    folder = tmp_path / "my-algorithm"
    assert isles_main(["init-algorithm", str(folder)]) == 0
    built = subprocess.run(
        [
            "docker",
            "build",
            "--quiet",
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
            "-t",
            IMAGE_TAG,
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    yield folder
    docker_client.images.remove(IMAGE_TAG, force=True)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """The hidden test release: two small synthetic cases."""
    root = tmp_path / "test-release"
    write_release(root, cases=2, seed=21, size="small", first_subject=401)
    return root


@pytest.fixture
def starter_phase(postgresql: None, release: Path, tmp_path: Path) -> Phase:
    """An open ISLES'24 algorithm phase on the two hidden cases, with a training case (the sanity case)."""
    phase = PhaseFactory(
        submission_kind=Phase.SubmissionKind.ALGORITHM,
        split=Split.TEST,
        metric_profile=Phase.MetricProfile.ISLES24,
    )
    AlgorithmSettings.objects.create(
        phase=phase,
        interface_set=AlgorithmSettings.InterfaceSetName.ISLES24,
        time_limit_s=120,
        memory_gb=0.5,
        cpus=1.0,
        pids=64,
        tmpfs_mb=64,
        output_max_mb=16,
        image_max_gb=2.0,
    )
    write_release(tmp_path / "training-release", cases=1, seed=22, size="small", first_subject=301)
    isles24_import(dataset=phase.dataset, root=tmp_path / "training-release", split=Split.TRAIN)
    isles24_import(dataset=phase.dataset, root=release, split=Split.TEST)
    return phase


def test_the_starter_runs_on_every_case_through_the_portal_and_by_hand_alike(
    starter_phase: Phase,
    starter_image: Path,
    release: Path,
    tmp_path: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    role = ChallengeRoleFactory(challenge=starter_phase.challenge, role=ChallengeRole.Role.PARTICIPANT)

    with django_capture_on_commit_callbacks(execute=True):
        submission = algorithm_baseline_register(phase=starter_phase, user=role.user, image_tag=IMAGE_TAG)

    submission.refresh_from_db()
    jobs = list(submission.jobs.select_related("case"))
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    assert submission.algorithm_image.problems == []
    assert len(jobs) == 3
    assert all(job.status == "SUCCEEDED" and job.exit_code == 0 for job in jobs), [
        job.failure or job.stderr_tail for job in jobs
    ]
    sanity = next(job for job in jobs if job.is_sanity)
    for interface in ISLES24.image_inputs:
        assert f"{interface.slug}: " in sanity.stdout_tail
    assert "clinical information: age," in sanity.stdout_tail

    # The same case by hand, staged as the portal stages it, with the test script's docker run line.
    job = next(job for job in jobs if not job.is_sanity)
    case = job.case.name
    folder = starter_image
    inputs_stage(isles24_case_inputs(release, case), folder / "test" / "input", interface_set=ISLES24)
    run_line = next(
        line for line in (folder / "test.sh").read_text().splitlines() if line.startswith("docker run ")
    )
    output = folder / "test" / "output"
    output.mkdir()
    output.chmod(0o777)
    by_hand = subprocess.run(
        ["sh", "-c", f"CPUS=1; {run_line}"],
        cwd=folder,
        env={**os.environ, "IMAGE": IMAGE_TAG},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    mask = output_collect(
        output,
        reference_image_path=isles24_reference_image(release, case),
        max_bytes=16 * 10**6,
        destination=tmp_path / "by-hand.nii.gz",
    )
    with job.segmentation.open("rb") as stored:
        (tmp_path / "portal.nii.gz").write_bytes(stored.read())
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(mask))),
        sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "portal.nii.gz"))),
    )
