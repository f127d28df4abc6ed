"""Algorithms that the tests run on both runtimes: each as a busybox script for Docker's images and as a
Python callable for ``FakeRuntime``, the two doing the same thing to the same ``/input`` and ``/output``."""

import shutil
from pathlib import Path
from typing import NamedTuple

from inference.runtime import Algorithm

SEGMENTATION_FOLDER = "images/stroke-lesion-segmentation"


class AlgorithmTwins(NamedTuple):
    """One algorithm: ``script`` for a busybox image, ``function`` for the fake runtime."""

    script: str
    function: Algorithm


def _copy_tmax(input_folder: Path, output_folder: Path) -> None:
    (source,) = (input_folder / "images" / "preprocessed-tmax-map").glob("*.mha")
    (output_folder / SEGMENTATION_FOLDER).mkdir(parents=True)
    shutil.copyfile(source, output_folder / SEGMENTATION_FOLDER / "output.mha")


def _crash(input_folder: Path, output_folder: Path) -> int:
    print("starting")
    return 2


def _silent(input_folder: Path, output_folder: Path) -> None:
    print("done")


# Hands the staged Tmax map back as its segmentation: a valid output on the case's grid.
COPY_TMAX = AlgorithmTwins(
    script=(
        f"mkdir -p /output/{SEGMENTATION_FOLDER}"
        f" && cp /input/images/preprocessed-tmax-map/*.mha /output/{SEGMENTATION_FOLDER}/output.mha"
    ),
    function=_copy_tmax,
)
# Says it starts, then exits with code 2.
CRASH = AlgorithmTwins(script="echo starting; exit 2", function=_crash)
# Succeeds without writing anything.
SILENT = AlgorithmTwins(script="echo done", function=_silent)
