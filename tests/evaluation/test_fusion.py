"""Label fusion (``evaluation.fusion``): the majority vote of DeepISLES and STAPLE, on arrays small enough to
check by hand, and STAPLE against ITK's implementation on a noisy case."""

import numpy as np
import pytest
import SimpleITK as sitk

from evaluation.fusion import fuse, majority_vote, staple


def test_majority_vote_of_three_members_keeps_voxels_two_of_them_mark() -> None:
    first = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
    second = np.array([[1, 0, 1, 0], [1, 0, 0, 0]], dtype=bool)
    third = np.array([[0, 1, 1, 0], [1, 0, 0, 1]], dtype=bool)

    assert majority_vote([first, second, third]).tolist() == [
        [True, True, True, False],
        [True, False, False, False],
    ]


def test_majority_vote_of_two_members_treats_a_tie_as_background() -> None:
    assert majority_vote([np.array([1, 1, 0], bool), np.array([1, 0, 0], bool)]).tolist() == [
        True,
        False,
        False,
    ]


def test_majority_vote_of_four_members_needs_three_votes() -> None:
    votes = [np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]), np.array([1, 0, 0, 0])]

    assert majority_vote(votes).tolist() == [True, False, False, False]


def test_majority_vote_binarises_masks_stored_as_65535() -> None:
    masks = [np.array(values, np.uint16) for values in ([65535, 0], [65535, 65535], [0, 0])]

    assert majority_vote(masks).tolist() == [True, False]


@pytest.mark.parametrize("fusion", [majority_vote, staple])
def test_fusion_refuses_members_of_different_shapes(fusion: object) -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        fusion([np.zeros((2, 2), bool), np.zeros((2, 3), bool)])  # type: ignore[operator]  # both callables


@pytest.mark.parametrize("fusion", [majority_vote, staple])
def test_fusion_refuses_no_members(fusion: object) -> None:
    with pytest.raises(ValueError, match="at least one"):
        fusion([])  # type: ignore[operator]  # both callables


def test_staple_of_identical_members_is_their_mask_with_perfect_rates() -> None:
    mask = np.zeros((3, 4, 5), bool)
    mask[1, 1:3, 2:4] = True

    estimate = staple([mask, mask, mask])

    assert np.array_equal(estimate.mask, mask)
    assert estimate.sensitivity == pytest.approx((1.0, 1.0, 1.0))
    assert estimate.specificity == pytest.approx((1.0, 1.0, 1.0))
    assert estimate.converged


def test_staple_hand_checked_case_gives_the_outvoted_member_half_specificity() -> None:
    # Two members mark voxels 0 and 1; the third also marks voxel 2. The fixed point: T = {0, 1}, every
    # sensitivity 1, the first two specificities 1 and the third's 1/2 (one false voxel of the two negatives).
    estimate = staple([np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0]), np.array([1, 1, 1, 0])])

    assert estimate.mask.tolist() == [True, True, False, False]
    assert estimate.probability[2] == pytest.approx(0.0, abs=1e-6)
    assert estimate.sensitivity == pytest.approx((1.0, 1.0, 1.0))
    assert estimate.specificity == pytest.approx((1.0, 1.0, 0.5))


def test_staple_of_empty_members_is_empty() -> None:
    estimate = staple([np.zeros((2, 2), bool), np.zeros((2, 2), bool)])

    assert not estimate.mask.any()
    assert estimate.specificity == (1.0, 1.0)


def test_staple_agrees_with_itk_on_noisy_members() -> None:
    rng = np.random.default_rng(0)
    truth = np.zeros((10, 12, 14), bool)
    truth[2:7, 3:9, 4:10] = True
    members = [np.where(rng.random(truth.shape) < flip, ~truth, truth) for flip in (0.05, 0.1, 0.3)]
    itk = sitk.STAPLEImageFilter()
    itk.SetForegroundValue(1)
    itk_probability = sitk.GetArrayFromImage(
        itk.Execute([sitk.GetImageFromArray(member.astype(np.uint8)) for member in members])
    )

    estimate = staple(members)

    assert estimate.converged
    assert np.abs(estimate.probability - itk_probability).max() < 1e-3
    assert estimate.sensitivity == pytest.approx(itk.GetSensitivity(), abs=1e-4)
    assert estimate.specificity == pytest.approx(itk.GetSpecificity(), abs=1e-4)
    assert np.array_equal(estimate.mask, itk_probability > 0.5)
    # The noisiest member is trusted least.
    assert estimate.sensitivity[2] < estimate.sensitivity[0]


def test_fuse_applies_the_rule_named() -> None:
    members = [np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0]), np.array([1, 1, 1, 0])]

    assert fuse(members, rule="majority_vote").tolist() == [True, True, False, False]
    assert fuse(members, rule="staple").tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="no fusion rule 'mean'"):
        fuse(members, rule="mean")  # type: ignore[arg-type]  # a rule the type does not allow, on purpose


def test_staple_refuses_more_members_than_it_codes() -> None:
    with pytest.raises(ValueError, match="at most 20 members, got 21"):
        staple([np.zeros(3, bool)] * 21)


def test_staple_of_twenty_members_still_recovers_the_mask_most_of_them_mark() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random((4, 5, 6)) < 0.3
    members = [np.where(rng.random(truth.shape) < 0.05, ~truth, truth) for _ in range(20)]

    assert np.array_equal(staple(members).mask, truth)
