"""Reads of reader studies (who may see which study, a reader's items and files, and the results) and of
annotation campaigns (assignments, progress, agreement and consensus; see their section).

Results use the statistics of ``evaluation.stats``. A source's preference rate counts, over the
comparisons it took part in, the ones where a reader preferred it; "no preference" answers are ties and
are left out of the rate, its Wilson interval and the sign test (which tests the rate against 50 %), and
are reported beside them. Fleiss' kappa is computed over the items every reader with an answer has
answered, with three categories per compared pair (first source, second source, no preference).
"""

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, QuerySet
from scipy.stats import t as student_t

from evaluation.agreement import AnnotatorEstimate, PairAgreement
from evaluation.stats import bradley_terry, fleiss_kappa, sign_test, wilson_interval
from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import INSIDE_ROLES, organizer_of, user_is_organizer, users_taking_part
from portal.challenges.models import Challenge
from portal.datasets.models import Dataset, Image
from portal.readerstudies.models import (
    AnnotationAssignment,
    AnnotationCampaign,
    BlindedMask,
    CampaignCase,
    MaskRevision,
    MaskSource,
    ReaderStudy,
    ReadingItem,
    StudyReader,
)
from portal.submissions.models import Submission

PSEUDO_WINS = 0.5
"""Added to every pair's wins when the Bradley-Terry maximum does not exist (a source never won or lost)."""


@dataclass(frozen=True)
class PreferenceRate:
    """How often readers preferred a source over the other source of its comparisons (ties left out)."""

    source: str
    wins: int
    losses: int
    ties: int
    rate: float | None
    interval: tuple[float, float] | None
    sign_test_p: float


@dataclass(frozen=True)
class ReaderRates:
    reader: str
    answered: int
    rates: tuple[PreferenceRate, ...]


@dataclass(frozen=True)
class RatingSummary:
    """Mean 1-5 quality rating of a source's masks with a 95 % t interval (none under two ratings)."""

    source: str
    ratings: int
    mean: float | None
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class Strength:
    source: str
    strength: float


@dataclass(frozen=True)
class ReadingTimes:
    """Seconds from an item's panes drawn to its answer, by the server's clock (see
    ``services.reading_item_answer``), over the answers counted; ``fast_answers`` counts every answer
    faster than the study's minimum reading time, excluded or not."""

    reader: str
    answered: int
    median_seconds: float | None
    mean_seconds: float | None
    fast_answers: int


@dataclass(frozen=True)
class StudyResults:
    study: str
    answered: int
    items: int
    sources: tuple[str, ...]
    preference: tuple[PreferenceRate, ...]
    per_reader: tuple[ReaderRates, ...]
    fleiss_kappa: float | None
    kappa_items: int
    ratings: tuple[RatingSummary, ...]
    bradley_terry: tuple[Strength, ...] | None
    bradley_terry_pseudo_wins: float
    times: tuple[ReadingTimes, ...]
    minimum_reading_seconds: float
    fast_answers: int
    fast_answers_excluded: int
    """Answers faster than the minimum reading time left out of every statistic (0 unless asked)."""


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


def reading_mask_get(*, user: User, token: str) -> BlindedMask:
    """The blinded mask behind one side's token of one of the user's items; ``DoesNotExist`` otherwise.

    Both sides go through this one lookup, so neither answers faster or differently.
    """
    item = ReadingItem.objects.get(
        Q(token_a=token) | Q(token_b=token), reader__user=user, reader__study__status=ReaderStudy.Status.READY
    )
    source_id = item.source_a_id if item.token_a == token else item.source_b_id
    return BlindedMask.objects.get(study_case=item.study_case_id, source=source_id)


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


def _rates(items: Sequence[ReadingItem], sources: Sequence[MaskSource]) -> tuple[PreferenceRate, ...]:
    wins: dict[int, int] = defaultdict(int)
    losses: dict[int, int] = defaultdict(int)
    ties: dict[int, int] = defaultdict(int)
    for item in items:
        preferred = _preferred(item)
        for source, other in ((item.source_a, item.source_b), (item.source_b, item.source_a)):
            if preferred is None:
                ties[source.pk] += 1
            elif preferred.pk == source.pk:
                wins[source.pk] += 1
            elif preferred.pk == other.pk:
                losses[source.pk] += 1
    rates = []
    for source in sources:
        decided = wins[source.pk] + losses[source.pk]
        rates.append(
            PreferenceRate(
                source=source.label,
                wins=wins[source.pk],
                losses=losses[source.pk],
                ties=ties[source.pk],
                rate=wins[source.pk] / decided if decided else None,
                interval=wilson_interval(wins[source.pk], decided) if decided else None,
                sign_test_p=sign_test(wins[source.pk], decided),
            )
        )
    return tuple(rates)


def _kappa(items: Sequence[ReadingItem]) -> tuple[float | None, int]:
    by_subject: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    readers = {item.reader_id for item in items}
    for item in items:
        first, second = sorted((item.source_a_id, item.source_b_id))
        preferred = _preferred(item)
        category = 2 if preferred is None else (0 if preferred.pk == first else 1)
        by_subject[(item.study_case_id, first, second)].append(category)
    rows = [
        [categories.count(0), categories.count(1), categories.count(2)]
        for categories in by_subject.values()
        if len(categories) == len(readers)
    ]
    if len(readers) < 2 or not rows:
        return None, len(rows)
    kappa = fleiss_kappa(rows)
    return (None if math.isnan(kappa) else kappa), len(rows)


def _mean_interval(values: Sequence[int]) -> tuple[float | None, tuple[float, float] | None]:
    if not values:
        return None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half_width = (
        float(student_t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    )
    return mean, (mean - half_width, mean + half_width)


def _ratings(items: Sequence[ReadingItem], sources: Sequence[MaskSource]) -> tuple[RatingSummary, ...]:
    by_source: dict[int, list[int]] = defaultdict(list)
    for item in items:
        for source_id, rating in ((item.source_a_id, item.rating_a), (item.source_b_id, item.rating_b)):
            if rating is not None:
                by_source[source_id].append(rating)
    summaries = []
    for source in sources:
        mean, interval = _mean_interval(by_source[source.pk])
        summaries.append(RatingSummary(source.label, len(by_source[source.pk]), mean, interval))
    return tuple(summaries)


def _strengths(
    items: Sequence[ReadingItem], sources: Sequence[MaskSource]
) -> tuple[tuple[Strength, ...] | None, float]:
    if len(sources) < 3 or not items:
        return None, 0.0
    index = {source.pk: position for position, source in enumerate(sources)}
    wins = np.zeros((len(sources), len(sources)))
    for item in items:
        preferred = _preferred(item)
        if preferred is not None:
            loser = item.source_b_id if preferred.pk == item.source_a_id else item.source_a_id
            wins[index[preferred.pk], index[loser]] += 1
    pseudo_wins = 0.0
    try:
        strengths = bradley_terry(wins)
    except ValueError:
        pseudo_wins = PSEUDO_WINS
        strengths = bradley_terry(wins + PSEUDO_WINS * (1 - np.eye(len(sources))))
    return tuple(
        Strength(source.label, strength) for source, strength in zip(sources, strengths, strict=True)
    ), pseudo_wins


def answer_is_fast(item: ReadingItem, *, minimum_reading_seconds: float) -> bool:
    """Whether the answer came faster than the study's shortest plausible reading time."""
    return item.seconds is not None and item.seconds < minimum_reading_seconds


def _times(
    by_reader: Iterable[tuple[str, Sequence[ReadingItem]]],
    *,
    counted: Callable[[ReadingItem], bool],
    minimum: float,
) -> tuple[ReadingTimes, ...]:
    times = []
    for reader, items in by_reader:
        seconds = [item.seconds for item in items if item.seconds is not None and counted(item)]
        times.append(
            ReadingTimes(
                reader=reader,
                answered=len(seconds),
                median_seconds=statistics.median(seconds) if seconds else None,
                mean_seconds=statistics.fmean(seconds) if seconds else None,
                fast_answers=sum(answer_is_fast(item, minimum_reading_seconds=minimum) for item in items),
            )
        )
    return tuple(times)


def reader_study_results(*, study: ReaderStudy, exclude_fast: bool = False) -> StudyResults:
    """The study's statistics over every answer so far (see the module docstring for the rules), or, with
    ``exclude_fast``, over those no faster than the study's minimum reading time. Fast answers are counted
    per reader either way."""
    sources = list(study.sources.all())
    answers = list(reader_study_answers(study=study))
    minimum = study.minimum_reading_seconds

    def counted(item: ReadingItem) -> bool:
        return not (exclude_fast and answer_is_fast(item, minimum_reading_seconds=minimum))

    items = [item for item in answers if counted(item)]
    answers_by_reader: dict[str, list[ReadingItem]] = defaultdict(list)
    for item in answers:
        answers_by_reader[item.reader.user.username].append(item)
    by_reader = {
        reader: [item for item in reader_answers if counted(item)]
        for reader, reader_answers in answers_by_reader.items()
    }
    kappa, kappa_items = _kappa(items)
    strengths, pseudo_wins = _strengths(items, sources)
    fast_answers = sum(answer_is_fast(item, minimum_reading_seconds=minimum) for item in answers)
    return StudyResults(
        study=study.title,
        answered=len(answers),
        items=ReadingItem.objects.filter(reader__study=study).count(),
        sources=tuple(source.label for source in sources),
        preference=_rates(items, sources),
        per_reader=tuple(
            ReaderRates(reader, len(reader_items), _rates(reader_items, sources))
            for reader, reader_items in by_reader.items()
        ),
        fleiss_kappa=kappa,
        kappa_items=kappa_items,
        ratings=_ratings(items, sources),
        bradley_terry=strengths,
        bradley_terry_pseudo_wins=pseudo_wins,
        times=_times(
            [("all readers", answers), *answers_by_reader.items()], counted=counted, minimum=minimum
        ),
        minimum_reading_seconds=minimum,
        fast_answers=fast_answers,
        fast_answers_excluded=len(answers) - len(items),
    )


def reader_candidate_list(*, study: ReaderStudy) -> QuerySet[User]:
    """Users holding the reader role in the study's challenge, by name."""
    return User.objects.filter(
        challenge_roles__challenge=study.challenge_id, challenge_roles__role=ChallengeRole.Role.READER
    ).order_by("username")


# --- Annotation campaigns --------------------------------------------------------------------------
# An annotator sees their own assignments of READY campaigns; an organizer of the challenge sees every
# assignment of its campaigns. Agreement and consensus use each annotator's newest revision of the
# assignments they marked DONE: a mask still being drawn is not compared.


@dataclass(frozen=True)
class AssignmentCell:
    """One annotator's progress on one case: status, revisions saved and the newest one's time."""

    assignment: AnnotationAssignment
    revisions: int
    saved_at: datetime | None


@dataclass(frozen=True)
class CaseProgress:
    campaign_case: CampaignCase
    cells: tuple[AssignmentCell | None, ...]
    """One per annotator of the campaign, in ``CampaignProgress.annotators`` order; None if not assigned."""


@dataclass(frozen=True)
class CampaignProgress:
    annotators: tuple[User, ...]
    cases: tuple[CaseProgress, ...]
    done: int
    total: int


@dataclass(frozen=True)
class CaseAgreement:
    """How the finished masks of one case agree, as last computed (``current``: from every finished mask
    so far), with STAPLE's estimate of each annotator (none under two masks)."""

    campaign_case: CampaignCase
    annotators: tuple[str, ...]
    pairwise: tuple[PairAgreement, ...]
    with_starting_mask: tuple[PairAgreement, ...]
    estimates: tuple[AnnotatorEstimate, ...]
    consensus_volume_ml: float | None
    current: bool


def annotation_annotator_candidates(*, challenge: Challenge) -> QuerySet[User]:
    """Users who may annotate for the challenge, by name: its organizers and expert readers (who, by the
    one-person-one-side rule, never take part in it: a campaign may show hidden test cases)."""
    return (
        User.objects.filter(challenge_roles__challenge=challenge, challenge_roles__role__in=INSIDE_ROLES)
        .exclude(pk__in=users_taking_part(challenge=challenge).values("pk"))
        .distinct()
        .order_by("username")
    )


def annotation_campaign_list_organized_by(*, user: User) -> QuerySet[AnnotationCampaign]:
    """The campaigns of the challenges the user organizes, newest first."""
    return AnnotationCampaign.objects.select_related("challenge", "dataset").filter(
        organizer_of(user, challenge="challenge_id")
    )


def annotation_campaign_get_for_organizer(*, user: User, campaign_id: int) -> AnnotationCampaign:
    """The campaign if the user organizes its challenge; ``AnnotationCampaign.DoesNotExist`` otherwise."""
    campaign = AnnotationCampaign.objects.select_related("challenge", "dataset").get(pk=campaign_id)
    if not reader_study_can_manage(user=user, challenge=campaign.challenge_id):
        raise AnnotationCampaign.DoesNotExist
    return campaign


def annotation_assignment_list_for(*, user: User) -> QuerySet[AnnotationAssignment]:
    """The user's assignments in open campaigns, campaign by campaign, case by case."""
    return (
        AnnotationAssignment.objects.filter(
            annotator=user, campaign_case__campaign__status=AnnotationCampaign.Status.READY
        )
        .select_related("campaign_case__case", "campaign_case__campaign__challenge")
        .order_by("-campaign_case__campaign__created_at", "campaign_case__case__name")
    )


def annotation_assignment_get(*, user: User, assignment_id: int) -> AnnotationAssignment:
    """The assignment if the user is its annotator (campaign READY) or organizes its challenge.

    Raises ``AnnotationAssignment.DoesNotExist`` otherwise, so nobody learns that it exists.
    """
    if not user.is_authenticated:
        raise AnnotationAssignment.DoesNotExist
    assignment = AnnotationAssignment.objects.select_related(
        "annotator", "campaign_case__case", "campaign_case__campaign__challenge"
    ).get(pk=assignment_id)
    campaign = assignment.campaign_case.campaign
    if assignment.annotator_id == user.pk and campaign.status == AnnotationCampaign.Status.READY:
        return assignment
    if reader_study_can_manage(user=user, challenge=campaign.challenge_id):
        return assignment
    raise AnnotationAssignment.DoesNotExist


def annotation_assignment_image_get(*, assignment: AnnotationAssignment, index: int) -> Image:
    """The ``index``-th image the campaign shows of the assignment's case, else ``Image.DoesNotExist``."""
    interfaces = assignment.campaign_case.campaign.images
    if not 0 <= index < len(interfaces):
        raise Image.DoesNotExist
    return Image.objects.get(case=assignment.campaign_case.case_id, interface=interfaces[index])


def mask_revision_newest(*, assignment: AnnotationAssignment) -> MaskRevision | None:
    """Where the annotator resumes: the newest revision of the assignment, None before the first save."""
    return assignment.revisions.order_by("-number").first()


def annotation_progress_for(*, campaign: AnnotationCampaign, user: User) -> tuple[int, int]:
    """(done, total) of the user's assignments in the campaign."""
    counts = AnnotationAssignment.objects.filter(campaign_case__campaign=campaign, annotator=user).aggregate(
        total=Count("pk"), done=Count("pk", filter=Q(status=AnnotationAssignment.Status.DONE))
    )
    return counts["done"], counts["total"]


def annotation_campaign_progress(*, campaign: AnnotationCampaign) -> CampaignProgress:
    """Every assignment of the campaign as a table: a row per case, a column per annotator."""
    assignments = list(
        AnnotationAssignment.objects.filter(campaign_case__campaign=campaign)
        .select_related("annotator")
        .annotate(revision_count=Count("revisions"), saved_at=Max("revisions__created_at"))
    )
    annotators = tuple(sorted({a.annotator for a in assignments}, key=lambda user: user.username))
    by_key = {(a.campaign_case_id, a.annotator_id): a for a in assignments}
    rows = []
    for campaign_case in campaign.campaign_cases.select_related("case"):
        cells = []
        for annotator in annotators:
            found = by_key.get((campaign_case.pk, annotator.pk))
            cells.append(
                None if found is None else AssignmentCell(found, found.revision_count, found.saved_at)  # type: ignore[attr-defined] (annotated)
            )
        rows.append(CaseProgress(campaign_case, tuple(cells)))
    done = sum(1 for a in assignments if a.status == AnnotationAssignment.Status.DONE)
    return CampaignProgress(annotators, tuple(rows), done, len(assignments))


def _newest_by_assignment(revisions: Iterable[MaskRevision]) -> dict[int, MaskRevision]:
    newest: dict[int, MaskRevision] = {}
    for revision in revisions:
        if revision.assignment_id not in newest or revision.number > newest[revision.assignment_id].number:
            newest[revision.assignment_id] = revision
    return newest


def campaign_case_finished_revisions(*, campaign_case: CampaignCase) -> dict[str, MaskRevision]:
    """Each annotator's mask of the case (the newest revision of a DONE assignment), by username."""
    revisions = MaskRevision.objects.filter(
        assignment__campaign_case=campaign_case, assignment__status=AnnotationAssignment.Status.DONE
    ).select_related("assignment__annotator")
    newest = _newest_by_assignment(revisions)
    return {
        revision.assignment.annotator.username: revision
        for revision in sorted(newest.values(), key=lambda revision: revision.assignment.annotator.username)
    }


def _pairs(rows: Sequence[dict[str, object]]) -> tuple[PairAgreement, ...]:
    return tuple(PairAgreement(**row) for row in rows)  # type: ignore[arg-type] (stored from asdict)


def _agreement_current(campaign_case: CampaignCase, *, basis: list[int]) -> bool:
    """Whether the stored agreement holds every finished mask (nothing to hold counts as current)."""
    if campaign_case.agreement is None:
        return not basis
    return campaign_case.agreement_basis == basis


def annotation_campaign_agreement(*, campaign: AnnotationCampaign) -> tuple[CaseAgreement, ...]:
    """Per case, as last computed (``services.campaign_case_agreement_compute``): pairwise Dice and volume
    difference of the finished masks, each against the starting mask, the STAPLE consensus volume and
    each annotator's sensitivity and specificity; ``current`` says whether every finished mask is in it."""
    finished = _newest_by_assignment(
        MaskRevision.objects.filter(
            assignment__campaign_case__campaign=campaign, assignment__status=AnnotationAssignment.Status.DONE
        ).select_related("assignment")
    )
    basis_by_case: dict[int, list[int]] = defaultdict(list)
    for revision in finished.values():
        basis_by_case[revision.assignment.campaign_case_id].append(revision.pk)
    rows = []
    for campaign_case in campaign.campaign_cases.select_related("case"):
        stored = campaign_case.agreement or {}
        rows.append(
            CaseAgreement(
                campaign_case=campaign_case,
                annotators=tuple(stored.get("annotators", ())),
                pairwise=_pairs(stored.get("pairwise", ())),
                with_starting_mask=_pairs(stored.get("with_starting_mask", ())),
                estimates=tuple(AnnotatorEstimate(**row) for row in stored.get("estimates", ())),
                consensus_volume_ml=stored.get("consensus_volume_ml"),
                current=_agreement_current(campaign_case, basis=sorted(basis_by_case[campaign_case.pk])),
            )
        )
    return tuple(rows)


def annotation_assignment_next(*, assignment: AnnotationAssignment) -> AnnotationAssignment | None:
    """The annotator's next unfinished case of the same campaign after this one (by case name, wrapping)."""
    others = list(
        AnnotationAssignment.objects.filter(
            campaign_case__campaign=assignment.campaign_case.campaign_id, annotator=assignment.annotator_id
        )
        .exclude(pk=assignment.pk)
        .exclude(status=AnnotationAssignment.Status.DONE)
        .select_related("campaign_case__case")
        .order_by("campaign_case__case__name")
    )
    name = assignment.campaign_case.case.name
    later = [other for other in others if other.campaign_case.case.name > name]
    return (later or others or [None])[0]
