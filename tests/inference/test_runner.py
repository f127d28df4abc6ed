"""A whole job on a worker: staged case in, checked segmentation out, or a sentence saying why not."""

from pathlib import Path

import docker
import pytest
import SimpleITK as sitk

from inference.contract import ISLES24
from inference.conversions import ConversionCache, file_sha256
from inference.runner import JobResult, job_run
from inference.runtime import DockerRuntime
from tests.inference.algorithms import COPY_TMAX, CRASH, SILENT
from tests.inference.cases import isles24_case_inputs, isles24_reference_image
from tests.inference.conftest import SMALL_CASE
from tests.inference.images import TEST_LIMITS, AlgorithmImage, engine_input_volumes, input_volume_names

pytestmark = pytest.mark.integration


def run(docker_client: docker.DockerClient, image: str, release: Path, tmp_path: Path) -> JobResult:
    return job_run(
        runtime=DockerRuntime(docker_client),
        image=image,
        case_inputs=isles24_case_inputs(release, SMALL_CASE),
        interface_set=ISLES24,
        reference_image_path=isles24_reference_image(release, SMALL_CASE),
        destination=tmp_path / "stored" / f"{SMALL_CASE}.nii.gz",
        limits=TEST_LIMITS,
        scratch_folder=tmp_path,
    )


def test_job_run_stores_the_segmentation_on_the_reference_grid(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, small_release: Path, tmp_path: Path
) -> None:
    result = run(docker_client, algorithm_image(COPY_TMAX.script), small_release, tmp_path)

    assert result.failure is None
    stored = sitk.ReadImage(str(result.segmentation_path))
    assert stored.GetSize() == (64, 64, 24)
    assert stored.GetPixelID() == sitk.sitkUInt8
    assert [path.name for path in tmp_path.iterdir()] == ["stored"]


def test_job_run_says_why_an_algorithm_failed(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, small_release: Path, tmp_path: Path
) -> None:
    crashed = run(docker_client, algorithm_image(CRASH.script), small_release, tmp_path)
    silent = run(docker_client, algorithm_image(SILENT.script), small_release, tmp_path)
    root = run(docker_client, algorithm_image(COPY_TMAX.script, user="root"), small_release, tmp_path)

    assert crashed.failure == "The algorithm exited with code 2; its log shows what went wrong."
    assert crashed.outcome is not None
    assert crashed.outcome.stdout_tail == "starting\n"
    assert silent.failure is not None
    assert "expected one .mha or .nii.gz file in /output/images/stroke-lesion-segmentation/" in silent.failure
    assert root.outcome is None
    assert root.failure is not None
    assert root.failure.startswith("The image runs as root")
    assert None is crashed.segmentation_path is silent.segmentation_path is root.segmentation_path


def test_two_jobs_on_a_case_copy_it_into_one_input_volume(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, small_release: Path, tmp_path: Path
) -> None:
    case_inputs = isles24_case_inputs(small_release, SMALL_CASE)
    stored_digests = {slug: file_sha256(path) for slug, path in case_inputs.items() if isinstance(path, Path)}
    before = input_volume_names(docker_client)

    with engine_input_volumes(docker_client) as input_volumes:
        results = [
            job_run(
                runtime=DockerRuntime(docker_client, input_volumes=input_volumes),
                image=algorithm_image(COPY_TMAX.script),
                case_inputs=case_inputs,
                interface_set=ISLES24,
                reference_image_path=isles24_reference_image(small_release, SMALL_CASE),
                destination=tmp_path / f"stored-{job}.nii.gz",
                limits=TEST_LIMITS,
                conversion_cache=ConversionCache(folder=tmp_path / "conversions", max_bytes=10**9),
                image_digests=stored_digests,
                scratch_folder=tmp_path,
            )
            for job in range(2)
        ]
        made = input_volume_names(docker_client) - before

    assert [result.failure for result in results] == [None, None]
    assert len(made) == 1
    assert (tmp_path / "stored-0.nii.gz").read_bytes() == (tmp_path / "stored-1.nii.gz").read_bytes()
