"""Reads of reader studies: who may see which study, a reader's items and files, and the answers that
``evaluation.preference`` turns into the study's results (see its docstring for the statistics).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet

from evaluation import preference
from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import organizer_of, user_is_organizer
from portal.challenges.models import Challenge
from portal.datasets.models import Dataset, Image
from portal.readerstudies.models import BlindedMask, MaskSource, ReaderStudy, ReadingItem, StudyReader
from portal.submissions.models import Submission


@dataclass(frozen=True)
class ReaderProgress:
    reader: StudyReader
    answered: int
    total: int


def reader_study_can_manage(*, user: User, challenge: Challenge | int) -> bool:
    """Whether the user may create, manage and read the results of the challenge's studies: its
    organizers (the portal's one organizer rule)."""
    return user_is_organizer(user=user, challenge=challenge)


def submission_comparable_problem(*, submission: Submission, dataset: Dataset, split: str) -> str | None:
    """Why a study of the dataset split's cases cannot compare the submission's masks, or None when it can.

    The one rule for both kinds: the submission was made to a phase on exactly these cases, and it has
    succeeded, so its masks are final and scored (an archive's masks, or the segmentations its algorithm's
    jobs wrote). A case without a mask (a failed job, a mask left out) is shown as an empty mask, as it is
    scored with the worst values.
    """
    if submission.phase.dataset_id != dataset.pk or submission.phase.split != split:
        return f"Submission {submission.pk} was made to a phase on other cases than this study's."
    if submission.status != Submission.Status.SUCCEEDED:
        return f"Submission {submission.pk} has not succeeded; only scored submissions can be compared."
    return None


def submission_list_comparable(*, challenge: Challenge) -> QuerySet[Submission]:
    """The challenge's submissions a study of their phase's cases can compare (see
    ``submission_comparable_problem``), newest first, with what their labels name."""
    return (
        Submission.objects.filter(phase__challenge=challenge, status=Submission.Status.SUCCEEDED)
        .select_related("team", "creator", "phase")
        .order_by("-created_at", "-pk")
    )


def reader_study_list_organized_by(*, user: User) -> QuerySet[ReaderStudy]:
    """The studies of the challenges the user organizes, newest first."""
    return ReaderStudy.objects.select_related("challenge").filter(
        organizer_of(user, challenge="challenge_id")
    )


def study_reader_list_for(*, user: User) -> QuerySet[StudyReader]:
    """The user's invitations to read, with their studies' challenges."""
    return StudyReader.objects.filter(user=user).select_related("study__challenge").order_by("-invited_at")


def reader_study_get_for_organizer(*, user: User, study_id: int) -> ReaderStudy:
    """The study if the user organizes its challenge.

    Raises ``PermissionDenied`` for one of its readers, who knows the study (their list names it, their
    reading page is at its URL) but may not manage it or read its results, and ``ReaderStudy.DoesNotExist``
    for anyone else, who does not learn that it exists.
    """
    study = ReaderStudy.objects.select_related("challenge", "dataset").get(pk=study_id)
    if reader_study_can_manage(user=user, challenge=study.challenge_id):
        return study
    if user.is_authenticated and StudyReader.objects.filter(study=study, user=user).exists():
        raise PermissionDenied("Only the organizers of the challenge manage this study and read its results.")
    raise ReaderStudy.DoesNotExist


def study_reader_get(*, user: User, study_id: int) -> StudyReader:
    """The user's place in a READY study; raises ``StudyReader.DoesNotExist`` unless they were invited."""
    if not user.is_authenticated:
        raise StudyReader.DoesNotExist
    return StudyReader.objects.select_related("study").get(
        study=study_id, user=user, study__status=ReaderStudy.Status.READY
    )


def study_reader_instructions_first(*, reader: StudyReader) -> bool:
    """Whether the reader is shown the study's instructions before their first item: the study has some
    and the reader has neither gone on from them nor answered anything."""
    return (
        bool(reader.study.instructions)
        and reader.instructions_read_at is None
        and not reader.items.filter(answered_at__isnull=False).exists()
    )


def study_reader_progress(*, reader: StudyReader) -> tuple[int, int]:
    """(answered, total) items of the reader."""
    counts = reader.items.aggregate(
        total=Count("pk"), answered=Count("pk", filter=Q(answered_at__isnull=False))
    )
    return counts["answered"], counts["total"]


def study_reader_list(*, study: ReaderStudy) -> list[ReaderProgress]:
    """The study's readers with their progress."""
    readers = study.readers.select_related("user").annotate(
        total=Count("items"), answered=Count("items", filter=Q(items__answered_at__isnull=False))
    )
    return [ReaderProgress(reader, reader.answered, reader.total) for reader in readers]


def reading_item_following(*, item: ReadingItem) -> ReadingItem | None:
    """The reader's first unanswered item after ``item`` (None when there is none): the one the reading
    page shows once ``item`` is answered, whose files it downloads while the reader reads ``item``."""
    later = ReadingItem.objects.filter(reader=item.reader_id, position__gt=item.position)
    return later.filter(answered_at__isnull=True).order_by("position").first()


def reading_mask_get(*, user: User, token: str) -> BlindedMask:
    """The blinded mask behind one side's token of one of the user's items; ``DoesNotExist`` otherwise.

    Both sides go through this one lookup, so neither answers faster or differently.
    """
    item = ReadingItem.objects.get(
        Q(token_a=token) | Q(token_b=token), reader__user=user, reader__study__status=ReaderStudy.Status.READY
    )
    source_id = item.source_a_id if item.token_a == token else item.source_b_id
    return BlindedMask.objects.get(study_case=item.study_case_id, source=source_id)


def reading_backgrounds(*, item: ReadingItem, interfaces: Sequence[str]) -> list[Image]:
    """The item's case's images of ``interfaces``, in their order (the study made sure the case has each)."""
    images = Image.objects.filter(case=item.study_case.case_id, interface__in=interfaces)
    by_interface = {image.interface: image for image in images}
    return [by_interface[interface] for interface in interfaces]


def reading_background_get(*, user: User, item_token: str, index: int) -> Image:
    """The ``index``-th background image of one of the user's items; ``DoesNotExist`` otherwise."""
    item = ReadingItem.objects.select_related("reader__study", "study_case").get(
        token=item_token, reader__user=user, reader__study__status=ReaderStudy.Status.READY
    )
    interfaces = item.reader.study.background_interfaces
    if not 0 <= index < len(interfaces):
        raise Image.DoesNotExist
    return Image.objects.get(case=item.study_case.case_id, interface=interfaces[index])


def reader_study_answers(*, study: ReaderStudy) -> QuerySet[ReadingItem]:
    """Every answered item of the study with its reader, case and both sources, in reader and item order."""
    return (
        ReadingItem.objects.filter(reader__study=study, answered_at__isnull=False)
        .select_related("reader__user", "study_case__case", "source_a", "source_b")
        .order_by("reader__invited_at", "reader__pk", "position")
    )


def _preferred(item: ReadingItem) -> MaskSource | None:
    if item.preference == ReadingItem.Preference.A:
        return item.source_a
    if item.preference == ReadingItem.Preference.B:
        return item.source_b
    return None


def answer_preferred_label(item: ReadingItem) -> str:
    """The label of the source the reader preferred, or "none"."""
    preferred = _preferred(item)
    return "none" if preferred is None else preferred.label


def answer_is_fast(item: ReadingItem, *, minimum_reading_seconds: float) -> bool:
    """Whether the answer came faster than the study's shortest plausible reading time."""
    return preference.answer_is_fast(item.seconds, minimum_reading_seconds=minimum_reading_seconds)


def _answer(item: ReadingItem) -> preference.Answer:
    preferred = _preferred(item)
    return preference.Answer(
        reader=item.reader.user.username,
        case=item.study_case_id,
        source_a=item.source_a_id,
        source_b=item.source_b_id,
        preferred=None if preferred is None else preferred.pk,
        rating_a=item.rating_a,
        rating_b=item.rating_b,
        seconds=item.seconds,
        trial=item.trial,
    )


def reader_study_results(*, study: ReaderStudy, exclude_fast: bool = False) -> preference.StudyResults:
    """The study's statistics over every answer so far (``evaluation.preference.study_results``), or, with
    ``exclude_fast``, over those no faster than the study's minimum reading time. Fast answers are counted
    per reader either way."""
    return preference.study_results(
        study=study.title,
        items=ReadingItem.objects.filter(reader__study=study).count(),
        sources={source.pk: source.label for source in study.sources.all()},
        answers=[_answer(item) for item in reader_study_answers(study=study)],
        minimum_reading_seconds=study.minimum_reading_seconds,
        exclude_fast=exclude_fast,
    )


def reader_candidate_list(*, study: ReaderStudy) -> QuerySet[User]:
    """Users holding the reader role in the study's challenge, by name."""
    return User.objects.filter(
        challenge_roles__challenge=study.challenge_id, challenge_roles__role=ChallengeRole.Role.READER
    ).order_by("username")
