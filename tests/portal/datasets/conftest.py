"""Small synthetic ISLES'24 releases for the datasets tests: written once, copied per test."""

import shutil
from pathlib import Path

import pytest

from portal.datasets.synthetic import write_release

RELEASE_CASES = 3
RELEASE_SEED = 24


@pytest.fixture(scope="session")
def pristine_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A 3-case small release (one mask per official encoding) and its case names; never modify it."""
    root = tmp_path_factory.mktemp("pristine") / "isles24"
    names = write_release(root, cases=RELEASE_CASES, seed=RELEASE_SEED, size="small")
    return root, names


@pytest.fixture
def release(pristine_release: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """A copy of the small release that a test may change (delete, truncate or replace files)."""
    root = tmp_path / "isles24"
    shutil.copytree(pristine_release[0], root)
    return root


@pytest.fixture
def case_names(pristine_release: tuple[Path, list[str]]) -> list[str]:
    return pristine_release[1]
