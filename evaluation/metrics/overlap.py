"""Voxel-overlap metrics of two binary masks: Dice, precision and recall."""

import numpy as np

from evaluation.metrics import BoolArray, check_mask_pair

__all__ = ["dice", "voxel_precision", "voxel_recall"]


def dice(ground_truth: BoolArray, prediction: BoolArray, *, empty_value: float = 1.0) -> float:
    """Sorensen-Dice coefficient of two binary lesion masks over the whole volume.

    ``2 |G & P| / (|G| + |P|)``, in [0, 1], higher is better, unitless.

    Parameters
    ----------
    ground_truth, prediction : bool arrays of one shape.
    empty_value : value when both masks are empty; 1.0, as in the ISLES'22 and ISLES'24 reference code.

    Notes
    -----
    Exactly one mask empty gives 0.0. Shapes that differ raise ``ValueError``.
    Reference: Dice (1945), doi:10.2307/1932409; ISLES'24 evaluation (panoptica ``global_bin_dsc``).

    Examples
    --------
    >>> dice(np.ones((2, 2), bool), np.eye(2, dtype=bool))  # 2 * 2 / (4 + 2)
    0.666...
    """
    check_mask_pair(ground_truth, prediction)
    total = int(np.count_nonzero(ground_truth)) + int(np.count_nonzero(prediction))
    if total == 0:
        return float(empty_value)
    return 2.0 * int(np.count_nonzero(ground_truth & prediction)) / int(total)


def voxel_precision(ground_truth: BoolArray, prediction: BoolArray, *, empty_value: float = 1.0) -> float:
    """Fraction of predicted voxels that are lesion: ``|G & P| / |P|``, in [0, 1], higher is better.

    An empty prediction gives ``empty_value`` (1.0: it claims nothing wrong) even when the ground truth
    has lesion; read it beside recall. Shapes that differ raise ``ValueError``.
    Reference: the voxel-wise precision of the ISLES'22 evaluation container.

    Examples
    --------
    >>> voxel_precision(np.eye(2, dtype=bool), np.ones((2, 2), bool))  # 2 / 4
    0.5
    """
    check_mask_pair(ground_truth, prediction)
    predicted = int(np.count_nonzero(prediction))
    if predicted == 0:
        return float(empty_value)
    return int(np.count_nonzero(ground_truth & prediction)) / predicted


def voxel_recall(ground_truth: BoolArray, prediction: BoolArray, *, empty_value: float = 1.0) -> float:
    """Fraction of lesion voxels predicted (sensitivity): ``|G & P| / |G|``, in [0, 1], higher is better.

    An empty ground truth gives ``empty_value`` (1.0: nothing was missed). Shapes that differ raise
    ``ValueError``. Reference: the voxel-wise recall of the ISLES'22 evaluation container.

    Examples
    --------
    >>> voxel_recall(np.ones((2, 2), bool), np.eye(2, dtype=bool))  # 2 / 4
    0.5
    """
    check_mask_pair(ground_truth, prediction)
    reference = int(np.count_nonzero(ground_truth))
    if reference == 0:
        return float(empty_value)
    return int(np.count_nonzero(ground_truth & prediction)) / reference
