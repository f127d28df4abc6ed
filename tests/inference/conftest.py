"""Fixtures of the container runtime's tests: busybox algorithm images and a small synthetic case."""

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from releases.synthetic import write_release
from tests.inference.images import AlgorithmImage, algorithm_images

SMALL_CASE = "sub-stroke0001"


@pytest.fixture(scope="session")
def algorithm_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlgorithmImage]:
    """A builder of busybox images running a script, ``algorithm_image(script, user=...)``, per session."""
    with algorithm_images(docker_client, tmp_path_factory.mktemp("algorithm-images")) as build:
        yield build


@pytest.fixture(scope="session")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-case synthetic ISLES'24 release at the small size (64x64x24), written once per session."""
    release = tmp_path_factory.mktemp("release")
    assert write_release(release, cases=1, seed=5, size="small") == [SMALL_CASE]
    return release
