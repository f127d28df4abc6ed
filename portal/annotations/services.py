"""Everything that can happen to an annotation campaign: creation, preparing its starting masks, an
annotator's saved revisions and Done, the agreement and STAPLE consensus of a case's finished masks, and
promoting the consensus (or one annotator's masks) to the dataset's next ground-truth version.

A campaign is created PREPARING; ``annotation_campaign_prepare`` (queued after the commit) stores each
case's starting mask and makes it READY, or FAILED with a sentence. An assignment goes NOT_STARTED ->
IN_PROGRESS (first saved revision) -> DONE (the annotator says so; its mask is then final, unless an
organizer reopens the case, back to IN_PROGRESS, saying why), each change recorded as an
``AssignmentEvent`` with who and when.
"""

import hashlib
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from evaluation.agreement import (
    Consensus,
    agreement_with_starting_mask,
    pairwise_agreement,
    staple_consensus,
)
from evaluation.annotation_masks import mask_image_bytes
from evaluation.archives import ArchiveRejected, archive_extract_masks
from evaluation.blinding import MaskMismatch
from evaluation.metrics import BoolArray
from inference.reference.threshold import TMAX_SLUG, threshold_predict
from inference.reference.threshold import image_read as threshold_image_read
from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.annotations import selectors, tasks
from portal.annotations.masks import MaskRefused, image_copy, mask_array_read, mask_check, stored_image_read
from portal.annotations.models import (
    AnnotationAssignment,
    AnnotationCampaign,
    AssignmentEvent,
    CampaignCase,
    MaskRevision,
)
from portal.challenges.models import Challenge, Split
from portal.datasets.models import Case, Dataset, GroundTruthVersion
from portal.datasets.selectors import case_reference_image
from portal.datasets.services import ground_truth_version_create
from portal.errors import PortalError, StepFailed
from portal.steps.services import Step, step_register, step_run
from portal.submissions.services import ARCHIVE_LIMITS

logger = logging.getLogger(__name__)

DEMO_CAMPAIGN_TITLE = "Demo: correct the threshold algorithm's pre-annotation"
IMAGE_CHOICES = ("non-contrast-ct", "preprocessed-tmax-map", "preprocessed-CT-angiography")
Assignment = AnnotationAssignment


def _organizer_check(*, user: User, challenge: Challenge) -> None:
    if not user_is_organizer(user=user, challenge=challenge):
        raise PermissionDenied("Only the challenge's organizers may manage its annotation campaigns.")


def _interfaces(case: Case) -> set[str]:
    return {image.interface for image in case.images.all()}


def _images_check(*, cases: Sequence[Case], images: Sequence[str]) -> list[str]:
    problems = [
        f"{slug} is not an image a campaign can show." for slug in images if slug not in IMAGE_CHOICES
    ]
    for slug in images:
        without = [case.name for case in cases if slug not in _interfaces(case)]
        if without:
            problems.append(f"These cases have no {slug} image: {', '.join(without)}.")
    for case in cases:
        reference = case_reference_image(case=case)
        drawn = next((image for image in case.images.all() if image.interface == images[0]), None)
        if reference is not None and drawn is not None and drawn.shape[:3] != reference.shape[:3]:
            problems.append(
                f"Case {case.name}'s {images[0]} is not on the grid of its {reference.interface}; "
                "draw on the reference image."
            )
    return problems


def _campaign_cases_check(
    *, cases: Sequence[Case], images: Sequence[str], starting_mask: str, uploaded_masks: File | None
) -> list[str]:
    if not cases:
        return ["Choose at least one case to annotate."]
    if not images:
        return ["Choose at least one image to draw on."]
    problems = _images_check(cases=cases, images=images)
    if starting_mask == AnnotationCampaign.StartingMask.PRE_ANNOTATION:
        without = [case.name for case in cases if TMAX_SLUG not in _interfaces(case)]
        if without:
            problems.append(
                f"Pre-annotation needs a {TMAX_SLUG} image; these cases have none: {', '.join(without)}."
            )
    if starting_mask == AnnotationCampaign.StartingMask.UPLOADED and uploaded_masks is None:
        problems.append("Upload an archive of starting masks, one per case, or choose another starting mask.")
    if starting_mask not in AnnotationCampaign.StartingMask.values:
        problems.append(f"{starting_mask!r} is not a kind of starting mask.")
    return problems


def _annotators_check(*, annotators: Sequence[User], challenge: Challenge) -> list[str]:
    if not annotators:
        return ["Choose at least one annotator."]
    allowed = set(selectors.annotation_annotator_candidates(challenge=challenge).values_list("pk", flat=True))
    outsiders = [user.username for user in annotators if user.pk not in allowed]
    if outsiders:
        return [
            f"Only the challenge's organizers and expert readers who do not take part may annotate: "
            f"{', '.join(outsiders)} cannot."
        ]
    return []


def annotation_campaign_create(
    *,
    created_by: User,
    challenge: Challenge,
    dataset: Dataset,
    title: str,
    cases: Sequence[Case],
    images: Sequence[str],
    starting_mask: str,
    annotators: Sequence[User],
    uploaded_masks: File | None = None,
) -> AnnotationCampaign:
    """Create a PREPARING campaign giving every case to every annotator, and queue its preparation.

    ``images`` are interface slugs; the first is drawn on and must be on the grid of each case's
    reference image. Annotators must hold a role in the challenge. Raises ``PermissionDenied`` for anyone
    but an organizer and ``ValidationError`` listing every problem.
    """
    _organizer_check(user=created_by, challenge=challenge)
    if dataset.challenge_id != challenge.pk:
        raise ValidationError("The dataset belongs to another challenge.", code="invalid")
    cases = list(Case.objects.filter(pk__in=[case.pk for case in cases]).prefetch_related("images"))
    problems = [
        f"Case {case.name} is not in {dataset.title}." for case in cases if case.dataset_id != dataset.pk
    ]
    problems += _campaign_cases_check(
        cases=cases, images=images, starting_mask=starting_mask, uploaded_masks=uploaded_masks
    )
    problems += _annotators_check(annotators=annotators, challenge=challenge)
    if problems:
        raise ValidationError(problems, code="invalid")
    with transaction.atomic():
        campaign = AnnotationCampaign(
            challenge=challenge,
            dataset=dataset,
            title=title,
            images=list(images),
            starting_mask=starting_mask,
            created_by=created_by,
        )
        if uploaded_masks is not None:
            campaign.uploaded_masks.save("masks", uploaded_masks, save=False)
        campaign.save()
        for case in sorted(cases, key=lambda case: case.name):
            campaign_case = CampaignCase.objects.create(campaign=campaign, case=case)
            Assignment.objects.bulk_create(
                Assignment(campaign_case=campaign_case, annotator=annotator) for annotator in annotators
            )
        transaction.on_commit(partial(tasks.annotation_campaign_prepare_task.delay, campaign_id=campaign.pk))
    return campaign


def _reference_image_read(*, case: Case, folder: Path) -> Any:  # Any: SimpleITK's Image is untyped
    reference = case_reference_image(case=case)
    if reference is None:
        raise MaskMismatch(f"Case {case.name} has no image to draw on.")
    suffix = ".mha" if reference.file.name.endswith(".mha") else ".nii.gz"
    return sitk.ReadImage(str(image_copy(reference.file, folder=folder, name=f"reference{suffix}")))


def _pre_annotation(*, case: Case, folder: Path, like: Any) -> BoolArray:
    tmax_image = case.images.get(interface=TMAX_SLUG)
    suffix = ".mha" if tmax_image.file.name.endswith(".mha") else ".nii.gz"
    tmax, _, _ = threshold_image_read(image_copy(tmax_image.file, folder=folder, name=f"tmax{suffix}"))
    mask = threshold_predict(tmax)
    expected = tuple(like.GetSize())[::-1]
    if mask.shape != expected:
        raise MaskMismatch(
            f"Case {case.name}'s {TMAX_SLUG} is {'x'.join(map(str, mask.shape[::-1]))} voxels but its "
            f"reference image is {'x'.join(map(str, expected[::-1]))}; it cannot be pre-annotated."
        )
    return mask


def _starting_mask_bytes(
    *, campaign: AnnotationCampaign, campaign_case: CampaignCase, folder: Path, uploaded: Mapping[str, Path]
) -> bytes:
    case = campaign_case.case
    like = _reference_image_read(case=case, folder=folder)
    if campaign.starting_mask == AnnotationCampaign.StartingMask.UPLOADED:
        path = uploaded.get(case.name)
        if path is None:
            raise MaskMismatch(f"The uploaded archive has no mask for case {case.name}.")
        try:
            return mask_check(
                content=path.read_bytes(),
                shape=like.GetSize(),
                spacing_mm=like.GetSpacing(),
                case=case.name,
            ).nifti_bytes
        except MaskRefused as error:
            raise MaskMismatch(f"{path.name}: {' '.join(error.messages)}") from error
    if campaign.starting_mask == AnnotationCampaign.StartingMask.PRE_ANNOTATION:
        mask = _pre_annotation(case=case, folder=folder, like=like)
    else:
        mask = np.zeros(tuple(like.GetSize())[::-1], dtype=np.bool_)
    return mask_image_bytes(mask, like=like)


def _starting_masks_store(*, campaign: AnnotationCampaign, folder: Path) -> None:
    """Store the starting mask of every case that has none yet, working in the scratch ``folder``."""
    todo = list(campaign.campaign_cases.filter(starting_mask="").select_related("case"))
    uploaded: Mapping[str, Path] = {}
    if campaign.starting_mask == AnnotationCampaign.StartingMask.UPLOADED and todo:
        archive = image_copy(campaign.uploaded_masks, folder=folder, name="uploaded")
        uploaded = archive_extract_masks(archive, folder / "uploaded-masks", limits=ARCHIVE_LIMITS).files
    for campaign_case in todo:
        content = _starting_mask_bytes(
            campaign=campaign, campaign_case=campaign_case, folder=folder, uploaded=uploaded
        )
        campaign_case.starting_mask.save("start.nii.gz", ContentFile(content), save=True)


class CampaignPreparation(Step[AnnotationCampaign, None]):
    """PREPARING -> READY once every case has its starting mask, or FAILED with a sentence.

    EMPTY gives an empty mask on the case's reference grid. PRE_ANNOTATION runs the ``threshold``
    reference algorithm on the case's ``preprocessed-tmax-map``: the same ``threshold_predict`` and
    image reader the algorithm's container runs (``inference.reference.threshold``), in this worker
    rather than in a container, since it is a few lines of NumPy. UPLOADED reads the organizer's archive
    safely (``evaluation.archives``) and checks each mask as a saved one is checked. Masks already stored
    are kept, so a repeat, or a worker taking over from a dead one, stores only what is missing; a case that
    cannot be given a starting mask fails the campaign with a sentence naming it.
    """

    name = "annotation campaign preparation"
    model = AnnotationCampaign
    statuses = (AnnotationCampaign.Status.PREPARING,)
    unexpected = (
        "An unexpected error occurred while preparing the campaign; the server's log has the details."
    )
    afterword = ""

    def queue(self, pk: int) -> None:
        tasks.annotation_campaign_prepare_task.delay(campaign_id=pk)

    def work(self, row: AnnotationCampaign, scratch: Path) -> None:
        try:
            _starting_masks_store(campaign=row, folder=scratch)
        except (MaskMismatch, ArchiveRejected) as error:
            raise StepFailed(str(error)) from error

    def record(self, row: AnnotationCampaign, result: None) -> None:
        row.status, row.ready_at = AnnotationCampaign.Status.READY, timezone.now()
        row.save()

    def fail(self, row: AnnotationCampaign, *, sentence: str, note: str) -> None:
        row.status, row.error = AnnotationCampaign.Status.FAILED, sentence
        row.save()


CAMPAIGN_PREPARATION = CampaignPreparation()


def annotation_campaign_prepare(*, campaign_id: int) -> None:
    """Store the starting mask of every case of a PREPARING campaign, then make it READY
    (``CampaignPreparation``); a campaign in another status is left alone, so a repeat is harmless."""
    step_run(CAMPAIGN_PREPARATION, pk=campaign_id)


def _assignment_status_set(*, assignment: Assignment, to_status: str, by: User, note: str = "") -> None:
    """Move a locked assignment to ``to_status`` and record the change (with why, where given)."""
    AssignmentEvent.objects.create(
        assignment=assignment, from_status=assignment.status, to_status=to_status, by=by, note=note
    )
    now = timezone.now()
    assignment.status = to_status
    if to_status == Assignment.Status.IN_PROGRESS and assignment.started_at is None:
        assignment.started_at = now
    assignment.done_at = now if to_status == Assignment.Status.DONE else None
    assignment.save(update_fields=["status", "started_at", "done_at"])


def _own_assignment_lock(*, assignment_id: int, user: User) -> Assignment:
    """Lock the user's own assignment of a READY campaign; ``PermissionDenied`` for anyone else's."""
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("campaign_case__case", "campaign_case__campaign")
        .get(pk=assignment_id)
    )
    if assignment.annotator_id != user.pk:
        raise PermissionDenied("Only the annotator of this case may change its mask.")
    if assignment.campaign_case.campaign.status != AnnotationCampaign.Status.READY:
        raise ValidationError("This campaign is not open for annotation.", code="campaign_not_ready")
    return assignment


def mask_revision_save(*, assignment_id: int, user: User, content: bytes) -> MaskRevision:
    """Store the annotator's mask of the case as the assignment's next revision (numbered from 1).

    The mask must be a 3D image of the size and spacing of the case's reference image; it is binarised
    with ``> 0``. The first save moves the assignment NOT_STARTED -> IN_PROGRESS. Raises
    ``PermissionDenied`` for anyone but the annotator, ``MaskRefused`` (one sentence per problem), and
    ``ValidationError`` (code ``assignment_done``) once the annotator has marked the case done.
    """
    with transaction.atomic():
        assignment = _own_assignment_lock(assignment_id=assignment_id, user=user)
        if assignment.status == Assignment.Status.DONE:
            raise ValidationError(
                "You marked this case done, so its mask is final and cannot change.", code="assignment_done"
            )
        case = assignment.campaign_case.case
        reference = case_reference_image(case=case)
        if reference is None:
            raise ValidationError(f"Case {case.name} has no reference image to check the mask against.")
        checked = mask_check(
            content=content, shape=reference.shape, spacing_mm=reference.spacing_mm, case=case.name
        )
        last = assignment.revisions.aggregate(number=Max("number"))["number"] or 0
        revision = MaskRevision(
            assignment=assignment,
            number=last + 1,
            sha256=hashlib.sha256(checked.nifti_bytes).hexdigest(),
            lesion_voxels=checked.lesion_voxels,
            lesion_volume_ml=checked.lesion_volume_ml,
            created_by=user,
        )
        revision.file.save("mask.nii.gz", ContentFile(checked.nifti_bytes), save=False)
        revision.save()
        if assignment.status == Assignment.Status.NOT_STARTED:
            _assignment_status_set(assignment=assignment, to_status=Assignment.Status.IN_PROGRESS, by=user)
    return revision


def annotation_assignment_done(*, assignment_id: int, user: User) -> Assignment:
    """Mark the annotator's case done: its newest revision is their final mask. Marking it again changes
    nothing. Raises ``PermissionDenied`` for anyone else and ``ValidationError`` (code ``no_revision``)
    before the first save."""
    with transaction.atomic():
        assignment = _own_assignment_lock(assignment_id=assignment_id, user=user)
        if assignment.status == Assignment.Status.DONE:
            return assignment
        if not assignment.revisions.exists():
            raise ValidationError("Save your mask before marking the case done.", code="no_revision")
        _assignment_status_set(assignment=assignment, to_status=Assignment.Status.DONE, by=user)
        CampaignCase.objects.filter(pk=assignment.campaign_case_id).update(
            agreement_status=CampaignCase.AgreementStatus.QUEUED
        )
        transaction.on_commit(partial(AGREEMENT.queue, assignment.campaign_case_id))
    return assignment


def annotation_assignment_reopen(*, assignment_id: int, user: User, reason: str) -> Assignment:
    """An organizer of the campaign's challenge reopens a case its annotator marked done: DONE ->
    IN_PROGRESS, recorded with who and ``reason`` (the sentence the annotator is given), so that the
    annotator can change the mask and mark it done again. The case's agreement is computed again without
    the reopened mask. Raises ``PermissionDenied`` for anyone but an organizer and ``ValidationError`` for
    a blank reason (code ``no_reason``) or a case not done (code ``assignment_not_done``)."""
    reason = reason.strip()
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("campaign_case__case", "campaign_case__campaign__challenge")
            .get(pk=assignment_id)
        )
        _organizer_check(user=user, challenge=assignment.campaign_case.campaign.challenge)
        if not reason:
            raise ValidationError(
                "Say in a sentence why the case is reopened: its annotator reads it.", code="no_reason"
            )
        if assignment.status != Assignment.Status.DONE:
            case = assignment.campaign_case.case.name
            raise ValidationError(
                f"Case {case} is not marked done, so there is nothing to reopen.",
                code="assignment_not_done",
            )
        _assignment_status_set(
            assignment=assignment, to_status=Assignment.Status.IN_PROGRESS, by=user, note=reason
        )
        CampaignCase.objects.filter(pk=assignment.campaign_case_id).update(
            agreement_status=CampaignCase.AgreementStatus.QUEUED
        )
        transaction.on_commit(partial(AGREEMENT.queue, assignment.campaign_case_id))
    return assignment


def _agreement_of(
    *, campaign_case: CampaignCase, masks: Mapping[str, BoolArray]
) -> tuple[dict[str, object], Consensus | None]:
    """The agreement of a case's finished masks as stored (JSON), and the STAPLE consensus (or None)."""
    reference = case_reference_image(case=campaign_case.case)
    spacing_mm = tuple(reference.spacing_mm[:3]) if reference is not None else (1.0, 1.0, 1.0)
    consensus = staple_consensus(masks) if len(masks) >= 2 else None
    starting = (
        agreement_with_starting_mask(
            masks, starting_mask=mask_array_read(campaign_case.starting_mask), spacing_mm=spacing_mm
        )
        if masks and campaign_case.starting_mask
        else ()
    )
    agreement = {
        "annotators": list(masks),
        "pairwise": [asdict(pair) for pair in pairwise_agreement(masks, spacing_mm=spacing_mm)]
        if len(masks) >= 2
        else [],
        "with_starting_mask": [asdict(pair) for pair in starting],
        "estimates": [] if consensus is None else [asdict(estimate) for estimate in consensus.annotators],
        "consensus_volume_ml": None
        if consensus is None
        else float(consensus.mask.sum()) * math.prod(spacing_mm) / 1000.0,
    }
    return agreement, consensus


@dataclass(frozen=True)
class ComputedAgreement:
    """The agreement of a case's finished masks, computed from the revisions ``basis`` (ids, ascending)."""

    basis: list[int]
    agreement: dict[str, object]
    consensus_bytes: bytes | None


def _agreement_compute(*, campaign_case: CampaignCase) -> ComputedAgreement | None:
    """The agreement of the newest revision of every DONE assignment of the case and their STAPLE
    consensus mask, read and computed with no transaction (STAPLE takes seconds on a full-size grid);
    None when the stored agreement already holds every finished mask."""
    revisions = selectors.campaign_case_finished_revisions(campaign_case=campaign_case)
    basis = sorted(revision.pk for revision in revisions.values())
    if campaign_case.agreement is not None and campaign_case.agreement_basis == basis:
        logger.info("The agreement of campaign case %s is up to date.", campaign_case.pk)
        return None
    masks = {username: mask_array_read(revision.file) for username, revision in revisions.items()}
    agreement, consensus = _agreement_of(campaign_case=campaign_case, masks=masks)
    consensus_bytes = (
        None
        if consensus is None
        else mask_image_bytes(consensus.mask, like=stored_image_read(next(iter(revisions.values())).file))
    )
    return ComputedAgreement(basis=basis, agreement=agreement, consensus_bytes=consensus_bytes)


def _agreement_store(*, locked: CampaignCase, computed: ComputedAgreement) -> bool:
    """Store the computed agreement on the locked case unless a mask was finished since it was computed;
    whether it was stored."""
    now = selectors.campaign_case_finished_revisions(campaign_case=locked)
    if sorted(revision.pk for revision in now.values()) != computed.basis:
        logger.info("A mask of campaign case %s was finished meanwhile; it is computed again.", locked.pk)
        return False
    locked.agreement_basis, locked.agreement = computed.basis, computed.agreement
    if computed.consensus_bytes is None:
        locked.consensus_mask = ""
    else:
        locked.consensus_mask.save("consensus.nii.gz", ContentFile(computed.consensus_bytes), save=False)
    return True


class AgreementComputation(Step[CampaignCase, ComputedAgreement | None]):
    """A case's agreement QUEUED (a mask was finished) -> CURRENT once stored from every finished mask, or
    FAILED with a sentence; a mask finished while it was computed leaves it QUEUED and computes it again."""

    name = "agreement computation"
    model = CampaignCase
    statuses = (CampaignCase.AgreementStatus.QUEUED,)
    status_field = "agreement_status"
    unexpected = (
        "An unexpected error occurred while computing the agreement; the server's log has the details."
    )
    afterword = ""

    def queue(self, pk: int) -> None:
        tasks.campaign_case_agreement_task.delay(campaign_case_id=pk)

    def rows(self) -> QuerySet[CampaignCase]:
        return CampaignCase.objects.select_related("case")  # work() reads the case outside the lock

    def work(self, row: CampaignCase, scratch: Path) -> ComputedAgreement | None:
        return _agreement_compute(campaign_case=row)

    def record(self, row: CampaignCase, result: ComputedAgreement | None) -> None:
        if result is not None and not _agreement_store(locked=row, computed=result):
            row.save()
            transaction.on_commit(partial(self.queue, row.pk))
            return
        row.agreement_status, row.agreement_error = CampaignCase.AgreementStatus.CURRENT, ""
        row.save()

    def fail(self, row: CampaignCase, *, sentence: str, note: str) -> None:
        row.agreement_status, row.agreement_error = CampaignCase.AgreementStatus.FAILED, sentence
        row.save()


AGREEMENT = AgreementComputation()


def campaign_case_agreement_compute(*, campaign_case_id: int) -> None:
    """Compute and store the agreement of a case's finished masks and their STAPLE consensus mask
    (``AgreementComputation``), when a mask was finished since it was last stored; a repeat does nothing."""
    step_run(AGREEMENT, pk=campaign_case_id)


def annotation_steps_register() -> None:
    """Let the step engine's sweeper watch the preparation of campaigns and the agreement of their cases."""
    step_register(CAMPAIGN_PREPARATION)
    step_register(AGREEMENT)


def _promoted_masks(
    *, campaign: AnnotationCampaign, annotator: User | None, folder: Path
) -> tuple[dict[str, Path], list[str]]:
    """The mask file of each case to promote, by case name, and the cases that lack what it needs."""
    masks: dict[str, Path] = {}
    lacking: list[str] = []
    for campaign_case in campaign.campaign_cases.select_related("case"):
        name = campaign_case.case.name
        if annotator is None:
            campaign_case_agreement_compute(campaign_case_id=campaign_case.pk)  # nothing when up to date
            campaign_case.refresh_from_db(fields=["consensus_mask", "agreement_basis"])
            stored = campaign_case.consensus_mask if campaign_case.consensus_mask else None
        else:
            revision = selectors.campaign_case_finished_revisions(campaign_case=campaign_case).get(
                annotator.username
            )
            stored = None if revision is None else revision.file
        if stored is None:
            lacking.append(name)
            continue
        masks[name] = image_copy(stored, folder=folder, name=f"{name}.nii.gz")
    return masks, lacking


def annotation_consensus_promote(
    *,
    campaign: AnnotationCampaign,
    user: User,
    annotator: User | None = None,
    note: str = "",
    favouring_confirmed: bool = False,
) -> GroundTruthVersion:
    """Make the dataset's next ground-truth version from the campaign: the STAPLE consensus of each case's
    finished masks, or with ``annotator`` that annotator's finished masks. Other cases of the dataset keep
    their current masks (``ground_truth_version_create``). No phase changes until an organizer switches it.

    Raises ``PermissionDenied`` for anyone but an organizer, and ``ValidationError`` naming the cases with
    fewer than two finished masks (consensus) or without the annotator's finished mask. When the starting
    masks came from a submission that competes on the dataset (``selectors.campaign_starting_mask_sources``)
    the reference would favour it: refused with that sentence (``PortalError``, code ``favours_submission``)
    unless the organizer confirmed it (``favouring_confirmed``).
    """
    _organizer_check(user=user, challenge=campaign.challenge)
    favours = selectors.campaign_favours_sentence(
        sources=selectors.campaign_starting_mask_sources(campaign=campaign)
    )
    if favours is not None and not favouring_confirmed:
        raise PortalError(f"{favours} Confirm that you promote it all the same.", code="favours_submission")
    with tempfile.TemporaryDirectory(prefix="promote-") as name:
        masks, lacking = _promoted_masks(campaign=campaign, annotator=annotator, folder=Path(name))
        if lacking and annotator is None:
            raise ValidationError(
                f"STAPLE needs two finished masks of every case; these have fewer: {', '.join(lacking)}. "
                "Wait for the annotators, or promote one annotator's masks.",
                code="too_few_masks",
            )
        if lacking and annotator is not None:
            raise ValidationError(
                f"{annotator.username} has not finished these cases: {', '.join(lacking)}.",
                code="annotator_unfinished",
            )
        source = (
            GroundTruthVersion.Source.CONSENSUS if annotator is None else GroundTruthVersion.Source.ANNOTATOR
        )
        what = "STAPLE consensus" if annotator is None else f"{annotator.username}'s masks"
        return ground_truth_version_create(
            dataset=campaign.dataset,
            masks=masks,
            note=note
            or f"{what} from the annotation campaign \u201c{campaign.title}\u201d ({len(masks)} cases).",
            source=source,
            created_by=user,
        )


def annotation_campaign_demo_create(
    *, challenge: Challenge, organizer: User, annotators: Sequence[User], split: str = Split.TRAIN
) -> AnnotationCampaign:
    """The demo's campaign: the threshold algorithm's pre-annotation of the first two cases of ``split``
    (training), for ``annotators`` (the demo reader) and the organizer as a second annotator, so that a
    consensus exists once both have corrected them. A phase re-scored on the promoted version changes its
    scores only if it is scored on those cases (the demo's phases score the test split). A campaign of
    that title made earlier (and not failed) is returned as it is, so running the demo again makes no
    second one."""
    existing = (
        AnnotationCampaign.objects.filter(challenge=challenge, title=DEMO_CAMPAIGN_TITLE)
        .exclude(status=AnnotationCampaign.Status.FAILED)
        .first()
    )
    if existing is not None:
        return existing
    dataset = Dataset.objects.filter(challenge=challenge).order_by("pk").first()
    if dataset is None:
        raise ValidationError("The demo challenge has no dataset to annotate.", code="invalid")
    cases = list(dataset.cases.filter(split=split).order_by("name")[:2])
    people = list(dict.fromkeys([*annotators, organizer]))
    return annotation_campaign_create(
        created_by=organizer,
        challenge=challenge,
        dataset=dataset,
        title=DEMO_CAMPAIGN_TITLE,
        cases=cases,
        images=["non-contrast-ct", TMAX_SLUG],
        starting_mask=AnnotationCampaign.StartingMask.PRE_ANNOTATION,
        annotators=people,
    )
