"""Lesion masks an annotator saves: checked against the case's reference grid, binarised and re-encoded.

A saved mask arrives as the bytes of a NIfTI file (NiiVue writes its drawing uncompressed; a gzipped one
is read too, and a MetaImage from an organizer's archive). Its format is decided by its content and only
a self-contained file is read (``evaluation.io``, as every reader of participant files does), its
declared grid checked before its voxels are read. It must be a 3D image of the size and spacing of the
case's reference image; it is binarised with ``> 0`` and stored as gzipped uint8 with the geometry it
came with. Every problem is one sentence, all of them at once (``MaskProblems``). The portal's
annotation campaigns call this with the bytes a browser sent; nothing here knows about storage.
"""

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from evaluation.io import ImageRefused, image_header_read, image_read, same_spacing, size_text, spacing_text
from evaluation.metrics import BoolArray

__all__ = [
    "MAX_MASK_BYTES",
    "MaskProblems",
    "StoredMask",
    "image_bytes_read",
    "mask_check",
    "mask_image_bytes",
]

MAX_MASK_BYTES = 512 * 1024 * 1024
"""The largest mask file a save takes: a 512x512x512 uint8 NIfTI is 128 MiB."""


class MaskProblems(ValueError):
    """A saved mask was refused; ``problems`` holds one sentence per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(" ".join(self.problems))


@dataclass(frozen=True, eq=False)
class StoredMask:
    """A checked mask ready to store: the gzipped uint8 NIfTI bytes and what they hold."""

    nifti_bytes: bytes
    lesion_voxels: int
    lesion_volume_ml: float


class _MaskTooLarge(Exception):
    """A mask declaring more voxels than its case's grid holds; ``size`` is what it declares."""

    def __init__(self, size: Sequence[int]) -> None:
        self.size = tuple(size)
        super().__init__(size_text(size))


def image_bytes_read(content: bytes, *, max_voxels: int | None = None) -> Any:  # Any: SimpleITK is untyped
    """Read image bytes in the format their content is (``evaluation.io.image_read``).

    Raises ``ImageRefused`` for anything but a self-contained NIfTI-1 or MetaImage, and (internally, for
    ``mask_check``) ``_MaskTooLarge`` for a grid over ``max_voxels`` voxels, before a voxel is read.
    """
    with tempfile.TemporaryDirectory(prefix="mask-") as folder:
        path = Path(folder) / "mask"
        path.write_bytes(content)
        header = image_header_read(path, max_voxels=None)
        if max_voxels is not None and header.voxels > max_voxels:
            raise _MaskTooLarge(header.size)
        return image_read(path)


def _size_problem(size: Sequence[int], *, shape: Sequence[int], case: str) -> str:
    return (
        f"The mask is {size_text(size)} voxels but case {case}'s reference image is "
        f"{size_text(shape[:3])}; draw on the case's own image."
    )


def _grid_problems(image: Any, *, shape: Sequence[int], spacing_mm: Sequence[float], case: str) -> list[str]:
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        return [f"The mask of {case} is not a 3D single-channel image; save it from the drawing page."]
    problems = []
    size = tuple(int(n) for n in image.GetSize())
    if size != tuple(shape[:3]):
        problems.append(_size_problem(size, shape=shape, case=case))
    spacing = tuple(float(value) for value in image.GetSpacing())
    if not same_spacing(spacing, spacing_mm[:3]):
        problems.append(
            f"The mask's voxels are {spacing_text(spacing)} mm but case {case}'s are "
            f"{spacing_text(spacing_mm[:3])} mm; draw on the case's own image."
        )
    return problems


def mask_image_bytes(mask: BoolArray, *, like: Any) -> bytes:
    """Gzipped uint8 NIfTI bytes of a ``[z, y, x]`` mask with the geometry of the image ``like``."""
    image: Any = sitk.GetImageFromArray(mask.astype(np.uint8))  # Any: its methods are untyped
    image.CopyInformation(like)
    with tempfile.TemporaryDirectory(prefix="mask-") as folder:
        path = Path(folder) / "mask.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        return path.read_bytes()


def mask_check(*, content: bytes, shape: Sequence[int], spacing_mm: Sequence[float], case: str) -> StoredMask:
    """Check a saved mask against the case's reference image and binarise it with ``> 0``.

    ``shape`` and ``spacing_mm`` are the reference image's, along x, y, z. The lesion volume is the
    lesion voxel count times the reference voxel volume: ``n * sx * sy * sz / 1000`` ml.

    Raises
    ------
    MaskProblems
        With one sentence per problem: no bytes, over ``MAX_MASK_BYTES``, not a readable self-contained
        image, a grid declaring more voxels than the reference (from its header, before a voxel is
        read), not 3D single-channel, another size or spacing, values that are not finite or negative.
    """
    if not content:
        raise MaskProblems(["The mask is empty (no bytes were sent); save it again from the drawing page."])
    if len(content) > MAX_MASK_BYTES:
        raise MaskProblems([f"The mask is over {MAX_MASK_BYTES // 2**20} MiB; a lesion mask is far smaller."])
    try:
        image = image_bytes_read(content, max_voxels=math.prod(shape[:3]))
    except _MaskTooLarge as too_large:
        raise MaskProblems([_size_problem(too_large.size, shape=shape, case=case)]) from None
    except ImageRefused:
        raise MaskProblems(
            ["The mask is not a readable NIfTI image; save it again from the drawing page."]
        ) from None
    problems = _grid_problems(image, shape=shape, spacing_mm=spacing_mm, case=case)
    voxels = sitk.GetArrayViewFromImage(image) if not problems else None
    if voxels is not None and not np.isfinite(voxels).all():
        problems.append("The mask holds values that are not numbers; a mask holds 0 and 1.")
    if voxels is not None and (voxels < 0).any():
        problems.append("The mask holds negative values; a mask holds 0 for background and 1 for lesion.")
    if problems or voxels is None:
        raise MaskProblems(problems)
    mask = np.asarray(voxels > 0)
    lesion_voxels = int(mask.sum())
    return StoredMask(
        nifti_bytes=mask_image_bytes(mask, like=image),
        lesion_voxels=lesion_voxels,
        lesion_volume_ml=lesion_voxels * math.prod(spacing_mm[:3]) / 1000.0,
    )
