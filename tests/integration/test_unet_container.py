"""The reference algorithm ``unet-ensemble`` end to end through the portal: a tiny ensemble trained with
``inference.train`` on a synthetic ISLES'24 release, built into its image on the offline torch base by
``docker/reference/build.sh``, and submitted to an algorithm phase as the demo submits its baseline. Every
case runs in the worker's sandbox (no network, read-only root, user 1000, memory, CPU and pids limits) and
is scored.

The Celery tasks run eagerly; ``django_capture_on_commit_callbacks`` runs each next step a step queues after
its commit. An engine without the base images builds them first (debootstrap, then the torch layer: about
two minutes more); they stay in the engine for the next run.
"""

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import torch
from pytest_django import DjangoCaptureOnCommitCallbacks

from inference.train import main as train_main
from portal.accounts.models import ChallengeRole
from portal.algorithms.models import AlgorithmSettings
from portal.algorithms.services import algorithm_baseline_register
from portal.challenges.models import Phase, Split
from portal.datasets.services import isles24_import
from portal.submissions.models import Submission
from releases.synthetic import write_release
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import PhaseFactory

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "docker" / "reference" / "build.sh"
# Its own tag, so a run never replaces an image someone built with real weights.
IMAGE_TAG = "isles-reference/unet-ensemble:test"
UNET_LOG_LINE = re.compile(
    r"^unet-ensemble: 2 members on cpu, channels preprocessed-tmax-map, preprocessed-cbf-map,"
    r" preprocessed-cbv-map, preprocessed-mtt-map, non-contrast-ct; \d+ lesion voxels of 98304 written to"
    r" /output/images/stroke-lesion-segmentation/output\.mha in [\d.]+ s$",
    re.M,
)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Train on one thread: two cores are shared by every test run here, and OpenMP spins when crowded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def unet_image(docker_client: docker.DockerClient, tmp_path: Path, one_torch_thread: None) -> Iterator[str]:
    """``isles-reference/unet-ensemble`` with two members trained for a few steps on two synthetic cases."""
    release = tmp_path / "training-release"
    write_release(release, cases=2, seed=11, size="small")
    weights = tmp_path / "unet-weights"
    tiny = "--members 2 --epochs 1 --steps-per-epoch 4 --batch-size 1 --base-channels 4 --device cpu"
    assert train_main(["--dataset", str(release), "--out", str(weights), *tiny.split()]) == 0
    built = subprocess.run(
        [str(BUILD_SCRIPT), "unet-ensemble", str(weights)],
        env={**os.environ, "TAG": IMAGE_TAG},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    yield IMAGE_TAG
    docker_client.images.remove(IMAGE_TAG)


@pytest.fixture
def unet_phase(postgresql: None, tmp_path: Path) -> Phase:
    """An open ISLES'24 algorithm phase on two hidden synthetic cases (64x64x24), 0.5 GB and 1 CPU a run."""
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
    release = tmp_path / "test-release"
    write_release(release, cases=2, seed=12, size="small", first_subject=201)
    isles24_import(dataset=phase.dataset, root=release, split=Split.TEST)
    return phase


def test_the_unet_ensemble_image_runs_on_every_case_through_the_portal_and_is_scored(
    unet_phase: Phase,
    unet_image: str,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    role = ChallengeRoleFactory(challenge=unet_phase.challenge, role=ChallengeRole.Role.PARTICIPANT)

    with django_capture_on_commit_callbacks(execute=True):
        submission = algorithm_baseline_register(phase=unet_phase, user=role.user, image_tag=unet_image)

    submission.refresh_from_db()
    case_names = {case.name for case in unet_phase.dataset.cases.filter(split=Split.TEST)}
    jobs = {job.case.name: job for job in submission.jobs.select_related("case")}
    sanity = next(job for job in jobs.values() if job.is_sanity)
    results = {result.case.name: result.metrics for result in submission.case_results.select_related("case")}
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    assert {name: (job.status, job.exit_code) for name, job in jobs.items()} == dict.fromkeys(
        case_names, ("SUCCEEDED", 0)
    ), [job.failure or job.stderr_tail for job in jobs.values()]
    assert UNET_LOG_LINE.search(sanity.stdout_tail), sanity.stdout_tail
    assert set(results) == case_names
    assert all(0.0 <= metrics["dice"] <= 1.0 for metrics in results.values())
    assert set(submission.metrics_mean) >= {"dice", "absolute_volume_difference_ml", "lesion_f1"}
