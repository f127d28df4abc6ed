"""Metrics of one case: binary lesion masks in, a number out; pure functions with no I/O.

Families live in their own modules (``overlap``, ``volume``, ``lesion``, ``distance``), after
``skimage.metrics`` and ``monai.metrics``. Every function takes boolean arrays of equal shape (binarise with
``> 0`` first, as ``evaluation.io.read_mask`` does) and raises ``ValueError`` otherwise. Spacing, where it
matters, is the ground truth's, in millimetres, in ``(x, y, z)`` order for arrays indexed ``[z, y, x]``.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray", "check_mask_pair", "check_spacing"]

BoolArray = npt.NDArray[np.bool_]


def check_mask_pair(ground_truth: BoolArray, prediction: BoolArray) -> None:
    """Raise ``ValueError`` unless both masks are boolean arrays of one shape."""
    if ground_truth.shape != prediction.shape:
        raise ValueError(
            f"The prediction is {'x'.join(map(str, prediction.shape))} voxels but the ground truth is "
            f"{'x'.join(map(str, ground_truth.shape))}."
        )
    for role, mask in (("ground truth", ground_truth), ("prediction", prediction)):
        if mask.dtype != np.bool_:
            raise ValueError(f"The {role} holds {mask.dtype} values; binarise it with `> 0` first.")


def check_spacing(spacing_mm: Sequence[float], *, ndim: int) -> tuple[float, ...]:
    """The spacing reversed into array axis order, after checking it has one positive value per axis."""
    if len(spacing_mm) != ndim or not all(s > 0 for s in spacing_mm):
        raise ValueError(f"Spacing {tuple(spacing_mm)} mm must give one positive value per axis ({ndim}).")
    return tuple(float(s) for s in reversed(spacing_mm))
