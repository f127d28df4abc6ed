"""Fixtures of the pure package's tests."""

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def archive_file(tmp_path: Path) -> Callable[[bytes, str], Path]:
    """Write archive bytes to a file in the test's folder."""

    def write(content: bytes, name: str = "predictions.zip") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return write
