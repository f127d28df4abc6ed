"""The upload checks read a ``docker save`` archive without Docker and say what to fix, in sentences.

Most archives here are written by hand in the layout ``docker save`` uses (manifest.json, the configuration
JSON, one tar per layer), so the tests need no engine; one saves a real busybox image.
"""

import gzip
import tarfile
from collections.abc import Sequence
from pathlib import Path

import docker
import pytest

from inference.image_checks import ImageRejected, image_tar_inspect
from tests.inference.images import AlgorithmImage, image_archive_write, image_save

GIGABYTE = 10**9


def problems_of(path: Path, *, max_size_bytes: int = GIGABYTE) -> Sequence[str]:
    with pytest.raises(ImageRejected) as rejected:
        image_tar_inspect(path, max_size_bytes=max_size_bytes)
    return rejected.value.problems


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_image_tar_inspect_accepts_a_good_image_and_returns_its_digest(
    tmp_path: Path, compress: bool
) -> None:
    path = image_archive_write(tmp_path / "image.tar", compress=compress)
    with tarfile.open(path) as archive:
        config_name = next(
            name for name in archive.getnames() if name.endswith(".json") and name != "manifest.json"
        )

    summary = image_tar_inspect(path, max_size_bytes=GIGABYTE)

    assert summary.image_id == f"sha256:{config_name.removesuffix('.json')}"
    assert (summary.user, summary.entrypoint, summary.repo_tags) == (
        "1000:1000",
        ("/bin/predict",),
        ("team/algorithm:1",),
    )


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:root", "0:1000"])
def test_image_tar_inspect_refuses_an_image_that_runs_as_root(tmp_path: Path, user: str) -> None:
    config = {"architecture": "amd64", "os": "linux", "config": {"User": user, "Cmd": ["predict"]}}

    problems = problems_of(image_archive_write(tmp_path / "image.tar", config=config))

    assert len(problems) == 1
    assert "runs as root" in problems[0]
    assert "USER 1000:1000" in problems[0]


def test_image_tar_inspect_lists_every_problem_at_once(tmp_path: Path) -> None:
    config = {"architecture": "arm64", "os": "linux", "config": {"User": "root"}}

    problems = problems_of(
        image_archive_write(tmp_path / "image.tar", config=config, layer_bytes=4096), max_size_bytes=1024
    )

    assert len(problems) == 4
    assert "linux/arm64" in problems[0]
    assert "--platform linux/amd64" in problems[0]
    assert "runs as root" in problems[1]
    assert "neither ENTRYPOINT nor CMD" in problems[2]
    assert "over this phase's limit" in problems[3]


def test_image_tar_inspect_refuses_an_archive_of_two_images(tmp_path: Path) -> None:
    assert problems_of(image_archive_write(tmp_path / "image.tar", images=2)) == (
        "The archive holds 2 images; it must hold exactly one: save a single image (one tag).",
    )


def test_image_tar_inspect_says_a_layer_is_missing(tmp_path: Path) -> None:
    (problem,) = problems_of(image_archive_write(tmp_path / "image.tar", drop_layer=True))

    assert "0123abcd/layer.tar is listed in manifest.json but missing" in problem


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_image_tar_inspect_says_in_one_sentence_that_a_truncated_upload_is_incomplete(
    tmp_path: Path, compress: bool
) -> None:
    whole = image_archive_write(tmp_path / "whole.tar", compress=compress, layer_bytes=64 * 1024).read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(whole[: len(whole) // 2])

    (problem,) = problems_of(truncated)

    assert problem.startswith("The file is not a complete image archive")


def test_image_tar_inspect_says_in_one_sentence_that_a_file_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "image.tar.gz"
    path.write_bytes(b"this is a README, not an image\n" * 100)

    (problem,) = problems_of(path)

    assert problem.startswith("The file is not a complete image archive")
    assert "docker save IMAGE | gzip" in problem


@pytest.mark.integration
def test_image_tar_inspect_reads_the_archive_docker_save_writes(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    tag = algorithm_image("echo ready")
    path = image_save(docker_client, tag, tmp_path / "image.tar")

    summary = image_tar_inspect(path, max_size_bytes=GIGABYTE)

    assert summary.image_id == docker_client.images.get(tag).id
    assert summary.repo_tags == (tag,)
    assert summary.entrypoint == ("/bin/sh", "-c", "echo ready")
    assert summary.size_bytes > Path("/bin/busybox").stat().st_size


@pytest.mark.integration
def test_image_tar_inspect_refuses_a_saved_image_without_a_user(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    path = image_save(docker_client, algorithm_image("echo ready", user=""), tmp_path / "image.tar")

    (problem,) = problems_of(path)

    assert "runs as root (USER is not set, so root)" in problem


def test_an_archive_declaring_more_than_the_cap_is_refused_for_its_size_without_reading_further(
    tmp_path: Path,
) -> None:
    """A header claiming 2 GB (here with no data behind it, as a compression bomb has a great deal) stops
    the reading at once: nothing past the cap is decompressed."""
    header = tarfile.TarInfo("0123abcd/layer.tar")
    header.size = 2 * GIGABYTE
    path = tmp_path / "image.tar.gz"
    path.write_bytes(gzip.compress(header.tobuf(format=tarfile.USTAR_FORMAT)))

    problems = problems_of(path, max_size_bytes=GIGABYTE)

    assert problems == (
        "The image is over this phase's limit of 1.00 GB unpacked (at least 2.00 GB); leave build tools and "
        "caches out of the final image.",
    )


def test_what_an_image_configuration_says_is_kept_and_shown_escaped(tmp_path: Path) -> None:
    strange = {"User": "1000\x00\udcff", "Entrypoint": ["/bin/predict\x00", "--model\udcfe"]}
    accepted = {"architecture": "amd64", "os": "linux", "config": strange}
    refused = {"architecture": "arm64\u202e", "os": "linux", "config": strange}

    summary = image_tar_inspect(
        image_archive_write(tmp_path / "a.tar", config=accepted), max_size_bytes=GIGABYTE
    )
    problems = problems_of(image_archive_write(tmp_path / "b.tar", config=refused))

    assert summary.user == "1000\\x00\\xff"
    assert summary.entrypoint == ("/bin/predict\\x00", "--model\\xfe")
    assert problems[0].startswith("The image is built for linux/arm64\\u202e;")
