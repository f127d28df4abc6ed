"""Label fusion: one lesion mask from the masks of several members, as an ensemble of submissions builds it.

Two rules, each a pure function of binary masks of one shape:

- :func:`majority_vote` (DeepISLES's rule): a voxel is lesion when more than half of the members mark it,
  so with an even number of members a tie is background;
- :func:`staple` (Warfield, Zou and Wells 2004): the expectation-maximisation estimate of the true
  segmentation and of each member's sensitivity and specificity; a voxel is lesion when its estimated
  probability is over one half.

:func:`fuse` applies a rule by name (``FusionRule``). The portal's ensembles and the reference U-Net
ensemble (``inference.reference.unet``) use the same majority vote.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

__all__ = ["FUSION_RULES", "FusionRule", "StapleEstimate", "fuse", "majority_vote", "staple"]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
FusionRule = Literal["majority_vote", "staple"]
FUSION_RULES: Final[tuple[FusionRule, ...]] = get_args(FusionRule)

# Rates are kept this far from 0 and 1, so a member that agrees with the estimate everywhere does not make
# the logarithms of the E-step infinite (ITK's STAPLEImageFilter starts from 0.99999 for the same reason).
_RATE_MARGIN: Final = 1e-10
# A voxel's decisions are coded as the bits of one number, and each of the 2^members codes gets a weight.
_MAX_STAPLE_MEMBERS: Final = 20


def _binary_masks(member_masks: Sequence[BoolArray]) -> list[BoolArray]:
    """The members' masks binarised with ``> 0`` (a view where they are boolean already); ``ValueError``
    when there are none or their shapes differ. They are not stacked: at ISLES size (512 x 512 x 80) each
    is 21 million voxels, and a stack or its sum as int64 would cost several times the masks themselves."""
    if len(member_masks) == 0:
        raise ValueError("Fusion needs at least one member's mask.")
    shapes = {np.shape(mask) for mask in member_masks}
    if len(shapes) != 1:
        raise ValueError(f"The members' masks differ in shape: {sorted(shapes)}.")
    return [
        mask if mask.dtype == np.bool_ else np.asarray(mask) > 0 for mask in map(np.asarray, member_masks)
    ]


def majority_vote(member_masks: Sequence[BoolArray]) -> BoolArray:
    """The voxel-wise majority of the members' masks.

    A voxel is lesion when more than half of the ``n`` members mark it (``2 * votes > n``); with an even
    ``n`` a tie is background, so two members give their intersection. Masks are binarised with ``> 0``.

    Parameters
    ----------
    member_masks : sequence of arrays
        One mask per member, all of one shape.

    Returns
    -------
    numpy.ndarray of bool
        The fused mask, of the members' shape.

    Raises
    ------
    ValueError
        If there is no mask or the shapes differ.

    References
    ----------
    de la Rosa et al. (2025), "DeepISLES: a clinically validated ischemic stroke segmentation model from
    the ISLES'22 challenge", Nat. Commun. (the binary majority vote of its three members).

    Examples
    --------
    >>> majority_vote([np.array([1, 1, 0], bool), np.array([1, 0, 0], bool), np.array([0, 1, 1], bool)])
    array([ True,  True, False])
    >>> majority_vote([np.array([1, 1, 0], bool), np.array([1, 0, 0], bool)])  # a tie is background
    array([ True, False, False])
    """
    masks = _binary_masks(member_masks)
    votes = np.zeros(masks[0].shape, dtype=np.uint16 if len(masks) < 2**16 else np.uint32)
    for mask in masks:
        votes += mask
    return np.asarray(votes > len(masks) // 2)  # for whole numbers the same as 2 * votes > n


@dataclass(frozen=True)
class StapleEstimate:
    """STAPLE's result: the fused mask, each voxel's probability of lesion, and per member (in the order
    given) the estimated sensitivity and specificity; ``iterations`` EM steps were taken."""

    mask: BoolArray
    probability: FloatArray
    sensitivity: tuple[float, ...]
    specificity: tuple[float, ...]
    iterations: int
    converged: bool


def staple(
    member_masks: Sequence[BoolArray],
    *,
    prior: float | None = None,
    initial_sensitivity: float = 0.99999,
    initial_specificity: float = 0.99999,
    max_iterations: int = 1000,
    tolerance: float = 1e-8,
) -> StapleEstimate:
    """Simultaneous truth and performance level estimation (STAPLE) for binary masks.

    Expectation-maximisation over the unknown true mask ``T``. With member ``j``'s decision ``D_ij`` at
    voxel ``i``, its sensitivity ``p_j`` and specificity ``q_j``, and the prior ``f = P(T_i = 1)``:

    - E-step: ``W_i = a_i / (a_i + b_i)`` with
      ``a_i = f * prod_j p_j^D_ij (1 - p_j)^(1 - D_ij)`` and
      ``b_i = (1 - f) * prod_j q_j^(1 - D_ij) (1 - q_j)^D_ij``;
    - M-step: ``p_j = sum_i W_i D_ij / sum_i W_i`` and
      ``q_j = sum_i (1 - W_i)(1 - D_ij) / sum_i (1 - W_i)``;

    until no rate moves by more than ``tolerance`` (or ``max_iterations``). The mask is ``W > 0.5``. The
    prior defaults to the fraction of all members' voxels marked lesion, as ITK's ``STAPLEImageFilter``
    computes it. Voxels with the same decisions of all members share ``W``, so the E-step runs once per
    pattern of decisions (at most 2^members) rather than per voxel. Masks are binarised with ``> 0``.
    When no member marks a voxel the mask is empty (probabilities 0, every sensitivity NaN, every
    specificity 1).

    Parameters
    ----------
    member_masks : sequence of arrays
        One mask per member (at most 20), all of one shape.
    prior : float, optional
        ``P(T_i = 1)`` in (0, 1); by default the members' mean lesion fraction.
    initial_sensitivity, initial_specificity : float
        The rates every member starts from, in (0, 1).
    max_iterations : int
        The most EM steps taken.
    tolerance : float
        The largest change of a rate between steps at which the estimate has converged.

    Returns
    -------
    StapleEstimate

    Raises
    ------
    ValueError
        If there is no mask, the shapes differ, there are more than 20 members, or a rate is outside (0, 1).

    References
    ----------
    Warfield, Zou and Wells (2004), "Simultaneous truth and performance level estimation (STAPLE): an
    algorithm for the validation of image segmentation", IEEE Trans. Med. Imaging 23(7):903-921,
    doi:10.1109/TMI.2004.828354.

    Examples
    --------
    Three members; the third marks one voxel the other two do not.

    >>> estimate = staple([np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0]), np.array([1, 1, 1, 0])])
    >>> estimate.mask
    array([ True,  True, False, False])
    >>> [round(rate, 3) for rate in estimate.specificity]
    [1.0, 1.0, 0.5]
    """
    masks = _binary_masks(member_masks)
    members, shape = len(masks), masks[0].shape
    if members > _MAX_STAPLE_MEMBERS:
        raise ValueError(f"STAPLE here takes at most {_MAX_STAPLE_MEMBERS} members, got {members}.")
    for name, rate in (
        ("prior", prior),
        ("initial_sensitivity", initial_sensitivity),
        ("initial_specificity", initial_specificity),
    ):
        if rate is not None and not 0.0 < rate < 1.0:
            raise ValueError(f"{name} must lie strictly between 0 and 1, got {rate}.")
    marked = sum(int(np.count_nonzero(mask)) for mask in masks)
    if marked == 0:
        return StapleEstimate(
            mask=np.zeros(shape, dtype=bool),
            probability=np.zeros(shape, dtype=np.float64),
            sensitivity=(float("nan"),) * members,
            specificity=(1.0,) * members,
            iterations=0,
            converged=True,
        )
    # Each voxel's decisions as the bits of one code; the EM runs on the 2^members codes, weighted by count.
    code_type = np.uint8 if members <= 8 else np.uint16 if members <= 16 else np.uint32
    codes = np.zeros(shape, dtype=code_type)
    for bit, mask in enumerate(masks):
        np.bitwise_or(codes, 1 << bit, out=codes, where=mask)
    counts = np.bincount(codes.ravel(), minlength=1 << members)
    patterns = np.arange(1 << members)
    decisions = ((patterns[:, None] >> np.arange(members)[None, :]) & 1).astype(np.float64)  # (code, member)
    weights = counts.astype(np.float64)
    lesion_prior = marked / (members * codes.size) if prior is None else prior
    sensitivity = np.full(members, initial_sensitivity)
    specificity = np.full(members, initial_specificity)
    probability = np.zeros(len(patterns), dtype=np.float64)
    iterations, converged = 0, False
    while iterations < max_iterations and not converged:
        iterations += 1
        probability = _staple_expectation(decisions, lesion_prior, sensitivity, specificity)
        lesion_weight = weights * probability
        background_weight = weights * (1.0 - probability)
        new_sensitivity = (lesion_weight @ decisions) / max(lesion_weight.sum(), np.finfo(float).tiny)
        new_specificity = (background_weight @ (1.0 - decisions)) / max(
            background_weight.sum(), np.finfo(float).tiny
        )
        change = max(
            float(np.max(np.abs(new_sensitivity - sensitivity))),
            float(np.max(np.abs(new_specificity - specificity))),
        )
        sensitivity, specificity = new_sensitivity, new_specificity
        converged = change <= tolerance
    probability = _staple_expectation(decisions, lesion_prior, sensitivity, specificity)
    voxel_probability = probability[codes]
    return StapleEstimate(
        mask=np.asarray(voxel_probability > 0.5),
        probability=voxel_probability,
        sensitivity=tuple(float(rate) for rate in sensitivity),
        specificity=tuple(float(rate) for rate in specificity),
        iterations=iterations,
        converged=converged,
    )


def _staple_expectation(
    decisions: FloatArray, prior: float, sensitivity: FloatArray, specificity: FloatArray
) -> FloatArray:
    """STAPLE's E-step, in logarithms: the probability of lesion for each pattern of decisions."""
    p = np.clip(sensitivity, _RATE_MARGIN, 1.0 - _RATE_MARGIN)
    q = np.clip(specificity, _RATE_MARGIN, 1.0 - _RATE_MARGIN)
    log_lesion = np.log(prior) + decisions @ np.log(p) + (1.0 - decisions) @ np.log1p(-p)
    log_background = np.log1p(-prior) + (1.0 - decisions) @ np.log(q) + decisions @ np.log1p(-q)
    return np.asarray(1.0 / (1.0 + np.exp(np.clip(log_background - log_lesion, -700.0, 700.0))))


def fuse(member_masks: Sequence[BoolArray], *, rule: FusionRule) -> BoolArray:
    """The fused mask of the members' masks by ``rule`` (``majority_vote`` or ``staple``, with its
    defaults); ``ValueError`` for another rule, or as the rule raises."""
    if rule == "majority_vote":
        return majority_vote(member_masks)
    if rule == "staple":
        return staple(member_masks).mask
    raise ValueError(f"There is no fusion rule {rule!r}; choose one of {', '.join(FUSION_RULES)}.")
