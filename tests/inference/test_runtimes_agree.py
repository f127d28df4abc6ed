"""The fake runtime ends a job as the Docker runtime does: the same algorithm, written once as a busybox
script and once as a Python callable, gives the same ``JobResult`` on both, so the portal's job-flow tests
that run on the fake runtime hold for the real engine. It needs a Docker engine (``REQUIRE_SERVICES=1`` makes
its absence a failure), as the runner's own tests beside it do."""

from pathlib import Path

import docker
import pytest
import SimpleITK as sitk

from inference.contract import ISLES24
from inference.runner import JobResult, job_run
from inference.runtime import ContainerRuntime, DockerRuntime, FakeRuntime
from tests.inference.algorithms import COPY_TMAX, CRASH, SILENT, AlgorithmTwins
from tests.inference.cases import isles24_case_inputs, isles24_reference_image
from tests.inference.conftest import SMALL_CASE
from tests.inference.images import TEST_LIMITS, AlgorithmImage

pytestmark = pytest.mark.integration

FAKE_IMAGE = "sha256:fake-algorithm"


def job(runtime: ContainerRuntime, image: str, release: Path, folder: Path) -> JobResult:
    folder.mkdir()
    return job_run(
        runtime=runtime,
        image=image,
        case_inputs=isles24_case_inputs(release, SMALL_CASE),
        interface_set=ISLES24,
        reference_image_path=isles24_reference_image(release, SMALL_CASE),
        destination=folder / "stored" / f"{SMALL_CASE}.nii.gz",
        limits=TEST_LIMITS,
        scratch_folder=folder,
    )


def what_a_participant_sees(result: JobResult, folder: Path) -> dict[str, object]:
    """Everything of a job's result but its timings: the stored segmentation's voxels and grid, and what
    the job left in its scratch ``folder``."""
    segmentation = None
    if result.segmentation_path is not None:
        image = sitk.ReadImage(str(result.segmentation_path))
        segmentation = (sitk.GetArrayFromImage(image).tobytes(), image.GetSpacing(), image.GetOrigin())
    outcome = result.outcome
    return {
        "failure": result.failure,
        "segmentation": segmentation,
        "ended": None
        if outcome is None
        else (outcome.exit_code, outcome.timed_out, outcome.oom, outcome.output_over_cap, outcome.had_gpu),
        "logs": None if outcome is None else (outcome.stdout_tail, outcome.stderr_tail),
        "left in the scratch folder": sorted(path.name for path in folder.iterdir()),
    }


@pytest.mark.parametrize(
    "algorithm", [COPY_TMAX, CRASH, SILENT], ids=["copies-tmax", "crashes", "writes-nothing"]
)
def test_a_job_ends_the_same_on_the_fake_runtime_as_on_docker(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    small_release: Path,
    tmp_path: Path,
    algorithm: AlgorithmTwins,
) -> None:
    docker_image = algorithm_image(algorithm.script)
    on_docker = job(DockerRuntime(docker_client), docker_image, small_release, tmp_path / "docker")
    on_fake = job(FakeRuntime({FAKE_IMAGE: algorithm.function}), FAKE_IMAGE, small_release, tmp_path / "fake")

    assert what_a_participant_sees(on_fake, tmp_path / "fake") == (
        what_a_participant_sees(on_docker, tmp_path / "docker")
    )
