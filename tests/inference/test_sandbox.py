"""Sandboxed runs on the local Docker engine: what an innocent algorithm sees, and what the worker records."""

from dataclasses import replace
from pathlib import Path

import docker
import pytest

from inference.image_checks import image_tar_inspect
from inference.sandbox import ContainerRefused, RunOutcome, image_load, run_failure_sentence
from tests.inference.images import TEST_LIMITS, AlgorithmImage, image_save, sandbox_run

pytestmark = pytest.mark.integration


def test_container_run_gives_the_algorithm_its_input_and_keeps_its_output(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    image = algorithm_image(
        "cat /input/inputs.json; mkdir -p /output/images/stroke-lesion-segmentation"
        " && echo mask > /output/images/stroke-lesion-segmentation/output.mha"
    )

    outcome = sandbox_run(docker_client, image, tmp_path)

    assert (outcome.exit_code, outcome.succeeded, outcome.had_gpu) == (0, True, False)
    assert outcome.stdout_tail == "[]"
    assert (tmp_path / "output/images/stroke-lesion-segmentation/output.mha").read_text() == "mask\n"
    assert run_failure_sentence(outcome, limits=TEST_LIMITS) is None
    assert docker_client.containers.list(all=True, filters={"ancestor": image}) == []


def test_container_run_uses_the_image_user_an_empty_environment_and_a_read_only_input(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    image = algorithm_image(
        "id -u; env | sort; touch /input/intruder; touch /intruder; touch /tmp/scratch && echo tmp ok"
    )

    outcome = sandbox_run(docker_client, image, tmp_path)

    lines = outcome.stdout_tail.splitlines()
    assert lines[0] == "1000"
    assert {line.split("=")[0] for line in lines[1:-1]} <= {"HOME", "HOSTNAME", "PATH", "PWD", "SHLVL"}
    assert lines[-1] == "tmp ok"
    assert outcome.stderr_tail.count("Read-only file system") == 2
    assert not (tmp_path / "input/intruder").exists()


def test_container_run_keeps_the_last_500_lines_of_each_log(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    image = algorithm_image("seq 1 1200; seq 1 700 >&2; exit 3")

    outcome = sandbox_run(docker_client, image, tmp_path)

    assert outcome.stdout_tail.splitlines() == [str(n) for n in range(701, 1201)]
    assert outcome.stderr_tail.splitlines()[0] == "201"
    assert run_failure_sentence(outcome, limits=TEST_LIMITS) == (
        "The algorithm exited with code 3; its log shows what went wrong."
    )


def test_container_run_gives_a_phase_set_for_more_cpus_than_the_machine_has_every_cpu_it_has(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    cpus = docker_client.info()["NCPU"]
    image = algorithm_image("echo ran")

    outcome = sandbox_run(docker_client, image, tmp_path, limits=replace(TEST_LIMITS, cpus=cpus + 62.0))

    assert (outcome.exit_code, outcome.stdout_tail) == (0, "ran\n")


def test_container_run_refuses_an_image_that_runs_as_root_before_running_it(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    image = algorithm_image("touch /output/ran", user="0:0")

    with pytest.raises(ContainerRefused, match=r"runs as root \(USER is 0:0\)"):
        sandbox_run(docker_client, image, tmp_path)
    assert not (tmp_path / "output/ran").exists()


def test_image_load_loads_an_uploaded_archive_once(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    tag = algorithm_image("echo loaded")
    archive = image_save(docker_client, tag, tmp_path / "image.tar")
    image_id = image_tar_inspect(archive, max_size_bytes=10**9).image_id
    docker_client.images.remove(tag, force=True)

    loaded = image_load(client=docker_client, tar_path=archive, image_id=image_id)
    archive.unlink()
    again = image_load(client=docker_client, tar_path=archive, image_id=image_id)

    assert loaded == again == image_id
    assert sandbox_run(docker_client, image_id, tmp_path).stdout_tail == "loaded\n"


def test_run_failure_sentence_says_out_of_memory_with_the_limit() -> None:
    outcome = RunOutcome(
        exit_code=137,
        timed_out=False,
        oom=True,
        output_over_cap=False,
        stdout_tail="",
        stderr_tail="",
        duration_s=1.0,
        had_gpu=False,
    )

    assert run_failure_sentence(outcome, limits=TEST_LIMITS) == (
        "The algorithm ran out of memory (limit 0.0671 GB) and was stopped."
    )
