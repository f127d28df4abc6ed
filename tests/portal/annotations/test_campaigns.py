"""Annotation campaigns through their services: creation and starting masks (pre-annotation by the
threshold algorithm), saving numbered mask revisions with their checks, marking a case done, agreement,
and promoting the STAPLE consensus to a ground-truth version that a phase is then scored on."""

import gzip
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile

from portal.annotations import selectors, services
from portal.annotations.masks import MaskRefused, mask_array_read
from portal.annotations.models import (
    AnnotationAssignment,
    AnnotationCampaign,
    AssignmentEvent,
    CampaignCase,
    MaskRevision,
)
from portal.datasets.models import GroundTruth, GroundTruthVersion
from tests.hostile_masks import metaimage_header, nifti_bytes
from tests.portal.annotations.campaign_world import (
    SHAPE,
    CampaignWorld,
    empty_mask,
    tmax_map,
    volume_bytes,
)

CampaignMaker = Callable[..., AnnotationCampaign]
Status = AnnotationAssignment.Status


@pytest.fixture
def make_campaign(world: CampaignWorld, django_capture_on_commit_callbacks: Callable) -> CampaignMaker:
    """Create a campaign (pre-annotated, the first two cases, two readers by default) and prepare it."""

    def make(**options: object) -> AnnotationCampaign:
        arguments = {
            "created_by": world.people["organizer"],
            "challenge": world.phase.challenge,
            "dataset": world.phase.dataset,
            "title": "Correct the threshold",
            "cases": world.cases[:2],
            "images": ["non-contrast-ct", "preprocessed-tmax-map"],
            "starting_mask": AnnotationCampaign.StartingMask.PRE_ANNOTATION,
            "annotators": [world.people["reader"], world.people["second_reader"]],
        } | options
        with django_capture_on_commit_callbacks(execute=True):
            campaign = services.annotation_campaign_create(**arguments)
        campaign.refresh_from_db()
        return campaign

    return make


def assignment_of(campaign: AnnotationCampaign, *, username: str, case: int = 0) -> AnnotationAssignment:
    return AnnotationAssignment.objects.filter(
        campaign_case__campaign=campaign, annotator__username=username
    ).order_by("campaign_case__case__name")[case]


def lesion_mask(*voxels: tuple[int, int, int]) -> np.ndarray:
    """A uint8 mask (z, y, x) with the given voxels set."""
    mask = empty_mask()
    for voxel in voxels:
        mask[voxel] = 1
    return mask


def nifti(mask: np.ndarray, **geometry: object) -> bytes:
    return volume_bytes(mask, **geometry)  # type: ignore[arg-type] (shape and spacing_mm pass through)


def test_pre_annotation_is_the_threshold_algorithm_on_the_tmax_map(make_campaign: CampaignMaker) -> None:
    campaign = make_campaign()

    assert campaign.status == AnnotationCampaign.Status.READY
    for campaign_case in campaign.campaign_cases.all():
        np.testing.assert_array_equal(mask_array_read(campaign_case.starting_mask), tmax_map() > 6.0)
    assert AnnotationAssignment.objects.filter(campaign_case__campaign=campaign).count() == 4
    assert set(AnnotationAssignment.objects.values_list("status", flat=True)) == {Status.NOT_STARTED}


def test_an_empty_start_is_an_empty_mask_on_the_case_grid(make_campaign: CampaignMaker) -> None:
    campaign = make_campaign(starting_mask=AnnotationCampaign.StartingMask.EMPTY)

    start = mask_array_read(campaign.campaign_cases.first().starting_mask)
    assert start.shape == tuple(reversed(SHAPE))
    assert not start.any()


def test_uploaded_starting_masks_are_read_from_the_archive(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for case in world.cases[:2]:
            archive.writestr(f"{case.name}.nii.gz", nifti(lesion_mask((1, 1, 1)) * 255))

    campaign = make_campaign(
        starting_mask=AnnotationCampaign.StartingMask.UPLOADED,
        uploaded_masks=ContentFile(buffer.getvalue(), name="starts.zip"),
    )

    assert campaign.status == AnnotationCampaign.Status.READY
    np.testing.assert_array_equal(
        mask_array_read(campaign.campaign_cases.first().starting_mask), lesion_mask((1, 1, 1)).astype(bool)
    )


def test_an_archive_without_a_case_fails_the_campaign_with_a_sentence(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{world.cases[0].name}.nii.gz", nifti(lesion_mask((1, 1, 1))))

    campaign = make_campaign(
        starting_mask=AnnotationCampaign.StartingMask.UPLOADED,
        uploaded_masks=ContentFile(buffer.getvalue(), name="starts.zip"),
    )

    assert campaign.status == AnnotationCampaign.Status.FAILED
    assert campaign.error == f"The uploaded archive has no mask for case {world.cases[1].name}."


def test_an_uploaded_metaimage_whose_voxels_are_in_another_file_fails_the_campaign(
    make_campaign: CampaignMaker, world: CampaignWorld, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.raw"
    secret.write_bytes(lesion_mask((1, 1, 1)).tobytes())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for case in world.cases[:2]:
            archive.writestr(
                f"{case.name}.mha", metaimage_header("ElementDataFile = {secret}\n", secret=str(secret))
            )

    campaign = make_campaign(
        starting_mask=AnnotationCampaign.StartingMask.UPLOADED,
        uploaded_masks=ContentFile(buffer.getvalue(), name="starts.zip"),
    )

    assert campaign.status == AnnotationCampaign.Status.FAILED
    assert campaign.error == (
        f"{world.cases[0].name}.mha: The mask is not a readable NIfTI image; save it again from the drawing "
        "page."
    )


def test_preparing_again_changes_nothing(make_campaign: CampaignMaker) -> None:
    campaign = make_campaign()
    names = list(campaign.campaign_cases.values_list("starting_mask", flat=True))

    services.annotation_campaign_prepare(campaign_id=campaign.pk)

    assert list(campaign.campaign_cases.values_list("starting_mask", flat=True)) == names


def test_preparing_a_failed_campaign_does_nothing(make_campaign: CampaignMaker) -> None:
    campaign = make_campaign(starting_mask=AnnotationCampaign.StartingMask.EMPTY)
    campaign.campaign_cases.update(starting_mask="")
    AnnotationCampaign.objects.filter(pk=campaign.pk).update(status=AnnotationCampaign.Status.FAILED)

    services.annotation_campaign_prepare(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == AnnotationCampaign.Status.FAILED
    assert not campaign.campaign_cases.exclude(starting_mask="").exists()


def test_only_an_organizer_creates_a_campaign(make_campaign: CampaignMaker, world: CampaignWorld) -> None:
    with pytest.raises(PermissionDenied):
        make_campaign(created_by=world.people["reader"])


def test_creation_lists_every_problem(make_campaign: CampaignMaker, world: CampaignWorld) -> None:
    world.cases[1].images.filter(interface="preprocessed-tmax-map").delete()

    with pytest.raises(ValidationError) as refused:
        make_campaign(annotators=[world.people["reader"], world.people["outsider"]])

    assert refused.value.messages == [
        f"These cases have no preprocessed-tmax-map image: {world.cases[1].name}.",
        f"Pre-annotation needs a preprocessed-tmax-map image; these cases have none: {world.cases[1].name}.",
        "Only the challenge's organizers and expert readers who do not take part may annotate: "
        "outsider cannot.",
    ]
    assert not AnnotationCampaign.objects.exists()


def test_a_participant_cannot_annotate_as_a_campaign_may_show_hidden_test_cases(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_campaign(annotators=[world.people["participant"]])

    assert refused.value.messages == [
        "Only the challenge's organizers and expert readers who do not take part may annotate: participant "
        "cannot."
    ]


def test_revisions_are_numbered_and_the_first_starts_the_case(
    make_campaign: CampaignMaker, world: CampaignWorld, tmp_path: Path
) -> None:
    assignment = assignment_of(make_campaign(), username="reader")
    reader = world.people["reader"]

    first = services.mask_revision_save(
        assignment_id=assignment.pk, user=reader, content=nifti(lesion_mask((0, 0, 0)))
    )
    second = services.mask_revision_save(
        assignment_id=assignment.pk,
        user=reader,
        content=nifti(lesion_mask((0, 0, 0), (1, 1, 1)).astype(np.uint16) * 65535),
    )

    assert (first.number, second.number) == (1, 2)
    assert selectors.mask_revision_newest(assignment=assignment) == second
    assert second.lesion_voxels == 2
    assert second.lesion_volume_ml == pytest.approx(2 * 0.5 * 0.5 * 2.0 / 1000)
    with second.file.open("rb") as stored_file:
        (tmp_path / "mask.nii.gz").write_bytes(stored_file.read())
    stored = sitk.ReadImage(str(tmp_path / "mask.nii.gz"))
    assert stored.GetPixelIDTypeAsString() == "8-bit unsigned integer"
    assert set(np.unique(sitk.GetArrayFromImage(stored))) == {0, 1}
    assignment.refresh_from_db()
    assert assignment.status == Status.IN_PROGRESS
    assert assignment.started_at is not None
    assert list(AssignmentEvent.objects.values_list("from_status", "to_status", "by__username")) == [
        (Status.NOT_STARTED, Status.IN_PROGRESS, "reader")
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The mask is empty (no bytes were sent); save it again from the drawing page."),
        (
            b"not an image at all",
            "The mask is not a readable NIfTI image; save it again from the drawing page.",
        ),
        (
            None,  # a mask of another size and spacing
            "The mask is 6x5x3 voxels but case sub-stroke0001's reference image is 6x5x4; draw on the case's "
            "own image. The mask's voxels are 1 x 1 x 1 mm but case sub-stroke0001's are 0.5 x 0.5 x 2 mm; "
            "draw on the case's own image.",
        ),
    ],
)
def test_a_mask_that_does_not_fit_the_case_is_refused_with_a_sentence_per_problem(
    make_campaign: CampaignMaker, world: CampaignWorld, content: bytes | None, message: str
) -> None:
    assignment = assignment_of(make_campaign(), username="reader")
    if content is None:
        content = nifti(np.zeros((3, 5, 6), np.uint8), shape=(6, 5, 3), spacing_mm=(1.0, 1.0, 1.0))

    with pytest.raises(MaskRefused) as refused:
        services.mask_revision_save(assignment_id=assignment.pk, user=world.people["reader"], content=content)

    assert " ".join(refused.value.messages) == message
    assert not assignment.revisions.exists()


def test_a_mask_declaring_a_huge_grid_is_refused_from_its_header(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    assignment = assignment_of(make_campaign(), username="reader")
    # 32767^3 voxels (35 TB) declared by a header with no voxels behind it: refused before any is read.
    content = gzip.compress(nifti_bytes(np.zeros((1, 1, 1), np.uint8), dims=[3, 32767, 32767, 32767]))

    with pytest.raises(MaskRefused) as refused:
        services.mask_revision_save(assignment_id=assignment.pk, user=world.people["reader"], content=content)

    assert refused.value.messages == [
        "The mask is 32767x32767x32767 voxels but case sub-stroke0001's reference image is 6x5x4; draw on "
        "the case's own image."
    ]


def test_negative_values_are_refused(make_campaign: CampaignMaker, world: CampaignWorld) -> None:
    assignment = assignment_of(make_campaign(), username="reader")
    mask = lesion_mask((0, 0, 0)).astype(np.int16) * -1

    with pytest.raises(MaskRefused, match="negative values"):
        services.mask_revision_save(
            assignment_id=assignment.pk, user=world.people["reader"], content=nifti(mask)
        )


@pytest.mark.parametrize("username", ["second_reader", "organizer", "outsider"])
def test_only_the_annotator_saves_and_finishes_their_case(
    make_campaign: CampaignMaker, world: CampaignWorld, username: str
) -> None:
    assignment = assignment_of(make_campaign(), username="reader")

    with pytest.raises(PermissionDenied, match=r"Only the annotator of this case may change its mask\."):
        services.mask_revision_save(
            assignment_id=assignment.pk, user=world.people[username], content=nifti(lesion_mask())
        )
    with pytest.raises(PermissionDenied):
        services.annotation_assignment_done(assignment_id=assignment.pk, user=world.people[username])


def test_done_needs_a_saved_mask_and_then_locks_it(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    assignment = assignment_of(make_campaign(), username="reader")
    reader = world.people["reader"]
    with pytest.raises(ValidationError, match=r"Save your mask before marking the case done\."):
        services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)
    services.mask_revision_save(
        assignment_id=assignment.pk, user=reader, content=nifti(lesion_mask((0, 0, 0)))
    )

    services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)
    services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)  # again: no change

    assignment.refresh_from_db()
    assert assignment.status == Status.DONE
    assert assignment.done_at is not None
    assert list(assignment.events.values_list("to_status", flat=True)) == [Status.IN_PROGRESS, Status.DONE]
    with pytest.raises(ValidationError, match="You marked this case done, so its mask is final"):
        services.mask_revision_save(assignment_id=assignment.pk, user=reader, content=nifti(lesion_mask()))


def test_an_organizer_reopens_a_done_case_saying_why_and_the_annotator_finishes_it_again(
    three_annotators: AnnotationCampaign, world: CampaignWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    assignment = assignment_of(three_annotators, username="reader")
    reader, organizer = world.people["reader"], world.people["organizer"]

    with django_capture_on_commit_callbacks(execute=True):
        services.annotation_assignment_reopen(
            assignment_id=assignment.pk, user=organizer, reason="  The lesion's posterior edge is missing.  "
        )

    assignment.refresh_from_db()
    assert assignment.status == Status.IN_PROGRESS
    assert assignment.done_at is None
    reopening = selectors.assignment_reopening(assignment=assignment)
    assert reopening is not None
    assert (reopening.by, reopening.from_status, reopening.to_status, reopening.note) == (
        organizer,
        Status.DONE,
        Status.IN_PROGRESS,
        "The lesion's posterior edge is missing.",
    )
    (case,) = selectors.annotation_campaign_agreement(campaign=three_annotators)
    assert case.current
    assert case.annotators == ("second_reader", "third_reader")  # computed again without the reopened mask
    services.mask_revision_save(assignment_id=assignment.pk, user=reader, content=nifti(lesion_mask(*CORE)))
    services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)
    assignment.refresh_from_db()
    assert assignment.status == Status.DONE
    assert selectors.assignment_reopening(assignment=assignment) is None  # finished since
    assert list(assignment.events.values_list("to_status", flat=True)) == [
        Status.IN_PROGRESS,
        Status.DONE,
        Status.IN_PROGRESS,
        Status.DONE,
    ]


def test_only_an_organizer_reopens_a_done_case_and_only_with_a_reason(
    three_annotators: AnnotationCampaign, world: CampaignWorld
) -> None:
    assignment = assignment_of(three_annotators, username="reader")
    for username in ("reader", "second_reader", "participant"):
        with pytest.raises(PermissionDenied, match=r"Only the challenge's organizers"):
            services.annotation_assignment_reopen(
                assignment_id=assignment.pk, user=world.people[username], reason="Please look again."
            )
    with pytest.raises(ValidationError, match=r"Say in a sentence why the case is reopened"):
        services.annotation_assignment_reopen(
            assignment_id=assignment.pk, user=world.people["organizer"], reason="   "
        )
    assignment.refresh_from_db()
    assert assignment.status == Status.DONE
    assert assignment.events.count() == 2


def test_a_case_not_done_cannot_be_reopened(make_campaign: CampaignMaker, world: CampaignWorld) -> None:
    assignment = assignment_of(make_campaign(), username="reader")

    with pytest.raises(ValidationError, match=r"Case sub-stroke\d+ is not marked done, so there is nothing"):
        services.annotation_assignment_reopen(
            assignment_id=assignment.pk, user=world.people["organizer"], reason="Please look again."
        )


def finish(
    campaign: AnnotationCampaign, masks: dict[str, np.ndarray], world: CampaignWorld, case: int = 0
) -> None:
    """Each annotator saves their mask of one case and marks it done."""
    for username, mask in masks.items():
        assignment = assignment_of(campaign, username=username, case=case)
        user = world.people[username]
        services.mask_revision_save(assignment_id=assignment.pk, user=user, content=nifti(mask))
        services.annotation_assignment_done(assignment_id=assignment.pk, user=user)


CORE = [(z, y, x) for z in (1, 2) for y in (1, 2) for x in (1, 2)]
"""Eight voxels every annotator marks; each also marks one voxel no other does."""
THREE_MASKS = {
    "reader": lesion_mask(*CORE, (0, 0, 0)),
    "second_reader": lesion_mask(*CORE, (3, 4, 5)),
    "third_reader": lesion_mask(*CORE, (0, 4, 0)),
}


@pytest.fixture
def three_annotators(
    make_campaign: CampaignMaker, world: CampaignWorld, django_capture_on_commit_callbacks: Callable
) -> AnnotationCampaign:
    """A campaign of the first case whose three annotators finished THREE_MASKS (agreement computed)."""
    campaign = make_campaign(
        cases=world.cases[:1],
        annotators=[world.people[name] for name in THREE_MASKS],
        starting_mask=AnnotationCampaign.StartingMask.EMPTY,
    )
    with django_capture_on_commit_callbacks(execute=True):
        finish(campaign, THREE_MASKS, world)
    return campaign


def test_agreement_of_three_annotators(three_annotators: AnnotationCampaign) -> None:
    (case,) = selectors.annotation_campaign_agreement(campaign=three_annotators)

    assert case.annotators == ("reader", "second_reader", "third_reader")
    assert [pair.dice for pair in case.pairwise] == pytest.approx([16 / 18] * 3)  # 2 * 8 / (9 + 9)
    assert [pair.volume_difference_ml for pair in case.pairwise] == pytest.approx([0.0] * 3)
    assert [pair.dice for pair in case.with_starting_mask] == [0.0] * 3  # the start was empty
    assert case.current
    consensus = mask_array_read(case.campaign_case.consensus_mask)
    np.testing.assert_array_equal(consensus, lesion_mask(*CORE).astype(bool))
    assert case.consensus_volume_ml == pytest.approx(8 * 0.5 * 0.5 * 2.0 / 1000)
    assert [estimate.annotator for estimate in case.estimates] == list(THREE_MASKS)
    for estimate in case.estimates:
        assert estimate.sensitivity == pytest.approx(1.0, abs=1e-3)
        assert 0.95 < estimate.specificity < 1.0  # one voxel of 111 outside the consensus


def test_computing_the_agreement_again_changes_nothing(three_annotators: AnnotationCampaign) -> None:
    campaign_case = three_annotators.campaign_cases.get()
    before = (campaign_case.agreement_basis, campaign_case.agreement, campaign_case.consensus_mask.name)

    services.campaign_case_agreement_compute(campaign_case_id=campaign_case.pk)

    campaign_case.refresh_from_db()
    assert (
        campaign_case.agreement_basis,
        campaign_case.agreement,
        campaign_case.consensus_mask.name,
    ) == before


def test_a_mask_finished_after_the_computation_marks_the_agreement_stale(
    make_campaign: CampaignMaker, world: CampaignWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    campaign = make_campaign(cases=world.cases[:1])
    (nothing,) = selectors.annotation_campaign_agreement(campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        finish(campaign, {"reader": THREE_MASKS["reader"]}, world)
    (alone,) = selectors.annotation_campaign_agreement(campaign=campaign)
    finish(campaign, {"second_reader": THREE_MASKS["second_reader"]}, world)  # its task has not run yet

    (stale,) = selectors.annotation_campaign_agreement(campaign=campaign)

    assert nothing.current  # nothing finished, nothing to compute
    assert nothing.annotators == ()
    assert alone.current
    assert alone.annotators == ("reader",)
    assert alone.estimates == ()  # STAPLE needs two masks
    assert alone.with_starting_mask[0].other == "starting mask"
    assert not alone.campaign_case.consensus_mask
    assert not stale.current


def test_promoting_the_consensus_makes_a_version_of_its_masks(
    three_annotators: AnnotationCampaign, world: CampaignWorld
) -> None:
    version = services.annotation_consensus_promote(campaign=three_annotators, user=world.people["organizer"])

    assert (version.number, version.source) == (2, GroundTruthVersion.Source.CONSENSUS)
    assert "Correct the threshold" in version.note
    promoted = GroundTruth.objects.get(case=world.cases[0], version=2)
    np.testing.assert_array_equal(mask_array_read(promoted.file), lesion_mask(*CORE).astype(bool))
    carried = GroundTruth.objects.get(case=world.cases[1], version=2)
    assert carried.file.name == GroundTruth.objects.get(case=world.cases[1], version=1).file.name


def test_promoting_one_annotators_masks(three_annotators: AnnotationCampaign, world: CampaignWorld) -> None:
    version = services.annotation_consensus_promote(
        campaign=three_annotators, user=world.people["organizer"], annotator=world.people["second_reader"]
    )

    assert version.source == GroundTruthVersion.Source.ANNOTATOR
    promoted = GroundTruth.objects.get(case=world.cases[0], version=version.number)
    np.testing.assert_array_equal(mask_array_read(promoted.file), THREE_MASKS["second_reader"].astype(bool))


def test_consensus_needs_two_finished_masks_of_every_case(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    campaign = make_campaign()
    finish(campaign, {"reader": THREE_MASKS["reader"]}, world)

    with pytest.raises(ValidationError) as refused:
        services.annotation_consensus_promote(campaign=campaign, user=world.people["organizer"])

    assert refused.value.messages == [
        "STAPLE needs two finished masks of every case; these have fewer: sub-stroke0001, sub-stroke0002. "
        "Wait for the annotators, or promote one annotator's masks."
    ]
    with pytest.raises(PermissionDenied):
        services.annotation_consensus_promote(campaign=campaign, user=world.people["reader"])


def test_progress_table_has_a_cell_per_case_and_annotator(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    campaign = make_campaign()
    finish(campaign, {"second_reader": THREE_MASKS["reader"]}, world, case=1)

    progress = selectors.annotation_campaign_progress(campaign=campaign)

    assert [user.username for user in progress.annotators] == ["reader", "second_reader"]
    assert [[cell.assignment.status for cell in row.cells] for row in progress.cases] == [
        [Status.NOT_STARTED, Status.NOT_STARTED],
        [Status.NOT_STARTED, Status.DONE],
    ]
    assert progress.cases[1].cells[1].revisions == 1
    assert (progress.done, progress.total) == (1, 4)


def test_the_demo_campaign_pre_annotates_two_training_cases_for_the_reader_and_the_organizer(
    world: CampaignWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        campaign = services.annotation_campaign_demo_create(
            challenge=world.phase.challenge,
            organizer=world.people["organizer"],
            annotators=[world.people["reader"]],
        )
    again = services.annotation_campaign_demo_create(
        challenge=world.phase.challenge,
        organizer=world.people["organizer"],
        annotators=[world.people["reader"]],
    )

    campaign.refresh_from_db()
    assert again == campaign
    assert campaign.status == AnnotationCampaign.Status.READY
    assert campaign.starting_mask == AnnotationCampaign.StartingMask.PRE_ANNOTATION
    assert sorted(
        AnnotationAssignment.objects.filter(campaign_case__campaign=campaign).values_list(
            "campaign_case__case__name", "annotator__username"
        )
    ) == [
        ("sub-stroke0001", "organizer"),
        ("sub-stroke0001", "reader"),
        ("sub-stroke0002", "organizer"),
        ("sub-stroke0002", "reader"),
    ]


def test_a_finished_mask_queues_the_agreement_and_its_computation_makes_it_current(
    make_campaign: CampaignMaker, world: CampaignWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    campaign = make_campaign(cases=world.cases[:1])
    finish(campaign, {"reader": THREE_MASKS["reader"]}, world)  # its step has not run
    queued = campaign.campaign_cases.get()

    services.campaign_case_agreement_compute(campaign_case_id=queued.pk)

    current = campaign.campaign_cases.get()
    assert queued.agreement_status == CampaignCase.AgreementStatus.QUEUED
    assert current.agreement_status == CampaignCase.AgreementStatus.CURRENT
    assert current.agreement is not None
    assert (current.attempt, current.claimed_by) == (1, "")


def test_an_agreement_that_cannot_be_computed_says_so_instead_of_staying_stale(
    make_campaign: CampaignMaker, world: CampaignWorld
) -> None:
    """A finished mask's file is gone from storage: the agreement's step fails with a sentence (the
    traceback goes to the log) rather than leaving the case's agreement quietly out of date."""
    campaign = make_campaign(cases=world.cases[:1])
    finish(campaign, {"reader": THREE_MASKS["reader"]}, world)
    campaign_case = campaign.campaign_cases.get()
    for revision in MaskRevision.objects.filter(assignment__campaign_case=campaign_case):
        revision.file.delete(save=False)

    with pytest.raises(FileNotFoundError):
        services.campaign_case_agreement_compute(campaign_case_id=campaign_case.pk)

    campaign_case.refresh_from_db()
    assert campaign_case.agreement_status == CampaignCase.AgreementStatus.FAILED
    assert campaign_case.agreement_error.startswith(
        "An unexpected error occurred while computing the agreement"
    )
