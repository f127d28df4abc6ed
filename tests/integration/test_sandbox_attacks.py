"""Algorithms that attack the sandbox end in a clear failure, with the host and the next job untouched.

Each attacker is a tiny image built FROM scratch around busybox, run through the same ``container_run`` and
``output_collect`` as a participant's container, with small limits so the whole file takes seconds. Every
test runs twice: with the job's folders bind-mounted, and with ``/input`` and ``/output`` copied through
the engine into volumes (``ISLES_CONTAINER_IO``), which leave no container or run volume behind.
"""

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import numpy as np
import pytest
import SimpleITK as sitk

from inference.contract import OutputRejected, output_collect
from inference.image_checks import ImageRejected, image_tar_inspect
from inference.sandbox import ContainerRefused, RunOutcome, SandboxLimits, run_failure_sentence
from inference.volumes import InputVolumes
from tests.hostile_masks import nifti_bytes
from tests.inference.images import (
    TEST_LIMITS,
    AlgorithmImage,
    algorithm_images,
    engine_input_volumes,
    image_save,
    sandbox_run,
)

pytestmark = pytest.mark.integration

SEGMENTATION = "/output/images/stroke-lesion-segmentation"
# A 6x5x4 uint8 MetaImage header, as a container with no imaging library might write one.
MHA_HEADER = "NDims = 3\\nDimSize = {size}\\nElementType = MET_UCHAR\\nElementDataFile = LOCAL\\n"
INNOCENT = (
    f"mkdir -p {SEGMENTATION} && printf '{MHA_HEADER.format(size='6 5 4')}' > {SEGMENTATION}/output.mha"
)
INNOCENT += f" && head -c 120 /dev/zero >> {SEGMENTATION}/output.mha"


@pytest.fixture(scope="module")
def algorithm_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlgorithmImage]:
    with algorithm_images(docker_client, tmp_path_factory.mktemp("attackers")) as build:
        yield build


@pytest.fixture(params=["bind", "volumes"])
def input_volumes(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient
) -> Iterator[InputVolumes | None]:
    """How the run's folders reach the container: bind mounts (None) or the engine's volumes."""
    if request.param == "bind":
        yield None
        return
    with engine_input_volumes(docker_client) as volumes:
        yield volumes


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """The case's reference image: 6x5x4 voxels of 2x2x3 mm."""
    image = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16))
    image.SetSpacing((2.0, 2.0, 3.0))
    path = tmp_path / "reference.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def collect(folder: Path, reference: Path) -> Path:
    return output_collect(
        folder / "output",
        reference_image_path=reference,
        max_bytes=2**20,
        destination=folder / "stored.nii.gz",
    )


def innocent_job_still_runs(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    folder: Path,
    input_volumes: InputVolumes | None,
) -> bool:
    outcome = sandbox_run(docker_client, algorithm_image(INNOCENT), folder, input_volumes=input_volumes)
    return outcome.succeeded and subprocess.run(["true"], check=False).returncode == 0


def failure(outcome: RunOutcome, limits: SandboxLimits = TEST_LIMITS) -> str:
    sentence = run_failure_sentence(outcome, limits=limits)
    assert sentence is not None, f"the run should have failed: {outcome}"
    return sentence


def test_a_network_connection_attempt_fails_and_the_job_fails(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    input_volumes: InputVolumes | None,
) -> None:
    # busybox's nc rather than its wget: the static wget crashes looking for name-service libraries first.
    outcome = sandbox_run(
        docker_client,
        algorithm_image("nc -w 2 1.1.1.1 80 < /dev/null"),
        tmp_path,
        input_volumes=input_volumes,
    )

    assert failure(outcome).startswith("The algorithm exited with code 1")
    assert "Network is unreachable" in outcome.stderr_tail


def test_a_fork_bomb_hits_the_pids_limit_and_the_host_and_next_job_are_fine(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    input_volumes: InputVolumes | None,
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, time_limit_s=4.0)
    script = "f(){ f|f& }; f; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; set -- /proc/[0-9]*; echo $#"

    outcome = sandbox_run(
        docker_client, algorithm_image(script), tmp_path / "bomb", limits=limits, input_volumes=input_volumes
    )

    assert outcome.timed_out or outcome.exit_code != 0 or int(outcome.stdout_tail) <= TEST_LIMITS.pids
    assert outcome.duration_s < limits.time_limit_s + 3
    assert innocent_job_still_runs(docker_client, algorithm_image, tmp_path / "next", input_volumes)


def test_a_memory_hog_is_killed_and_told_it_ran_out_of_memory(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    input_volumes: InputVolumes | None,
) -> None:
    outcome = sandbox_run(
        docker_client, algorithm_image("head -c 300m /dev/zero | tail"), tmp_path, input_volumes=input_volumes
    )

    assert outcome.exit_code == 137
    assert failure(outcome) == "The algorithm ran out of memory (limit 0.0671 GB) and was stopped."


def test_a_job_that_never_ends_is_stopped_at_the_time_limit(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    input_volumes: InputVolumes | None,
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, time_limit_s=2.0)

    outcome = sandbox_run(
        docker_client, algorithm_image("sleep 3600"), tmp_path, limits=limits, input_volumes=input_volumes
    )

    assert outcome.timed_out
    assert 2.0 <= outcome.duration_s < 5.0
    assert failure(outcome, limits) == "The algorithm did not finish within 2 s and was stopped."


def test_an_output_flood_is_stopped_at_the_cap(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    input_volumes: InputVolumes | None,
) -> None:
    outcome = sandbox_run(
        docker_client,
        algorithm_image("while true; do cat /bin/busybox >> /output/flood; done"),
        tmp_path,
        input_volumes=input_volumes,
    )

    assert outcome.output_over_cap
    assert not outcome.timed_out
    assert failure(outcome).startswith("The algorithm wrote more than the output limit of 1.05 MB to /output")


def test_a_flood_of_empty_files_is_stopped_at_the_cap(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    input_volumes: InputVolumes | None,
) -> None:
    outcome = sandbox_run(
        docker_client,
        algorithm_image("i=0; while true; do i=$((i+1)); : > /output/$i; done"),
        tmp_path,
        input_volumes=input_volumes,
    )

    assert outcome.output_over_cap
    assert outcome.duration_s < TEST_LIMITS.time_limit_s / 2


def test_an_output_that_links_out_of_the_sandbox_is_refused(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    reference: Path,
    input_volumes: InputVolumes | None,
) -> None:
    script = f"mkdir -p {SEGMENTATION} && ln -s /etc/passwd {SEGMENTATION}/output.mha"

    outcome = sandbox_run(docker_client, algorithm_image(script), tmp_path, input_volumes=input_volumes)

    assert outcome.succeeded
    with pytest.raises(
        OutputRejected, match=r"output\.mha is a link or special file; write the image itself"
    ):
        collect(tmp_path, reference)


# A NIfTI-1 header of the reference's grid whose voxels are in a separate .img file (magic ni1).
DETACHED_HEADER = nifti_bytes(np.zeros((4, 5, 6), np.uint8), magic=b"ni1")[:348]


def _printf_bytes(content: bytes) -> str:
    """``content`` as a printf format of octal escapes, for a shell without any other way to write bytes."""
    return "".join(f"\\{byte:03o}" for byte in content)


@pytest.mark.parametrize(
    ("script", "says"),
    [
        pytest.param(
            f"mkdir -p {SEGMENTATION} && printf '{_printf_bytes(DETACHED_HEADER)}'"
            f" > {SEGMENTATION}/output.nii && ln -s /etc/passwd {SEGMENTATION}/output.img",
            "is a NIfTI header whose voxels are in another file",
            id="a-nifti-header-beside-a-link-to-its-voxels",
        ),
        pytest.param(
            INNOCENT.replace(
                "ElementDataFile = LOCAL",
                "Comment = x\\rElementDataFile = LOCAL\\nElementDataFile = /etc/passwd",
            ),
            "must hold its voxels itself",
            id="a-carriage-return-hiding-a-line-that-names-a-host-file",
        ),
    ],
)
def test_an_output_whose_voxels_are_in_another_file_is_refused(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    reference: Path,
    script: str,
    says: str,
    input_volumes: InputVolumes | None,
) -> None:
    assert sandbox_run(
        docker_client, algorithm_image(script), tmp_path, input_volumes=input_volumes
    ).succeeded
    with pytest.raises(OutputRejected, match=says):
        collect(tmp_path, reference)


def test_a_non_binary_output_is_binarised_above_zero(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    reference: Path,
    input_volumes: InputVolumes | None,
) -> None:
    script = INNOCENT.replace("head -c 120 /dev/zero", "{ head -c 60 /dev/zero; yes | head -c 60; }")

    outcome = sandbox_run(docker_client, algorithm_image(script), tmp_path, input_volumes=input_volumes)
    stored = sitk.ReadImage(str(collect(tmp_path, reference)))

    assert outcome.succeeded
    assert sitk.GetArrayFromImage(stored).ravel().tolist() == [0] * 60 + [1] * 60
    assert stored.GetSpacing() == (2.0, 2.0, 3.0)


def test_an_output_of_the_wrong_shape_is_refused(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    reference: Path,
    input_volumes: InputVolumes | None,
) -> None:
    script = INNOCENT.replace("6 5 4", "6 5 3").replace("head -c 120", "head -c 90")

    assert sandbox_run(
        docker_client, algorithm_image(script), tmp_path, input_volumes=input_volumes
    ).succeeded
    with pytest.raises(OutputRejected, match=r"output\.mha is 6x5x3 voxels; the case's images are 6x5x4"):
        collect(tmp_path, reference)


def test_no_output_is_refused_naming_the_expected_path(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    reference: Path,
    input_volumes: InputVolumes | None,
) -> None:
    assert sandbox_run(
        docker_client, algorithm_image("echo nothing to see"), tmp_path, input_volumes=input_volumes
    ).succeeded
    with pytest.raises(OutputRejected, match=f"expected one .mha or .nii.gz file in {SEGMENTATION}/"):
        collect(tmp_path, reference)


@pytest.mark.parametrize("user", ["", "root", "0:0"])
def test_an_image_whose_user_is_root_is_refused_at_upload_and_before_running(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
    user: str,
    input_volumes: InputVolumes | None,
) -> None:
    image = algorithm_image(f"touch /output/ran-as-{user or 'default'}", user=user)

    with pytest.raises(ImageRejected, match="The image runs as root"):
        image_tar_inspect(image_save(docker_client, image, tmp_path / "image.tar"), max_size_bytes=10**9)
    with pytest.raises(ContainerRefused, match="The image runs as root"):
        sandbox_run(docker_client, image, tmp_path, input_volumes=input_volumes)
    assert list((tmp_path / "output").iterdir()) == []


def test_a_malformed_or_truncated_image_archive_is_one_sentence(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    whole = image_save(docker_client, algorithm_image(INNOCENT), tmp_path / "image.tar").read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(whole[: len(whole) * 2 // 3])
    malformed = tmp_path / "malformed.tar"
    malformed.write_bytes(b"\x1f\x8b" + whole[2:4096])

    for path in (truncated, malformed):
        with pytest.raises(ImageRejected) as rejected:
            image_tar_inspect(path, max_size_bytes=10**9)
        assert len(rejected.value.problems) == 1
        assert rejected.value.problems[0].startswith("The file is not a complete image archive")
