"""Surface-distance metrics with anisotropic spacing: 95th-percentile Hausdorff distance and surface Dice.

One pinned definition: a mask's surface is its voxels with at least one face neighbour (6-connectivity)
outside the mask or outside the volume; distances are Euclidean between voxel centres, in mm, from
``scipy.ndimage.distance_transform_edt`` with the ground truth's spacing. Both metrics only look inside the
bounding box of the two masks, which holds every surface voxel, so cropping does not change them.
"""

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from evaluation.metrics import BoolArray, check_mask_pair, check_spacing

__all__ = ["hausdorff_distance_95_mm", "surface_dice"]


def hausdorff_distance_95_mm(
    ground_truth: BoolArray,
    prediction: BoolArray,
    *,
    spacing_mm: Sequence[float],
    empty_value: float = 0.0,
    one_empty_value: float = math.inf,
) -> float:
    """95th-percentile Hausdorff distance between the two mask surfaces, in mm, in [0, inf), lower is better.

    ``max(P95 of d(g, P) over surface voxels g of G, P95 of d(p, G) over surface voxels p of P)``, with
    NumPy's linear percentile, as MONAI's ``compute_hausdorff_distance(percentile=95)`` and DeepMind's
    ``compute_robust_hausdorff`` take the larger directed value. Both masks empty gives ``empty_value``
    (0.0); exactly one empty gives ``one_empty_value`` (infinity: no surface to measure to).
    ``spacing_mm`` is the ground truth's voxel size, ``(x, y, z)``. Shapes that differ raise ``ValueError``.
    Reference: Huttenlocher et al. (1993), doi:10.1109/34.232073.

    >>> ground_truth = np.zeros((1, 1, 6), bool); ground_truth[0, 0, 0] = True
    >>> prediction = np.zeros((1, 1, 6), bool); prediction[0, 0, 3] = True
    >>> hausdorff_distance_95_mm(ground_truth, prediction, spacing_mm=(2.0, 1.0, 1.0))  # 3 voxels of 2 mm
    6.0
    """
    check_mask_pair(ground_truth, prediction)
    sampling = check_spacing(spacing_mm, ndim=ground_truth.ndim)
    directed = _directed_surface_distances(ground_truth, prediction, sampling=sampling)
    if directed is None:
        return _empty_policy(
            ground_truth, prediction, empty_value=empty_value, one_empty_value=one_empty_value
        )
    to_prediction, to_ground_truth = directed
    return float(max(np.percentile(to_prediction, 95), np.percentile(to_ground_truth, 95)))


def surface_dice(
    ground_truth: BoolArray,
    prediction: BoolArray,
    *,
    spacing_mm: Sequence[float],
    tolerance_mm: float,
    empty_value: float = 1.0,
    one_empty_value: float = 0.0,
) -> float:
    """Surface Dice at a tolerance: the share of surface voxels within ``tolerance_mm`` of the other surface.

    ``(|{g in S_G: d(g, S_P) <= t}| + |{p in S_P: d(p, S_G) <= t}|) / (|S_G| + |S_P|)``, in [0, 1], higher
    is better. Surfaces are counted in voxels, not in surface area (Nikolov et al. weigh surfels by area).
    Both masks empty gives ``empty_value`` (1.0); exactly one empty gives ``one_empty_value`` (0.0).
    ``spacing_mm`` is the ground truth's voxel size, ``(x, y, z)``. Shapes that differ raise ``ValueError``.
    Reference: Nikolov et al. (2021), doi:10.2196/26151.

    >>> ground_truth = np.zeros((1, 1, 6), bool); ground_truth[0, 0, 0] = True
    >>> prediction = np.zeros((1, 1, 6), bool); prediction[0, 0, 1] = True
    >>> surface_dice(ground_truth, prediction, spacing_mm=(1.0, 1.0, 1.0), tolerance_mm=1.0)
    1.0
    """
    check_mask_pair(ground_truth, prediction)
    sampling = check_spacing(spacing_mm, ndim=ground_truth.ndim)
    if tolerance_mm < 0:
        raise ValueError(f"The tolerance must be zero or more millimetres, not {tolerance_mm}.")
    directed = _directed_surface_distances(ground_truth, prediction, sampling=sampling)
    if directed is None:
        return _empty_policy(
            ground_truth, prediction, empty_value=empty_value, one_empty_value=one_empty_value
        )
    to_prediction, to_ground_truth = directed
    within = np.count_nonzero(to_prediction <= tolerance_mm) + np.count_nonzero(
        to_ground_truth <= tolerance_mm
    )
    return float(within / (to_prediction.size + to_ground_truth.size))


def _empty_policy(
    ground_truth: BoolArray, prediction: BoolArray, *, empty_value: float, one_empty_value: float
) -> float:
    both_empty = not ground_truth.any() and not prediction.any()
    return float(empty_value if both_empty else one_empty_value)


def _surface(mask: BoolArray) -> BoolArray:
    face_neighbours = ndimage.generate_binary_structure(mask.ndim, 1)
    surface: BoolArray = mask & ~ndimage.binary_erosion(mask, structure=face_neighbours, border_value=0)
    return surface


def _directed_surface_distances(
    ground_truth: BoolArray, prediction: BoolArray, *, sampling: tuple[float, ...]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Distances (mm) from each ground-truth surface voxel to the predicted surface, and back; None if a
    mask is empty."""
    union = ground_truth | prediction
    if not ground_truth.any() or not prediction.any():
        return None
    box = ndimage.find_objects(union.astype(np.uint8))[0]
    ground_truth_surface = _surface(ground_truth[box])
    prediction_surface = _surface(prediction[box])
    to_prediction = ndimage.distance_transform_edt(~prediction_surface, sampling=sampling)
    to_ground_truth = ndimage.distance_transform_edt(~ground_truth_surface, sampling=sampling)
    return to_prediction[ground_truth_surface], to_ground_truth[prediction_surface]
