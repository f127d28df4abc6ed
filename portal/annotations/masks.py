"""Lesion masks of annotation campaigns as stored files: the Django side of ``evaluation.annotation_masks``.

Checking, binarising and re-encoding a saved mask is pure (``evaluation.annotation_masks``); here its
refusal becomes a ``ValidationError`` (``MaskRefused``, one message per problem) that pages and the API
show, and stored masks are read from their ``FieldFile``.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from django.core.exceptions import ValidationError
from django.db.models.fields.files import FieldFile

from evaluation import annotation_masks
from evaluation.annotation_masks import StoredMask, image_bytes_read
from evaluation.metrics import BoolArray


class MaskRefused(ValidationError):
    """A saved mask was refused; ``messages`` holds one sentence per problem."""


def mask_check(*, content: bytes, shape: Sequence[int], spacing_mm: Sequence[float], case: str) -> StoredMask:
    """Check a saved mask against the case's reference image (``shape`` and ``spacing_mm`` along x, y, z)
    and binarise it with ``> 0`` (``evaluation.annotation_masks.mask_check``). Raises ``MaskRefused`` with
    one sentence per problem."""
    try:
        return annotation_masks.mask_check(content=content, shape=shape, spacing_mm=spacing_mm, case=case)
    except annotation_masks.MaskProblems as refused:
        raise MaskRefused(list(refused.problems)) from None


def stored_image_read(field_file: FieldFile) -> Any:  # Any: SimpleITK's Image is untyped
    """A stored NIfTI mask as a SimpleITK image."""
    with field_file.open("rb") as stored:
        return image_bytes_read(stored.read())


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
