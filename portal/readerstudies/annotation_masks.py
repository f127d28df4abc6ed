"""Lesion masks of annotation campaigns as files: checking what a browser saved, and reading stored masks.

A mask an annotator saves arrives as the bytes of a NIfTI file (NiiVue writes its drawing uncompressed;
a gzipped one is read too, and a MetaImage from an organizer's archive). Its format is decided by its
content and only a self-contained file is read (``evaluation.io``, as every reader of participant files
does), its declared grid checked before its voxels are read. It must be a 3D image of the size and
spacing of the case's reference image; it is binarised with ``> 0`` and stored as gzipped uint8 with the
geometry it came with. Every problem is one sentence, all of them at once.
"""

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from django.core.exceptions import ValidationError
from django.db.models.fields.files import FieldFile

from evaluation.io import ImageRefused, image_header_read, image_read, same_spacing, size_text, spacing_text
from evaluation.metrics import BoolArray

MAX_MASK_BYTES = 512 * 1024 * 1024
"""The largest mask file a save takes: a 512x512x512 uint8 NIfTI is 128 MiB."""


class MaskRefused(ValidationError):
    """A saved mask was refused; ``messages`` holds one sentence per problem."""


@dataclass(frozen=True, eq=False)
class StoredMask:
    """A checked mask ready to store: the gzipped uint8 NIfTI bytes and what they hold."""

    nifti_bytes: bytes
    lesion_voxels: int
    lesion_volume_ml: float


def _image_read(content: bytes, *, max_voxels: int | None = None) -> Any:  # Any: SimpleITK is untyped
    """Read image bytes in the format their content is (``evaluation.io.image_read``); ``ImageRefused``
    for anything but a self-contained NIfTI-1 or MetaImage, and for a grid over ``max_voxels`` voxels
    (then raised as ``MaskTooLarge`` with the size it declares, before a voxel is read)."""
    with tempfile.TemporaryDirectory(prefix="mask-") as folder:
        path = Path(folder) / "mask"
        path.write_bytes(content)
        header = image_header_read(path, max_voxels=None)
        if max_voxels is not None and header.voxels > max_voxels:
            raise _MaskTooLarge(header.size)
        return image_read(path)


class _MaskTooLarge(Exception):
    """A mask declaring more voxels than its case's grid holds; ``size`` is what it declares."""

    def __init__(self, size: Sequence[int]) -> None:
        self.size = tuple(size)
        super().__init__(size_text(size))


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
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.CopyInformation(like)
    with tempfile.TemporaryDirectory(prefix="mask-") as folder:
        path = Path(folder) / "mask.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        return path.read_bytes()


def mask_check(*, content: bytes, shape: Sequence[int], spacing_mm: Sequence[float], case: str) -> StoredMask:
    """Check a saved mask against the case's reference image (``shape`` and ``spacing_mm`` along x, y, z)
    and binarise it with ``> 0``. Its format comes from its content (NIfTI-1, gzipped or not, or a
    self-contained MetaImage). Raises ``MaskRefused`` with one sentence per problem."""
    if not content:
        raise MaskRefused("The mask is empty (no bytes were sent); save it again from the drawing page.")
    if len(content) > MAX_MASK_BYTES:
        raise MaskRefused(f"The mask is over {MAX_MASK_BYTES // 2**20} MiB; a lesion mask is far smaller.")
    try:
        image = _image_read(content, max_voxels=math.prod(shape[:3]))
    except _MaskTooLarge as too_large:
        raise MaskRefused(_size_problem(too_large.size, shape=shape, case=case)) from None
    except ImageRefused:
        raise MaskRefused(
            "The mask is not a readable NIfTI image; save it again from the drawing page."
        ) from None
    problems = _grid_problems(image, shape=shape, spacing_mm=spacing_mm, case=case)
    voxels = sitk.GetArrayViewFromImage(image) if not problems else None
    if voxels is not None and not np.isfinite(voxels).all():
        problems.append("The mask holds values that are not numbers; a mask holds 0 and 1.")
    if voxels is not None and (voxels < 0).any():
        problems.append("The mask holds negative values; a mask holds 0 for background and 1 for lesion.")
    if problems or voxels is None:
        raise MaskRefused(problems)
    mask = np.asarray(voxels > 0)
    lesion_voxels = int(mask.sum())
    return StoredMask(
        nifti_bytes=mask_image_bytes(mask, like=image),
        lesion_voxels=lesion_voxels,
        lesion_volume_ml=lesion_voxels * math.prod(spacing_mm[:3]) / 1000.0,
    )


def stored_image_read(field_file: FieldFile) -> Any:  # Any: SimpleITK's Image is untyped
    """A stored NIfTI mask as a SimpleITK image."""
    with field_file.open("rb") as stored:
        return _image_read(stored.read())


def mask_array_read(field_file: FieldFile) -> BoolArray:
    """The stored mask ``[z, y, x]`` as booleans (``> 0``)."""
    return np.asarray(sitk.GetArrayFromImage(stored_image_read(field_file)) > 0)


def image_copy(field_file: FieldFile, *, folder: Path, name: str) -> Path:
    """A local copy of a stored image (keeping its .nii.gz, .nii or .mha suffix in ``name``)."""
    path = folder / name
    with field_file.open("rb") as stored, path.open("wb") as copy:
        while chunk := stored.read(2**20):
            copy.write(chunk)
    return path
