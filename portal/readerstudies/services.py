"""Everything that can happen to a reader study: creation, preparing its blinded masks, inviting readers
(with their one draw of order and sides), showing an item and recording an answer.

A study is created ``PREPARING``; ``reader_study_prepare`` (queued after the commit) renders one blinded
mask per (case, source) into private storage and moves it to ``READY``, or to ``FAILED`` with a
sentence. Inviting a reader draws, once and for good, the order of the reader's items and which source
of each is A (left): the seed comes from the ``secrets`` module and is stored, so the draw can be
checked later. Every answer is final: an item takes one answer, and once a reader has answered the last
item the study is finished for them and their answers are locked.

Annotation campaigns (their own section below): organizers give cases to annotators, who save masks as
numbered revisions and mark each case done; the campaign's consensus becomes a ground-truth version.
"""

import hashlib
import logging
import math
import random
import secrets
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from evaluation.agreement import (
    Consensus,
    agreement_with_starting_mask,
    pairwise_agreement,
    staple_consensus,
)
from evaluation.metrics import BoolArray
from inference.reference.threshold import TMAX_SLUG, threshold_predict
from inference.reference.threshold import image_read as threshold_image_read
from portal.accounts.models import ChallengeRole, User
from portal.accounts.services import challenge_role_grant
from portal.algorithms.services import job_segmentations_copy
from portal.challenges.models import Challenge, Phase
from portal.datasets.models import Case, Dataset, GroundTruthVersion, Image, Split
from portal.datasets.selectors import case_ground_truth_get, case_reference_image
from portal.datasets.services import ground_truth_version_create
from portal.readerstudies import selectors, tasks
from portal.readerstudies.annotation_masks import (
    MaskRefused,
    image_copy,
    mask_array_read,
    mask_check,
    mask_image_bytes,
    stored_image_read,
)
from portal.readerstudies.blinding import MaskMismatch, mask_blind
from portal.readerstudies.models import (
    DEFAULT_MINIMUM_READING_SECONDS,
    AnnotationAssignment,
    AnnotationCampaign,
    AssignmentEvent,
    BlindedMask,
    CampaignCase,
    MaskRevision,
    MaskSource,
    ReaderStudy,
    ReadingItem,
    StudyCase,
    StudyReader,
)
from portal.submissions.archives import ArchiveRejected, archive_extract_masks
from portal.submissions.models import Submission
from portal.submissions.services import ARCHIVE_LIMITS

logger = logging.getLogger(__name__)

REFERENCE = "reference"
"""Names the cases' reference annotation among a study's sources."""

DEFAULT_BACKGROUND = ("non-contrast-ct",)
BACKGROUND_CHOICES = ("non-contrast-ct", "preprocessed-tmax-map")

SourceChoice = Submission | Literal["reference"]
Preference = ReadingItem.Preference


@dataclass(frozen=True)
class DrawnItem:
    """One item of a reader's draw: the case and the sources shown as A (left) and B (right)."""

    case_id: int
    source_a_id: int
    source_b_id: int


def _organizer_check(*, user: User, challenge: Challenge) -> None:
    if not selectors.reader_study_can_manage(user=user, challenge=challenge):
        raise PermissionDenied("Only the challenge's organizers may manage its reader studies.")


def _sources_check(*, sources: Sequence[SourceChoice], dataset: Dataset, split: str) -> list[str]:
    problems = []
    keys = [source if source == REFERENCE else source.pk for source in sources]
    if len(set(keys)) < 2:
        problems.append("A study compares at least two different mask sources.")
    if len(set(keys)) != len(keys):
        problems.append("Each mask source can be chosen once.")
    for source in sources:
        if isinstance(source, Submission):
            problem = selectors.submission_comparable_problem(submission=source, dataset=dataset, split=split)
            if problem is not None:
                problems.append(problem)
    return problems


def _cases_check(
    *, cases: Sequence[Case], sources: Sequence[SourceChoice], interfaces: Sequence[str]
) -> list[str]:
    if not cases:
        return ["The dataset has no cases in this split."]
    problems = []
    for interface in interfaces:
        if interface not in BACKGROUND_CHOICES:
            problems.append(f"{interface} is not an image a study can show.")
    without_image = [case.name for case in cases if not case.images.filter(interface=interfaces[0]).exists()]
    if without_image:
        problems.append(f"These cases have no {interfaces[0]} image: {', '.join(without_image)}.")
    if REFERENCE in sources:
        without_truth = [case.name for case in cases if not case.ground_truths.exists()]
        if without_truth:
            problems.append(f"These cases have no reference annotation: {', '.join(without_truth)}.")
    return problems


def _source_label(source: SourceChoice) -> str:
    if source == REFERENCE:
        return REFERENCE
    submitter = source.team.name if source.team is not None else source.creator.username
    return f"{submitter} (submission {source.pk})"


def reader_study_create(
    *,
    created_by: User,
    challenge: Challenge,
    dataset: Dataset,
    split: str,
    title: str,
    sources: Sequence[SourceChoice],
    background_interfaces: Sequence[str] = DEFAULT_BACKGROUND,
    asks_quality_rating: bool = False,
    asks_comment: bool = False,
    minimum_reading_seconds: float = DEFAULT_MINIMUM_READING_SECONDS,
) -> ReaderStudy:
    """Create a PREPARING study of ``sources`` on every case of the dataset split and queue its preparation.

    ``sources`` are ``REFERENCE`` or submissions that ``selectors.submission_comparable_problem`` passes
    (predictions or algorithm, succeeded, on the same cases). Answers given in less than
    ``minimum_reading_seconds`` are flagged as implausibly fast in the results. Raises
    ``PermissionDenied`` for anyone but an organizer, ``ValidationError`` listing every problem.
    """
    _organizer_check(user=created_by, challenge=challenge)
    if dataset.challenge_id != challenge.pk:
        raise ValidationError("The dataset belongs to another challenge.", code="invalid")
    interfaces = list(background_interfaces) or list(DEFAULT_BACKGROUND)
    cases = list(Case.objects.filter(dataset=dataset, split=split).order_by("name"))
    problems = _sources_check(sources=sources, dataset=dataset, split=split)
    problems += _cases_check(cases=cases, sources=sources, interfaces=interfaces)
    if not (math.isfinite(minimum_reading_seconds) and minimum_reading_seconds >= 0):
        problems.append("The minimum reading time is a number of seconds, 0 or more.")
    if problems:
        raise ValidationError(problems, code="invalid")
    with transaction.atomic():
        study = ReaderStudy.objects.create(
            challenge=challenge,
            dataset=dataset,
            split=split,
            title=title,
            background_interfaces=interfaces,
            asks_quality_rating=asks_quality_rating,
            asks_comment=asks_comment,
            minimum_reading_seconds=minimum_reading_seconds,
            created_by=created_by,
        )
        for position, source in enumerate(sources):
            MaskSource.objects.create(
                study=study,
                kind=MaskSource.Kind.REFERENCE if source == REFERENCE else MaskSource.Kind.SUBMISSION,
                submission=None if source == REFERENCE else source,
                label=_source_label(source),
                position=position,
            )
        StudyCase.objects.bulk_create([StudyCase(study=study, case=case) for case in cases])
        transaction.on_commit(partial(tasks.reader_study_prepare_task.delay, study_id=study.pk))
    return study


def _file_copy(*, field_file: FieldFile, path: Path) -> Path:
    with field_file.open("rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path


def mask_source_masks_copy(
    *, source: MaskSource, cases: Sequence[StudyCase], folder: Path
) -> Mapping[int, Path | None]:
    """Local copies of the source's mask of each case, by study case id, whichever kind the source is.

    The reference is each case's newest annotation (a case without one raises ``MaskMismatch``); a
    predictions submission gives the masks its archive holds; an algorithm submission gives the
    segmentations its succeeded jobs wrote. None where a submission has no mask of a case.
    """
    if source.submission is None:
        return {case.pk: _reference_mask_copy(study_case=case, folder=folder) for case in cases}
    if source.submission.kind == Phase.SubmissionKind.ALGORITHM:
        files = job_segmentations_copy(submission=source.submission, folder=folder / "segmentations")
    else:
        archive = _file_copy(field_file=source.submission.file, path=folder / "archive")
        files = archive_extract_masks(archive, folder / "masks", limits=ARCHIVE_LIMITS).files
    return {study_case.pk: files.get(study_case.case.name) for study_case in cases}


def _reference_mask_copy(*, study_case: StudyCase, folder: Path) -> Path:
    ground_truth = case_ground_truth_get(case=study_case.case, version=None)  # the newest version
    if ground_truth is None:
        raise MaskMismatch(f"Case {study_case.case.name} has no reference annotation.")
    return _file_copy(field_file=ground_truth.file, path=folder / f"{study_case.pk}.nii.gz")


def _reference_images(*, study: ReaderStudy, cases: Sequence[StudyCase], folder: Path) -> dict[int, Path]:
    """Local copies of each case's geometry image (the first background), by study case id."""
    images = Image.objects.filter(
        case__in=[study_case.case_id for study_case in cases], interface=study.background_interfaces[0]
    )
    by_case = {image.case_id: image for image in images}
    return {
        study_case.pk: _file_copy(
            field_file=by_case[study_case.case_id].file, path=folder / f"reference-{study_case.pk}.nii.gz"
        )
        for study_case in cases
    }


def _blinded_mask_store(
    *, study_case: StudyCase, source: MaskSource, mask: Path | None, reference: Path
) -> None:
    try:
        content = mask_blind(mask=mask, reference_image=reference)
    except MaskMismatch as error:
        raise MaskMismatch(f"Case {study_case.case.name}: {error}") from error
    BlindedMask.objects.create(
        study_case=study_case,
        source=source,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        file=ContentFile(content, name="mask.nii.gz"),
    )


def _blinded_masks_render(*, study: ReaderStudy) -> None:
    """Render every (case, source) mask not rendered yet; each source's masks are read once."""
    cases = list(study.study_cases.select_related("case"))
    done = set(BlindedMask.objects.filter(study_case__study=study).values_list("study_case_id", "source_id"))
    with tempfile.TemporaryDirectory(prefix="reader-study-") as name:
        folder = Path(name)
        references = _reference_images(study=study, cases=cases, folder=folder)
        for source in study.sources.select_related("submission"):
            todo = [study_case for study_case in cases if (study_case.pk, source.pk) not in done]
            if not todo:
                continue
            source_folder = folder / f"source-{source.pk}"
            source_folder.mkdir()
            masks = mask_source_masks_copy(source=source, cases=todo, folder=source_folder)
            for study_case in todo:
                _blinded_mask_store(
                    study_case=study_case,
                    source=source,
                    mask=masks[study_case.pk],
                    reference=references[study_case.pk],
                )


def reader_study_prepare(*, study_id: int) -> None:
    """Render the blinded mask of every (case, source) of a PREPARING study, then make it READY.

    A study in another status is left alone, and masks already rendered are kept, so a repeat is
    harmless. A mask that cannot be shown (wrong grid, bad archive) leaves the study FAILED with a sentence.
    """
    study = ReaderStudy.objects.filter(pk=study_id, status=ReaderStudy.Status.PREPARING).first()
    if study is None:
        logger.info("Reader study %s is not being prepared; nothing to do.", study_id)
        return
    try:
        _blinded_masks_render(study=study)
    except (MaskMismatch, ArchiveRejected) as error:
        ReaderStudy.objects.filter(pk=study_id, status=ReaderStudy.Status.PREPARING).update(
            status=ReaderStudy.Status.FAILED, error=str(error)
        )
        return
    ReaderStudy.objects.filter(pk=study_id, status=ReaderStudy.Status.PREPARING).update(
        status=ReaderStudy.Status.READY
    )


def reading_order_draw(*, seed: str, case_ids: Sequence[int], source_ids: Sequence[int]) -> list[DrawnItem]:
    """The items of one reader, drawn from ``seed`` (hex): every case against every pair of sources, in a
    shuffled order, each pair's sides swapped or not at random. The same seed gives the same draw."""
    generator = random.Random(int(seed, 16))
    pairs = [(case_id, pair) for case_id in sorted(case_ids) for pair in combinations(sorted(source_ids), 2)]
    generator.shuffle(pairs)
    drawn = []
    for case_id, (first, second) in pairs:
        swapped = generator.random() < 0.5
        drawn.append(DrawnItem(case_id, second if swapped else first, first if swapped else second))
    return drawn


def study_reader_invite(*, study: ReaderStudy, user: User, invited_by: User) -> StudyReader:
    """Invite ``user`` to read ``study``. A study of hidden test cases gives them the challenge's expert
    reader role, which nobody who takes part in the challenge may hold (``ValidationError`` with the
    sentence, from ``challenge_role_grant``); a study of training cases may be read by anyone invited.

    The first invitation draws the reader's order and sides and stores them; inviting again returns the
    same reader with the same draw.
    """
    _organizer_check(user=invited_by, challenge=study.challenge)
    with transaction.atomic():
        if study.split == Split.TEST:
            challenge_role_grant(user=user, challenge=study.challenge, role=ChallengeRole.Role.READER)
        reader, created = StudyReader.objects.get_or_create(
            study=study, user=user, defaults={"seed": secrets.token_hex(16)}
        )
        if not created:
            return reader
        study_cases = {study_case.case_id: study_case for study_case in study.study_cases.all()}
        drawn = reading_order_draw(
            seed=reader.seed,
            case_ids=list(study_cases),
            source_ids=list(study.sources.values_list("pk", flat=True)),
        )
        ReadingItem.objects.bulk_create(
            ReadingItem(
                reader=reader,
                study_case=study_cases[item.case_id],
                position=position,
                source_a_id=item.source_a_id,
                source_b_id=item.source_b_id,
                token=secrets.token_urlsafe(24),
                token_a=secrets.token_urlsafe(24),
                token_b=secrets.token_urlsafe(24),
            )
            for position, item in enumerate(drawn, start=1)
        )
    return reader


def reading_item_next(*, reader: StudyReader) -> ReadingItem | None:
    """The reader's first unanswered item (None when finished), recording when it was first handed out."""
    item = reader.items.filter(answered_at__isnull=True).order_by("position").first()
    if item is not None and item.shown_at is None:
        ReadingItem.objects.filter(pk=item.pk, shown_at__isnull=True).update(shown_at=timezone.now())
        item.refresh_from_db(fields=["shown_at"])
    return item


def reading_item_drawn(*, reader: StudyReader, item_token: str) -> ReadingItem:
    """Record that the reader's page has drawn both panes of one of their items: its reading time starts
    now. The first report wins; a report after the answer changes nothing. Raises
    ``ReadingItem.DoesNotExist`` for an item that is not the reader's.
    """
    with transaction.atomic():
        # The reader's row is the lock an answer takes too: a report never lands between an answer's read
        # of the item and its write.
        StudyReader.objects.select_for_update().get(pk=reader.pk)
        item = reader.items.get(token=item_token)
        if item.drawn_at is None and item.answered_at is None:
            item.drawn_at = timezone.now()
            item.save(update_fields=["drawn_at"])
    return item


def _rating_check(rating: int | None, *, asked: bool) -> int | None:
    if rating is None:
        return None
    if not asked:
        raise ValidationError("This study asks for no quality ratings.", code="invalid")
    if not 1 <= rating <= 5:
        raise ValidationError("A quality rating is a whole number from 1 to 5.", code="invalid")
    return rating


def reading_item_answer(
    *,
    user: User,
    item_token: str,
    preference: str,
    rating_a: int | None = None,
    rating_b: int | None = None,
    comment: str = "",
) -> ReadingItem:
    """Record the reader's answer to one of their items, once; the last answer finishes the study for them.

    Its reading time runs from when the page reported both panes drawn (``reading_item_drawn``); where it
    never did (the viewer could not start, or the report was lost), from when the item was handed out,
    which counts the images' loading too and so never makes an answer look faster than it was.

    Raises ``ReadingItem.DoesNotExist`` for an item that is not the user's, and ``ValidationError`` (code
    ``already_answered`` or ``study_finished``) for a second answer or any answer after finishing.
    """
    with transaction.atomic():
        reader = (
            StudyReader.objects.select_for_update()
            .select_related("study")
            .get(user=user, items__token=item_token, study__status=ReaderStudy.Status.READY)
        )
        item = reader.items.get(token=item_token)
        if reader.finished_at is not None:
            raise ValidationError(
                "You have finished this study; its answers are locked.", code="study_finished"
            )
        if item.answered_at is not None:
            raise ValidationError(
                "This item has been answered; an answer cannot be changed.", code="already_answered"
            )
        if preference not in Preference.values:
            raise ValidationError("Choose A, B or no preference.", code="invalid")
        if comment and not reader.study.asks_comment:
            raise ValidationError("This study takes no comments.", code="invalid")
        now = timezone.now()
        item.preference = preference
        item.rating_a = _rating_check(rating_a, asked=reader.study.asks_quality_rating)
        item.rating_b = _rating_check(rating_b, asked=reader.study.asks_quality_rating)
        item.comment = comment.strip()
        item.shown_at = item.shown_at or now
        item.answered_at = now
        item.seconds = (now - (item.drawn_at or item.shown_at)).total_seconds()
        item.save()
        if not reader.items.filter(answered_at__isnull=True).exists():
            reader.finished_at = now
            reader.save(update_fields=["finished_at"])
    return item


def readerstudy_demo_create(*, submission: Submission, organizer: User, reader: User) -> ReaderStudy:
    """The demo's study: ``submission`` (the final phase's baseline once it has succeeded) against the
    reference masks on its phase's cases, with ``reader`` invited. A study of that submission made
    earlier (and not failed) is returned as it is, so running the demo again makes no second one."""
    existing = (
        ReaderStudy.objects.filter(sources__submission=submission)
        .filter(~Q(status=ReaderStudy.Status.FAILED))
        .first()
    )
    study = existing or reader_study_create(
        created_by=organizer,
        challenge=submission.phase.challenge,
        dataset=submission.phase.dataset,
        split=submission.phase.split,
        title="Demo: baseline algorithm against the reference masks",
        sources=[REFERENCE, submission],
        asks_quality_rating=True,
        asks_comment=True,
    )
    study_reader_invite(study=study, user=reader, invited_by=organizer)
    return study


# --- Annotation campaigns --------------------------------------------------------------------------
# A campaign is created PREPARING; ``annotation_campaign_prepare`` (queued after the commit) stores each
# case's starting mask and makes it READY, or FAILED with a sentence. An assignment goes NOT_STARTED ->
# IN_PROGRESS (first saved revision) -> DONE (the annotator says so; its mask is then final), each change
# recorded as an ``AssignmentEvent`` with who and when.

DEMO_CAMPAIGN_TITLE = "Demo: correct the threshold algorithm's pre-annotation"
IMAGE_CHOICES = ("non-contrast-ct", "preprocessed-tmax-map", "preprocessed-CT-angiography")
Assignment = AnnotationAssignment


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


def _starting_masks_store(*, campaign: AnnotationCampaign) -> None:
    todo = list(campaign.campaign_cases.filter(starting_mask="").select_related("case"))
    with tempfile.TemporaryDirectory(prefix="campaign-") as name:
        folder = Path(name)
        uploaded: Mapping[str, Path] = {}
        if campaign.starting_mask == AnnotationCampaign.StartingMask.UPLOADED and todo:
            archive = image_copy(campaign.uploaded_masks, folder=folder, name="uploaded")
            uploaded = archive_extract_masks(archive, folder / "uploaded-masks", limits=ARCHIVE_LIMITS).files
        for campaign_case in todo:
            content = _starting_mask_bytes(
                campaign=campaign, campaign_case=campaign_case, folder=folder, uploaded=uploaded
            )
            campaign_case.starting_mask.save("start.nii.gz", ContentFile(content), save=True)


def annotation_campaign_prepare(*, campaign_id: int) -> None:
    """Store the starting mask of every case of a PREPARING campaign, then make it READY.

    EMPTY gives an empty mask on the case's reference grid. PRE_ANNOTATION runs the ``threshold``
    reference algorithm on the case's ``preprocessed-tmax-map``: the same ``threshold_predict`` and
    image reader the algorithm's container runs (``inference.reference.threshold``), in this worker
    rather than in a container, since it is a few lines of NumPy. UPLOADED reads the organizer's archive
    safely (``portal.submissions.archives``) and checks each mask as a saved one is checked.

    A campaign in another status is left alone and masks already stored are kept, so a repeat is harmless.
    A case that cannot be given a starting mask leaves the campaign FAILED with a sentence.
    """
    campaign = AnnotationCampaign.objects.filter(
        pk=campaign_id, status=AnnotationCampaign.Status.PREPARING
    ).first()
    if campaign is None:
        logger.info("Annotation campaign %s is not being prepared; nothing to do.", campaign_id)
        return
    try:
        _starting_masks_store(campaign=campaign)
    except (MaskMismatch, ArchiveRejected) as error:
        AnnotationCampaign.objects.filter(pk=campaign_id, status=AnnotationCampaign.Status.PREPARING).update(
            status=AnnotationCampaign.Status.FAILED, error=str(error)
        )
        return
    AnnotationCampaign.objects.filter(pk=campaign_id, status=AnnotationCampaign.Status.PREPARING).update(
        status=AnnotationCampaign.Status.READY, ready_at=timezone.now()
    )


def _assignment_status_set(*, assignment: Assignment, to_status: str, by: User) -> None:
    """Move a locked assignment to ``to_status`` and record the change."""
    AssignmentEvent.objects.create(
        assignment=assignment, from_status=assignment.status, to_status=to_status, by=by
    )
    now = timezone.now()
    assignment.status = to_status
    if to_status == Assignment.Status.IN_PROGRESS and assignment.started_at is None:
        assignment.started_at = now
    if to_status == Assignment.Status.DONE:
        assignment.done_at = now
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
        transaction.on_commit(
            partial(tasks.campaign_case_agreement_task.delay, campaign_case_id=assignment.campaign_case_id)
        )
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


def campaign_case_agreement_compute(*, campaign_case_id: int) -> None:
    """Compute and store the agreement of a case's finished masks and their STAPLE consensus mask.

    Computed from the newest revision of every DONE assignment of the case, and recorded with their ids
    (``agreement_basis``): when nothing was finished since, it does nothing, so a repeat is harmless. The
    masks are read and STAPLE runs (seconds on a full-size grid) outside any transaction; the result is
    stored only if no other mask was finished meanwhile (that finish queued its own computation).
    """
    campaign_case = CampaignCase.objects.select_related("case").get(pk=campaign_case_id)
    revisions = selectors.campaign_case_finished_revisions(campaign_case=campaign_case)
    basis = sorted(revision.pk for revision in revisions.values())
    if campaign_case.agreement is not None and campaign_case.agreement_basis == basis:
        logger.info("The agreement of campaign case %s is up to date.", campaign_case_id)
        return
    masks = {username: mask_array_read(revision.file) for username, revision in revisions.items()}
    agreement, consensus = _agreement_of(campaign_case=campaign_case, masks=masks)
    consensus_bytes = (
        None
        if consensus is None
        else mask_image_bytes(consensus.mask, like=stored_image_read(next(iter(revisions.values())).file))
    )
    with transaction.atomic():
        locked = CampaignCase.objects.select_for_update().get(pk=campaign_case_id)
        now = selectors.campaign_case_finished_revisions(campaign_case=locked)
        if sorted(revision.pk for revision in now.values()) != basis:
            logger.info(
                "A mask of campaign case %s was finished meanwhile; its own task recomputes.", locked.pk
            )
            return
        locked.agreement_basis, locked.agreement = basis, agreement
        if consensus_bytes is None:
            locked.consensus_mask = ""
        else:
            locked.consensus_mask.save("consensus.nii.gz", ContentFile(consensus_bytes), save=False)
        locked.save(update_fields=["agreement_basis", "agreement", "consensus_mask"])


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
    *, campaign: AnnotationCampaign, user: User, annotator: User | None = None, note: str = ""
) -> GroundTruthVersion:
    """Make the dataset's next ground-truth version from the campaign: the STAPLE consensus of each case's
    finished masks, or with ``annotator`` that annotator's finished masks. Other cases of the dataset keep
    their current masks (``ground_truth_version_create``). No phase changes until an organizer switches it.

    Raises ``PermissionDenied`` for anyone but an organizer, and ``ValidationError`` naming the cases with
    fewer than two finished masks (consensus) or without the annotator's finished mask.
    """
    _organizer_check(user=user, challenge=campaign.challenge)
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
