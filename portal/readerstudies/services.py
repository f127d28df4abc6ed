"""Everything that can happen to a reader study: creation, preparing its blinded masks, inviting readers
(with their one draw of order and sides), showing an item and recording an answer.

A study is created ``PREPARING``; ``reader_study_prepare`` (queued after the commit) renders one blinded
mask per (case, source) into private storage and moves it to ``READY``, or to ``FAILED`` with a
sentence. Inviting a reader draws, once and for good, the order of the reader's items and which source
of each is A (left): the seed comes from the ``secrets`` module and is stored, so the draw can be
checked later. Every answer is final: an item takes one answer, and once a reader has answered the last
item the study is finished for them and their answers are locked.
"""

import hashlib
import logging
import math
import random
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from pathlib import Path
from typing import Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from evaluation.archives import ArchiveRejected
from evaluation.blinding import MaskMismatch, mask_blind
from portal.accounts.models import ChallengeRole, User
from portal.accounts.services import challenge_role_grant
from portal.challenges.models import Challenge, Split
from portal.datasets.models import Case, Dataset, Image
from portal.datasets.selectors import case_ground_truth_get
from portal.errors import StepFailed
from portal.readerstudies import selectors, tasks
from portal.readerstudies.models import (
    DEFAULT_MINIMUM_READING_SECONDS,
    BlindedMask,
    MaskSource,
    ReaderStudy,
    ReadingItem,
    StudyCase,
    StudyReader,
)
from portal.steps.services import Step, step_register, step_run
from portal.submissions.models import Submission
from portal.submissions.services import submission_masks_copy

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
    trial: str = ReadingItem.Trial.REAL


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


def _catch_trials_check(
    *, comparisons: int, masks: int, same_mask_trials: int, repeated_pairs: int
) -> list[str]:
    """A same-mask trial shows one (case, source) mask, each at most once; a repeated comparison needs a
    later, non-adjacent place, so the last comparison cannot be repeated."""
    problems = []
    if not 0 <= same_mask_trials <= masks:
        problems.append(f"Choose from 0 to {masks} same-mask catch trials: one per case and source at most.")
    if not 0 <= repeated_pairs <= max(comparisons - 1, 0):
        problems.append(
            f"Choose from 0 to {max(comparisons - 1, 0)} repeated comparisons: one fewer than the "
            f"{comparisons} comparisons each reader makes."
        )
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
    instructions: str = "",
    same_mask_trials: int = 0,
    repeated_pairs: int = 0,
) -> ReaderStudy:
    """Create a PREPARING study of ``sources`` on every case of the dataset split and queue its preparation.

    ``sources`` are ``REFERENCE`` or submissions that ``selectors.submission_comparable_problem`` passes
    (predictions or algorithm, succeeded, on the same cases). Answers given in less than
    ``minimum_reading_seconds`` are flagged as implausibly fast in the results. ``instructions``
    (Markdown) are shown to each reader before their first item. Each reader also gets
    ``same_mask_trials`` and ``repeated_pairs`` catch trials (``reading_order_draw``). Raises
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
    problems += _catch_trials_check(
        comparisons=len(cases) * len(list(combinations(sources, 2))),
        masks=len(cases) * len(sources),
        same_mask_trials=same_mask_trials,
        repeated_pairs=repeated_pairs,
    )
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
            instructions=instructions.strip(),
            same_mask_trials=same_mask_trials,
            repeated_pairs=repeated_pairs,
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


def reader_study_design_update(
    *, study: ReaderStudy, user: User, instructions: str, same_mask_trials: int, repeated_pairs: int
) -> ReaderStudy:
    """Change the readers' instructions, at any time, and the catch-trial counts, until the first reader is
    invited (each reader's draw, catch trials included, is made once at their invitation).

    Raises ``PermissionDenied`` for anyone but an organizer, ``ValidationError`` listing every problem.
    """
    _organizer_check(user=user, challenge=study.challenge)
    problems = []
    if (same_mask_trials, repeated_pairs) != (study.same_mask_trials, study.repeated_pairs):
        if study.readers.exists():
            problems.append(
                "The catch trials were drawn when the first reader was invited; a new study can have others."
            )
        cases, sources = study.study_cases.count(), study.sources.count()
        problems += _catch_trials_check(
            comparisons=cases * sources * (sources - 1) // 2,
            masks=cases * sources,
            same_mask_trials=same_mask_trials,
            repeated_pairs=repeated_pairs,
        )
    if problems:
        raise ValidationError(problems, code="invalid")
    study.instructions = instructions.strip()
    study.same_mask_trials, study.repeated_pairs = same_mask_trials, repeated_pairs
    study.save(update_fields=["instructions", "same_mask_trials", "repeated_pairs"])
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
    submission gives the masks its kind gives (``submission_masks_copy``: a predictions archive's masks,
    an algorithm's segmentations). None where a submission has no mask of a case.
    """
    if source.submission is None:
        return {case.pk: _reference_mask_copy(study_case=case, folder=folder) for case in cases}
    files = submission_masks_copy(submission=source.submission, folder=folder / "masks")
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


def _blinded_masks_render(*, study: ReaderStudy, folder: Path) -> None:
    """Render every (case, source) mask not rendered yet, in the scratch ``folder``; each source's masks
    are read once."""
    cases = list(study.study_cases.select_related("case"))
    done = set(BlindedMask.objects.filter(study_case__study=study).values_list("study_case_id", "source_id"))
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


class ReaderStudyPreparation(Step[ReaderStudy, None]):
    """PREPARING -> READY once the blinded mask of every (case, source) is rendered, or FAILED with a
    sentence (a mask on another grid, a bad archive, or an unexpected error the log explains).

    Masks already rendered are kept, so a repeat, or a worker taking over from a dead one, renders only
    what is missing.
    """

    name = "reader study preparation"
    model = ReaderStudy
    statuses = (ReaderStudy.Status.PREPARING,)
    unexpected = "An unexpected error occurred while preparing the study; the server's log has the details."
    afterword = ""

    def queue(self, pk: int) -> None:
        tasks.reader_study_prepare_task.delay(study_id=pk)

    def work(self, row: ReaderStudy, scratch: Path) -> None:
        try:
            _blinded_masks_render(study=row, folder=scratch)
        except (MaskMismatch, ArchiveRejected) as error:
            raise StepFailed(str(error)) from error

    def record(self, row: ReaderStudy, result: None) -> None:
        row.status = ReaderStudy.Status.READY
        row.save()

    def fail(self, row: ReaderStudy, *, sentence: str, note: str) -> None:
        row.status, row.error = ReaderStudy.Status.FAILED, sentence
        row.save()


STUDY_PREPARATION = ReaderStudyPreparation()


def reader_study_prepare(*, study_id: int) -> None:
    """Render the blinded mask of every (case, source) of a PREPARING study, then make it READY
    (``ReaderStudyPreparation``); a study in another status is left alone, so a repeat is harmless."""
    step_run(STUDY_PREPARATION, pk=study_id)


def reader_study_steps_register() -> None:
    """Let the step engine's sweeper watch the preparation of reader studies."""
    step_register(STUDY_PREPARATION)


def _sides_draw(generator: random.Random, first: int, second: int) -> tuple[int, int]:
    swapped = generator.random() < 0.5
    return (second, first) if swapped else (first, second)


def reading_order_draw(
    *,
    seed: str,
    case_ids: Sequence[int],
    source_ids: Sequence[int],
    same_mask_trials: int = 0,
    repeated_pairs: int = 0,
) -> list[DrawnItem]:
    """The items of one reader, drawn from ``seed`` (hex): every case against every pair of sources, in a
    shuffled order, each pair's sides swapped or not at random. The same seed gives the same draw.

    Catch trials are then put in at random places: ``same_mask_trials`` distinct (case, source) masks
    shown on both sides, and ``repeated_pairs`` distinct comparisons shown again later, never right after
    their first showing (at least one item between), with their sides drawn anew. Callers check the
    counts (``_catch_trials_check``).
    """
    generator = random.Random(int(seed, 16))
    pairs = [(case_id, pair) for case_id in sorted(case_ids) for pair in combinations(sorted(source_ids), 2)]
    generator.shuffle(pairs)
    drawn = [DrawnItem(case_id, *_sides_draw(generator, *pair)) for case_id, pair in pairs]
    masks = [(case_id, source_id) for case_id in sorted(case_ids) for source_id in sorted(source_ids)]
    for case_id, source_id in generator.sample(masks, same_mask_trials):
        catch = DrawnItem(case_id, source_id, source_id, ReadingItem.Trial.SAME_MASK)
        drawn.insert(generator.randint(0, len(drawn)), catch)
    # The sequence's last item has no later, non-adjacent place; any earlier one has.
    candidates = [item for item in drawn[:-1] if item.trial == ReadingItem.Trial.REAL]
    for original in generator.sample(candidates, repeated_pairs):
        index = next(place for place, item in enumerate(drawn) if item is original)
        sides = _sides_draw(generator, *sorted((original.source_a_id, original.source_b_id)))
        repeat = DrawnItem(original.case_id, *sides, ReadingItem.Trial.REPEAT)
        drawn.insert(generator.randint(index + 2, len(drawn)), repeat)
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
            same_mask_trials=study.same_mask_trials,
            repeated_pairs=study.repeated_pairs,
        )
        ReadingItem.objects.bulk_create(
            ReadingItem(
                reader=reader,
                study_case=study_cases[item.case_id],
                position=position,
                source_a_id=item.source_a_id,
                source_b_id=item.source_b_id,
                trial=item.trial,
                token=secrets.token_urlsafe(24),
                token_a=secrets.token_urlsafe(24),
                token_b=secrets.token_urlsafe(24),
            )
            for position, item in enumerate(drawn, start=1)
        )
    return reader


def study_reader_instructions_read(*, reader: StudyReader) -> StudyReader:
    """Record that the reader went on from the study's instructions to its items (the first time counts)."""
    StudyReader.objects.filter(pk=reader.pk, instructions_read_at__isnull=True).update(
        instructions_read_at=timezone.now()
    )
    reader.refresh_from_db(fields=["instructions_read_at"])
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


def readerstudy_demo_create(
    *,
    submission: Submission,
    organizer: User,
    reader: User,
    instructions: str,
    same_mask_trials: int,
    repeated_pairs: int,
) -> ReaderStudy:
    """The demo's study: ``submission`` (the final phase's baseline once it has succeeded) against the
    reference masks on its phase's cases, with the demo's design (its ``instructions`` and catch trials),
    and ``reader`` invited. A study of that submission made earlier (and not failed) is returned as it is,
    so running the demo again makes no second one."""
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
        instructions=instructions,
        same_mask_trials=same_mask_trials,
        repeated_pairs=repeated_pairs,
    )
    study_reader_invite(study=study, user=reader, invited_by=organizer)
    return study
