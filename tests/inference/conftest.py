"""Fixtures of the container runtime's tests: busybox algorithm images and a small synthetic case."""

from pathlib import Path

import pytest

from portal.datasets.synthetic import write_release
from tests.inference.images import algorithm_image

__all__ = ["algorithm_image", "small_release"]

SMALL_CASE = "sub-stroke0001"


@pytest.fixture(scope="session")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-case synthetic ISLES'24 release at the small size (64x64x24), written once per session."""
    release = tmp_path_factory.mktemp("release")
    assert write_release(release, cases=1, seed=5, size="small") == [SMALL_CASE]
    return release
