"""How much annotators agree on a case's lesion mask, and the STAPLE consensus of their masks.

Pure NumPy and SimpleITK, no Django: the portal's annotation campaigns call it, and so can a script on an
organizer's laptop. Masks are boolean arrays indexed ``[z, y, x]`` (binarise with ``> 0`` first, as
``evaluation.io.read_mask`` does), all on the case's grid; ``spacing_mm`` is the case's voxel size in
``(x, y, z)`` order. Pairwise numbers reuse the challenge's own Dice and volume difference, so an
annotator's agreement reads on the same scale as a participant's score.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import SimpleITK as sitk

from evaluation.metrics import BoolArray
from evaluation.metrics.overlap import dice
from evaluation.metrics.volume import absolute_volume_difference_ml

__all__ = [
    "STARTING_MASK",
    "AnnotatorEstimate",
    "Consensus",
    "PairAgreement",
    "agreement_with_starting_mask",
    "pairwise_agreement",
    "staple_consensus",
]

STARTING_MASK: Final = "starting mask"
"""The name ``agreement_with_starting_mask`` gives the mask the annotators started from."""


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of two masks of one case: Dice (1 identical, 0 disjoint) and |volume difference| in ml."""

    annotator: str
    other: str
    dice: float
    volume_difference_ml: float


@dataclass(frozen=True)
class AnnotatorEstimate:
    """STAPLE's estimate of one annotator's voxel-wise sensitivity and specificity, each in [0, 1]."""

    annotator: str
    sensitivity: float
    specificity: float


@dataclass(frozen=True, eq=False)
class Consensus:
    """The STAPLE consensus mask of a case and each annotator's estimated performance, in the input order."""

    mask: BoolArray
    annotators: tuple[AnnotatorEstimate, ...]


def _check_masks(masks: Mapping[str, BoolArray], *, at_least: int) -> None:
    """Raise ``ValueError`` with a sentence unless there are enough boolean masks, all of one shape."""
    if len(masks) < at_least:
        raise ValueError(f"Agreement needs at least {at_least} annotators' masks; {len(masks)} given.")
    shapes = {name: mask.shape for name, mask in masks.items()}
    if len(set(shapes.values())) > 1:
        sizes = ", ".join(f"{name} {'x'.join(map(str, shape[::-1]))}" for name, shape in shapes.items())
        raise ValueError(f"The masks are not on one grid ({sizes} voxels); compare masks of one case only.")
    for name, mask in masks.items():
        if mask.dtype != np.bool_:
            raise ValueError(f"The mask of {name} holds {mask.dtype} values; binarise it with `> 0` first.")


def _pair(
    annotator: str, mask: BoolArray, other: str, other_mask: BoolArray, spacing_mm: Sequence[float]
) -> PairAgreement:
    return PairAgreement(
        annotator=annotator,
        other=other,
        dice=dice(mask, other_mask),
        volume_difference_ml=absolute_volume_difference_ml(mask, other_mask, spacing_mm=spacing_mm),
    )


def pairwise_agreement(
    masks: Mapping[str, BoolArray], *, spacing_mm: Sequence[float]
) -> tuple[PairAgreement, ...]:
    """Dice and absolute volume difference (ml) of every pair of annotators' masks of one case.

    Pairs come in the order of ``masks`` (a with b, a with c, b with c). Both masks empty gives Dice 1.0,
    as in the challenge's rule; one empty gives 0.0. Masks of different shapes raise ``ValueError``.

    Examples
    --------
    >>> lesion = np.zeros((1, 2, 2), bool); lesion[0, 0] = True
    >>> pairwise_agreement({"a": lesion, "b": lesion}, spacing_mm=(1.0, 1.0, 1.0))[0].dice
    1.0
    """
    _check_masks(masks, at_least=2)
    return tuple(
        _pair(first, masks[first], second, masks[second], spacing_mm)
        for first, second in itertools.combinations(masks, 2)
    )


def agreement_with_starting_mask(
    masks: Mapping[str, BoolArray], *, starting_mask: BoolArray, spacing_mm: Sequence[float]
) -> tuple[PairAgreement, ...]:
    """Dice and volume difference of each annotator's mask against the mask they started from.

    How much an expert changed a model's proposal (pre-annotation): Dice 1.0 means they kept it as it
    was. ``other`` is ``STARTING_MASK`` in every row. Masks of different shapes raise ``ValueError``.
    """
    _check_masks({**masks, STARTING_MASK: starting_mask}, at_least=2)
    return tuple(_pair(name, mask, STARTING_MASK, starting_mask, spacing_mm) for name, mask in masks.items())


def staple_consensus(masks: Mapping[str, BoolArray], *, threshold: float = 0.5) -> Consensus:
    """The STAPLE consensus of several annotators' masks of one case, and each one's estimated performance.

    STAPLE (Warfield et al. 2004, doi:10.1109/TMI.2004.828354) estimates, by expectation maximisation,
    each annotator's sensitivity and specificity and the probability that each voxel is lesion; the
    consensus is the voxels whose probability is at least ``threshold`` (0.5). SimpleITK's
    ``STAPLEImageFilter`` does the estimation, with lesion as foreground value 1.

    When no annotator marks any voxel STAPLE is undefined (SimpleITK returns NaN); the consensus is then
    empty and every annotator gets sensitivity and specificity 1.0 (nothing missed, nothing wrongly
    marked). Needs two masks or more, all of one shape; ``ValueError`` with a sentence otherwise.
    """
    _check_masks(masks, at_least=2)
    names = tuple(masks)
    if not any(mask.any() for mask in masks.values()):
        shape = next(iter(masks.values())).shape
        return Consensus(
            mask=np.zeros(shape, dtype=np.bool_),
            annotators=tuple(AnnotatorEstimate(name, 1.0, 1.0) for name in names),
        )
    images = [sitk.GetImageFromArray(masks[name].astype(np.uint8)) for name in names]
    # SimpleITK's classes carry no annotations: the filter is Any, its constructor an untyped call.
    staple: Any = sitk.STAPLEImageFilter()  # type: ignore[no-untyped-call]
    staple.SetForegroundValue(1.0)
    probability = sitk.GetArrayFromImage(staple.Execute(images))
    return Consensus(
        mask=np.asarray(probability >= threshold, dtype=np.bool_),
        annotators=tuple(
            AnnotatorEstimate(name, float(sensitivity), float(specificity))
            for name, sensitivity, specificity in zip(
                names, staple.GetSensitivity(), staple.GetSpecificity(), strict=True
            )
        ),
    )
