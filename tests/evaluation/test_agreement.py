"""Agreement between annotators and their STAPLE consensus, on tiny masks whose answers are known."""

import doctest
from pathlib import Path

import numpy as np
import pytest

from evaluation import agreement
from evaluation.agreement import (
    STARTING_MASK,
    agreement_with_starting_mask,
    pairwise_agreement,
    staple_consensus,
)
from evaluation.io import read_mask
from tests.evaluation.masks import ANISOTROPIC_MM, write_mask

SPACING_MM = (1.0, 1.0, 2.0)  # 2 mm3 per voxel


def lesion() -> np.ndarray:
    """A 2x3x3 = 18-voxel lesion in an 8x10x10 volume."""
    mask = np.zeros((8, 10, 10), dtype=bool)
    mask[2:4, 2:5, 2:5] = True
    return mask


def with_outlier() -> np.ndarray:
    """The lesion plus a separate 2x2x2 = 8-voxel region no other annotator marks."""
    mask = lesion()
    mask[6:8, 7:9, 7:9] = True
    return mask


def test_the_docstring_examples_give_the_values_they_show() -> None:
    result = doctest.testmod(agreement, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_staple_of_three_masks_read_from_files_leaves_out_one_annotator_outlier(tmp_path: Path) -> None:
    paths = {
        "ana": write_mask(tmp_path / "ana.nii.gz", lesion().astype(np.uint8), spacing_mm=ANISOTROPIC_MM),
        "ben": write_mask(tmp_path / "ben.nii.gz", lesion().astype(np.uint16) * 65535),
        "cleo": write_mask(tmp_path / "cleo.mha", with_outlier().astype(np.uint8)),
    }
    masks = {name: read_mask(path).array for name, path in paths.items()}

    consensus = staple_consensus(masks)

    assert np.array_equal(consensus.mask, lesion())
    assert [estimate.annotator for estimate in consensus.annotators] == ["ana", "ben", "cleo"]


def test_staple_rates_the_annotator_who_marked_the_outlier_least_specific() -> None:
    undersized = lesion()
    undersized[3] = False  # marks half of the lesion only

    consensus = staple_consensus(
        {"ana": lesion(), "ben": lesion(), "cleo": with_outlier(), "dan": undersized}
    )
    estimates = {estimate.annotator: estimate for estimate in consensus.annotators}

    assert np.array_equal(consensus.mask, lesion())
    assert estimates["ana"].sensitivity == pytest.approx(1.0)
    assert estimates["ana"].specificity == pytest.approx(1.0)
    assert estimates["cleo"].specificity < estimates["ana"].specificity
    assert estimates["cleo"].sensitivity == pytest.approx(1.0)
    assert estimates["dan"].sensitivity == pytest.approx(0.5, abs=0.01)
    assert estimates["dan"].specificity == pytest.approx(1.0)


def test_staple_of_empty_masks_is_an_empty_consensus_with_perfect_annotators() -> None:
    empty = np.zeros((2, 3, 3), dtype=bool)

    consensus = staple_consensus({"ana": empty, "ben": empty})

    assert not consensus.mask.any()
    assert all(e.sensitivity == 1.0 and e.specificity == 1.0 for e in consensus.annotators)


def test_pairwise_agreement_of_identical_masks_is_dice_one_and_no_volume_difference() -> None:
    (pair,) = pairwise_agreement({"ana": lesion(), "ben": lesion()}, spacing_mm=SPACING_MM)

    assert (pair.annotator, pair.other) == ("ana", "ben")
    assert pair.dice == 1.0
    assert pair.volume_difference_ml == 0.0


def test_pairwise_agreement_of_disjoint_masks_is_dice_zero() -> None:
    elsewhere = np.roll(lesion(), 5, axis=2)

    (pair,) = pairwise_agreement({"ana": lesion(), "ben": elsewhere}, spacing_mm=SPACING_MM)

    assert pair.dice == 0.0
    assert pair.volume_difference_ml == 0.0


def test_pairwise_agreement_covers_every_pair_with_the_volume_difference_in_ml() -> None:
    pairs = pairwise_agreement(
        {"ana": lesion(), "ben": lesion(), "cleo": with_outlier()}, spacing_mm=SPACING_MM
    )

    assert [(pair.annotator, pair.other) for pair in pairs] == [
        ("ana", "ben"),
        ("ana", "cleo"),
        ("ben", "cleo"),
    ]
    assert pairs[1].dice == pytest.approx(2 * 18 / (18 + 26))
    assert pairs[1].volume_difference_ml == pytest.approx(8 * 2 / 1000)


def test_agreement_with_starting_mask_says_how_much_each_annotator_changed_it() -> None:
    rows = agreement_with_starting_mask(
        {"ana": lesion(), "cleo": with_outlier()}, starting_mask=lesion(), spacing_mm=SPACING_MM
    )

    assert [(row.annotator, row.other, row.dice) for row in rows] == [
        ("ana", STARTING_MASK, 1.0),
        ("cleo", STARTING_MASK, pytest.approx(36 / 44)),
    ]


def test_masks_of_different_shapes_are_refused_with_a_sentence_naming_them() -> None:
    smaller = np.zeros((8, 10, 9), dtype=bool)

    with pytest.raises(ValueError, match=r"not on one grid \(ana 10x10x8, ben 9x10x8 voxels\)"):
        pairwise_agreement({"ana": lesion(), "ben": smaller}, spacing_mm=SPACING_MM)
    with pytest.raises(ValueError, match="not on one grid"):
        staple_consensus({"ana": lesion(), "ben": smaller})


def test_one_mask_is_refused_and_so_is_an_unbinarised_one() -> None:
    with pytest.raises(ValueError, match="at least 2 annotators' masks; 1 given"):
        staple_consensus({"ana": lesion()})
    with pytest.raises(ValueError, match="The mask of ben holds uint8 values"):
        staple_consensus({"ana": lesion(), "ben": lesion().astype(np.uint8)})
