"""Reference algorithm ``unet-ensemble``: read a case per the container contract, predict, write the mask.

    python -m inference.reference.unet [--input /input] [--output /output] [--weights DIR] [--device cpu]

The network's input channels are fixed by ``CHANNELS`` (the order the ensemble was trained with): the four
preprocessed perfusion maps and the non-contrast CT, all on the NCCT grid. Whatever of them a case holds
is read; a missing one is filled with zeros, the mean after normalisation, as in training. Each channel is
clipped to its 0.5 and 99.5 percentiles and scaled to zero mean and unit variance, per case.

The mask is written to ``/output/images/stroke-lesion-segmentation/output.mha`` with the spacing and
origin of the first channel found, using the NumPy-only image I/O of ``inference.reference.threshold``.
"""

import argparse
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch

from inference.reference.threshold import OUTPUT_SLUG, image_read, mask_write_mha
from inference.reference.unet.ensemble import ensemble_load, ensemble_predict

__all__ = ["CHANNELS", "CLIP_PERCENTILES", "Channel", "channels_normalise", "main"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Channel:
    """One network input: its slug in the container contract and its file suffix in an ISLES'24 release."""

    slug: str
    release_suffix: str


CHANNELS: Final = (
    Channel(slug="preprocessed-tmax-map", release_suffix="_space-ncct_tmax.nii.gz"),
    Channel(slug="preprocessed-cbf-map", release_suffix="_space-ncct_cbf.nii.gz"),
    Channel(slug="preprocessed-cbv-map", release_suffix="_space-ncct_cbv.nii.gz"),
    Channel(slug="preprocessed-mtt-map", release_suffix="_space-ncct_mtt.nii.gz"),
    Channel(slug="non-contrast-ct", release_suffix="_ncct.nii.gz"),
)
CLIP_PERCENTILES: Final = (0.5, 99.5)
NORMALISATION: Final = (
    "per case and channel: clip to the 0.5 and 99.5 percentiles, then zero mean, unit variance"
)
DEFAULT_WEIGHTS: Final = Path(os.environ.get("ISLES_UNET_WEIGHTS", "/opt/algorithm/weights"))
IMAGE_SUFFIXES: Final = (".mha", ".nii", ".nii.gz")
# Where a container's CPU limit is: cgroup v2 ("quota period" or "max period"), then cgroup v1.
CGROUP_V2_CPU_MAX: Final = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_CPU: Final = Path("/sys/fs/cgroup/cpu")


def channels_normalise(
    images: Mapping[str, FloatArray], *, channels: Sequence[str], shape: tuple[int, ...]
) -> FloatArray:
    """Stack ``images`` (slug to ``[z, y, x]``) in ``channels`` order, normalised; absent ones are zeros."""
    volume = np.zeros((len(channels), *shape), dtype=np.float32)
    for index, slug in enumerate(channels):
        image = images.get(slug)
        if image is None:
            continue
        if image.shape != shape:
            raise ValueError(
                f"{slug} is {image.shape} voxels and the case {shape}; channels must share a grid."
            )
        low, high = np.percentile(image, CLIP_PERCENTILES)
        clipped = np.clip(image, low, high)
        deviation = float(clipped.std())
        volume[index] = (clipped - clipped.mean()) / (deviation if deviation > 0 else 1.0)
    return volume


def _cpu_limit() -> int | None:
    """Whole CPUs the container may use, or None without a limit."""
    try:
        if CGROUP_V2_CPU_MAX.is_file():
            quota, period = CGROUP_V2_CPU_MAX.read_text().split()
        else:
            quota = (CGROUP_V1_CPU / "cpu.cfs_quota_us").read_text().strip()
            period = (CGROUP_V1_CPU / "cpu.cfs_period_us").read_text().strip()
    except (OSError, ValueError):
        return None
    if quota in ("max", "-1"):
        return None
    return max(1, int(quota) // int(period))


def _case_images(input_folder: Path, channels: Sequence[str]) -> tuple[dict[str, FloatArray], Path]:
    images: dict[str, FloatArray] = {}
    first: Path | None = None
    for slug in channels:
        folder = input_folder / "images" / slug
        files = sorted(path for path in folder.glob("*") if path.name.endswith(IMAGE_SUFFIXES))
        if len(files) > 1:
            raise SystemExit(f"expected one image in {folder}, found {len(files)}")
        if files:
            images[slug] = image_read(files[0])[0]
            first = files[0] if first is None else first
    if first is None:
        raise SystemExit(f"none of the inputs {', '.join(channels)} is under {input_folder / 'images'}")
    return images, first


def _overlap(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not an overlap from 0 up to (not including) 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inference.reference.unet", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--input", type=Path, default=Path("/input"))
    parser.add_argument("--output", type=Path, default=Path("/output"))
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="folder with manifest.json")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--no-flip", action="store_true", help="turn flip test-time augmentation off")
    parser.add_argument(
        "--overlap", type=_overlap, default=0.5, help="share of a window its neighbour covers"
    )
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    # torch starts a thread per visible core; over the sandbox's CPU limit they wait on each other (2x slower
    # with one CPU of two, measured).
    cpus = _cpu_limit()
    if cpus is not None:
        torch.set_num_threads(min(cpus, torch.get_num_threads()))
    ensemble, manifest = ensemble_load(
        weights_dir=arguments.weights, device=arguments.device, flip_axes=() if arguments.no_flip else None
    )
    ensemble = replace(ensemble, overlap=arguments.overlap)
    images, reference = _case_images(arguments.input, manifest.channels)
    _, spacing, origin = image_read(reference)
    shape = next(iter(images.values())).shape
    volume = channels_normalise(images, channels=manifest.channels, shape=shape)
    mask = ensemble_predict(ensemble=ensemble, volume=volume)
    output = arguments.output / "images" / OUTPUT_SLUG / "output.mha"
    mask_write_mha(output, mask, spacing=spacing, origin=origin)
    print(
        f"unet-ensemble: {len(ensemble.members)} members on {arguments.device}, channels {', '.join(images)};"
        f" {int(mask.sum())} lesion voxels of {mask.size} written to {output}"
        f" in {time.perf_counter() - started:.1f} s"
    )
    return 0
