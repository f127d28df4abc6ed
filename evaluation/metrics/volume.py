"""Lesion volumes in millilitres, from voxel counts and the ground truth's voxel spacing."""

import math
from collections.abc import Sequence

import numpy as np

from evaluation.metrics import BoolArray, check_mask_pair, check_spacing

__all__ = ["absolute_volume_difference_ml", "lesion_volume_ml"]


def lesion_volume_ml(mask: BoolArray, *, spacing_mm: Sequence[float]) -> float:
    """Volume of a binary mask: ``|M| * sx * sy * sz / 1000`` ml, in [0, inf).

    ``spacing_mm`` is the voxel size in mm, ``(x, y, z)``; take it from the ground truth header. Used for the
    predicted and the reference volume columns (clinical correlation). An empty mask has volume 0.0.

    Examples
    --------
    >>> lesion_volume_ml(np.ones((2, 5, 10), bool), spacing_mm=(1.0, 1.0, 10.0))  # 100 voxels of 10 mm3
    1.0
    """
    check_spacing(spacing_mm, ndim=mask.ndim)
    return int(np.count_nonzero(mask)) * math.prod(spacing_mm) / 1000.0


def absolute_volume_difference_ml(
    ground_truth: BoolArray, prediction: BoolArray, *, spacing_mm: Sequence[float]
) -> float:
    """Absolute volume difference ``| |G| - |P| | * voxel volume`` in ml, in [0, inf), lower is better.

    The voxel volume is the product of the ground truth's ``spacing_mm`` (mm, ``(x, y, z)``) over 1000,
    never the prediction header's. Both empty gives 0.0; an empty prediction gives the ground truth volume.
    Shapes that differ raise ``ValueError`` (the ISLES'22 reference code only warns and computes on).
    Reference: ISLES'24 evaluation, ``compute_absolute_volume_difference``.

    Examples
    --------
    >>> ground_truth = np.zeros((2, 2, 2), bool); ground_truth[0] = True  # 4 voxels
    >>> absolute_volume_difference_ml(ground_truth, np.zeros((2, 2, 2), bool), spacing_mm=(0.5, 0.5, 2.0))
    0.002
    """
    check_mask_pair(ground_truth, prediction)
    check_spacing(spacing_mm, ndim=ground_truth.ndim)
    difference = abs(int(np.count_nonzero(ground_truth)) - int(np.count_nonzero(prediction)))
    return difference * math.prod(spacing_mm) / 1000.0
