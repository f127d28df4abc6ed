"""Reviewing a submission's masks against the ground truth: who may, and the overlap label volume served."""

import hashlib

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User
from portal.challenges.models import Phase
from portal.storage import private_storage
from portal.submissions.models import Submission
from portal.submissions.selectors import phase_case_ground_truth, submission_case_overlap_key
from portal.submissions.services import submission_case_overlap_label
from tests.hostile_masks import metaimage_header
from tests.portal.submissions.review_world import (
    ORIGIN_MM,
    SHAPE_ZYX,
    SPACING_MM,
    ReviewWorld,
    label_counts,
    read_label,
    review_world_create,
    submission_create,
    volume_bytes,
    zip_of,
)


@pytest.fixture
def world(db: None) -> ReviewWorld:
    return review_world_create()


def label_on_grid(content: bytes) -> np.ndarray:
    """The overlap volume put back in place on the ground truth's grid (z, y, x), zeros around it."""
    grid = sitk.Image([*reversed(SHAPE_ZYX)], sitk.sitkUInt8)
    grid.SetSpacing(SPACING_MM)
    grid.SetOrigin(ORIGIN_MM)
    placed = sitk.Resample(read_label(content), grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(placed)


def overlap_get(user: User | None, submission: Submission, case_pk: int, **headers: str) -> object:
    client = Client()
    if user is not None:
        client.force_login(user)
    url = reverse("submission-review-overlap", kwargs={"pk": submission.pk, "case_pk": case_pk})
    return client.get(url, headers=headers)


def test_the_overlap_volume_marks_true_positives_false_positives_and_false_negatives(
    world: ReviewWorld,
) -> None:
    submission = world.submit(world.train_phase)

    content = submission_case_overlap_label(submission=submission, case=world.train_case)

    assert label_counts(content) == {1: 4, 2: 4, 3: 4}
    label = read_label(content)
    assert label.GetPixelIDTypeAsString() == "8-bit unsigned integer"
    assert label.GetSpacing() == pytest.approx(SPACING_MM)


def test_the_overlap_volume_is_the_box_around_its_labels_in_place(db: None) -> None:
    ground_truth = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    ground_truth[1:3, 2:4, 3:5] = 1
    prediction = np.roll(ground_truth, 1, axis=2)  # one voxel along x
    world = review_world_create(ground_truth=ground_truth, prediction=prediction)
    submission = world.submit(world.train_phase)

    content = submission_case_overlap_label(submission=submission, case=world.train_case)

    label = read_label(content)
    assert label.GetSize() == (3, 2, 2)  # x 3-5, y 2-3, z 1-2
    x, y, z = ORIGIN_MM
    assert label.GetOrigin() == pytest.approx((x + 3 * 0.5, y + 2 * 0.5, z + 1 * 2.0))
    expected = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    expected[1:3, 2:4, 3] = 3
    expected[1:3, 2:4, 4] = 1
    expected[1:3, 2:4, 5] = 2
    assert np.array_equal(label_on_grid(content), expected)


def test_an_overlap_without_labels_is_one_empty_voxel(db: None) -> None:
    empty = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    world = review_world_create(ground_truth=empty, prediction=empty)
    submission = world.submit(world.train_phase)

    content = submission_case_overlap_label(submission=submission, case=world.train_case)

    assert read_label(content).GetSize() == (1, 1, 1)
    assert label_counts(content) == {}


def test_the_overlap_volume_is_kept_under_its_content_hash_and_reused(world: ReviewWorld) -> None:
    submission = world.submit(world.train_phase)
    first = submission_case_overlap_label(submission=submission, case=world.train_case)
    ground_truth = phase_case_ground_truth(phase=world.train_phase, case=world.train_case)
    key = submission_case_overlap_key(submission=submission, ground_truth=ground_truth)
    name = f"reviews/{key[:2]}/{key}.nii.gz"
    assert private_storage().exists(name)

    submission.file.delete(save=False)  # the archive is no longer needed once the volume is kept

    assert submission_case_overlap_label(submission=submission, case=world.train_case) == first


def test_a_case_without_a_mask_shows_the_whole_lesion_as_false_negative(world: ReviewWorld) -> None:
    submission = submission_create(world.train_phase, world.participant, {})

    content = submission_case_overlap_label(submission=submission, case=world.train_case)

    assert label_counts(content) == {3: 8}


def test_a_mask_of_another_size_is_refused_with_both_sizes(world: ReviewWorld) -> None:
    wrong = volume_bytes(np.zeros((4, 5, 7), dtype=np.uint8))
    submission = submission_create(world.train_phase, world.participant, {world.train_case.name: wrong})

    response = overlap_get(world.organizer, submission, world.train_case.pk)

    assert response.status_code == 422
    assert response.content.decode() == "The mask is 7x5x4 voxels but the ground truth is 6x5x4."


def test_a_stored_metaimage_reading_another_file_is_refused_not_followed(world: ReviewWorld) -> None:
    # An archive accepted before the checks refused such a file: its .mha names the ground truth's copy.
    case = world.train_case.name
    header = metaimage_header(f"ElementDataFile = ../{case}_ground_truth.nii.gz\n", size=SHAPE_ZYX[::-1])
    content = zip_of({f"predictions/{case}.mha": header})
    submission = Submission.objects.create(
        phase=world.train_phase,
        creator=world.participant,
        kind=Phase.SubmissionKind.PREDICTIONS,
        file=ContentFile(content, name="predictions.zip"),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        status=Submission.Status.SUCCEEDED,
    )

    response = overlap_get(world.organizer, submission, world.train_case.pk)

    assert response.status_code == 422
    assert response.content.decode().startswith(f"{case}.mha keeps its voxels in another file")


@pytest.mark.parametrize(
    ("person", "train", "test"),
    [("anonymous", 302, 302), ("other", 404, 404), ("participant", 200, 404), ("organizer", 200, 200)],
)
def test_the_overlap_is_served_to_organizers_and_to_the_submitter_on_training_cases_only(
    world: ReviewWorld, person: str, train: int, test: int
) -> None:
    user = {
        "anonymous": None,
        "other": world.other_participant,
        "participant": world.participant,
        "organizer": world.organizer,
    }[person]
    on_train = world.submit(world.train_phase)
    on_test = world.submit(world.test_phase)

    train_status = overlap_get(user, on_train, world.train_case.pk).status_code
    test_status = overlap_get(user, on_test, world.test_case.pk).status_code

    assert (train_status, test_status) == (train, test)


def test_a_submission_whose_archive_was_not_checked_has_nothing_to_review(world: ReviewWorld) -> None:
    submission = world.submit(world.train_phase, status=Submission.Status.FAILED)

    assert overlap_get(world.organizer, submission, world.train_case.pk).status_code == 404
    client = Client()
    client.force_login(world.organizer)
    page = client.get(reverse("submission-review", kwargs={"pk": submission.pk}))
    assert "There is no case of this submission you may compare" in page.content.decode()


def test_a_second_download_of_the_overlap_is_answered_not_modified(world: ReviewWorld) -> None:
    submission = world.submit(world.train_phase)
    first = overlap_get(world.participant, submission, world.train_case.pk)

    second = overlap_get(world.participant, submission, world.train_case.pk, if_none_match=first["ETag"])

    assert first.status_code == 200
    assert second.status_code == 304
    assert second["ETag"] == first["ETag"]
    assert "private" in first["Cache-Control"]
    assert first["Content-Encoding"] == "gzip", (
        "the browser would not inflate the overlap off the page's thread"
    )


def test_the_review_page_lists_the_cases_and_points_the_viewer_at_the_ncct_and_the_overlap(
    world: ReviewWorld,
) -> None:
    submission = world.submit(world.train_phase)
    client = Client()
    client.force_login(world.participant)

    response = client.get(reverse("submission-review", kwargs={"pk": submission.pk}))

    html = response.content.decode()
    assert response.status_code == 200
    assert "sub-stroke0001" in html
    assert reverse("image-volume", kwargs={"pk": world.train_case.images.get().pk}) in html
    assert (
        reverse("submission-review-overlap", kwargs={"pk": submission.pk, "case_pk": world.train_case.pk})
        in html
    )
    assert "script-src 'self'" in response["Content-Security-Policy"]
