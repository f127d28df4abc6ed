"""Who may see which cases and download which images: the one file-visibility rule of the portal.

- Organizers of a challenge see every case and image of its datasets.
- Participants see training cases, and hidden test cases only once the challenge has a phase that takes
  predicted masks on that dataset split and has opened (participants need the images to predict on).
- Expert readers see nothing here by default, and neither do outsiders or anonymous visitors.
- Ground truth (the reference lesion masks) is ground truth: participants may download the masks of
  training cases, to train on; the masks of hidden test cases reach organizers only.
- Clinical outcomes (``Case.outcome_data``, e.g. the 90-day mRS) are ground truth too: whoever sees a
  case sees its admission data, but its outcomes only when they organize the challenge or the case is a
  training case.
- A release archive being uploaded is its uploader's, while they organize its challenge; a challenge's
  imports are its organizers'.
"""

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.urls import reverse
from django.utils import timezone

from evaluation.subgroups import lesion_volume_bin, onset_to_imaging_bin
from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import organizer_of, user_is_organizer
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.exceptions import DataTermsNotAccepted
from portal.datasets.models import (
    Case,
    CaseAttributeTable,
    DataCard,
    Dataset,
    DatasetImport,
    DataTermsAcceptance,
    GroundTruth,
    GroundTruthVersion,
    Image,
    ReleaseUpload,
)


def _visible_to(user: User, *, challenge: str, dataset: str, split: str) -> Q:
    """The rule as a filter on any model that reaches a challenge, a dataset and a split by these paths."""
    roles = ChallengeRole.objects.filter(user=user, challenge=OuterRef(challenge))
    released = Phase.objects.filter(
        dataset=OuterRef(dataset),
        split=OuterRef(split),
        submission_kind=Phase.SubmissionKind.PREDICTIONS,
        opens_at__lte=timezone.now(),
    )
    is_participant = Exists(roles.filter(role=ChallengeRole.Role.PARTICIPANT))
    return organizer_of(user, challenge=challenge) | (
        is_participant & (Q(**{split: Split.TRAIN}) | Exists(released))
    )


def cases_visible_to(*, user: User) -> QuerySet[Case]:
    """Every case whose images the user may download."""
    if not user.is_authenticated:
        return Case.objects.none()
    return Case.objects.filter(
        _visible_to(user, challenge="dataset__challenge", dataset="dataset", split="split")
    )


def case_get_visible_to(*, user: User, case_id: int) -> Case:
    """The case with its dataset and images if the user may see it; ``Case.DoesNotExist`` otherwise."""
    return (
        cases_visible_to(user=user)
        .select_related("dataset__challenge")
        .prefetch_related("images")
        .get(pk=case_id)
    )


def images_visible_to(*, user: User) -> QuerySet[Image]:
    """Every image the user may download."""
    return Image.objects.filter(case__in=cases_visible_to(user=user))


def image_can_download(*, user: User, image: Image) -> bool:
    """Whether the user may download this image file."""
    return images_visible_to(user=user).filter(pk=image.pk).exists()


def ground_truths_visible_to(*, user: User) -> QuerySet[GroundTruth]:
    """Every reference mask the user may download: of training cases the user sees, and of every case of
    the challenges the user organizes. Never a hidden test case's mask to anyone else."""
    if not user.is_authenticated:
        return GroundTruth.objects.none()
    return GroundTruth.objects.filter(
        Q(case__in=cases_visible_to(user=user))
        & (organizer_of(user, challenge="case__dataset__challenge") | Q(case__split=Split.TRAIN))
    )


def ground_truth_can_download(*, user: User, ground_truth: GroundTruth) -> bool:
    """Whether the user may download this reference mask."""
    return ground_truths_visible_to(user=user).filter(pk=ground_truth.pk).exists()


def case_ground_truth_visible(*, case: Case) -> GroundTruth | None:
    """The case's newest mask if ``case`` was read with ``cases_with_outcome_visibility`` and the user may
    see it (the same rule as its outcomes: an organizer, or a training case); None otherwise. Reads the
    prefetched ``ground_truths`` when the caller prefetched them."""
    if not getattr(case, "outcome_visible", False):
        return None
    return max(case.ground_truths.all(), key=lambda ground_truth: ground_truth.version, default=None)


def dataset_split_visible(*, user: User, dataset: Dataset, split: str) -> bool:
    """Whether the user may see the cases of one split of a dataset."""
    if not user.is_authenticated:
        return False
    return (
        Dataset.objects.filter(pk=dataset.pk)
        .annotate(asked_split=Value(split, output_field=CharField()))
        .filter(_visible_to(user, challenge="challenge", dataset="pk", split="asked_split"))
        .exists()
    )


def case_list_with_images(*, cases: QuerySet[Case]) -> QuerySet[Case]:
    """The cases with their images loaded in one more query, ordered by name."""
    return cases.prefetch_related("images").order_by("name")


def case_list_with_files(*, cases: QuerySet[Case]) -> QuerySet[Case]:
    """The cases with their images and masks loaded in two more queries, ordered by name."""
    return cases.prefetch_related("images", "ground_truths").order_by("name")


def cases_with_outcome_visibility(*, user: User, cases: QuerySet[Case]) -> QuerySet[Case]:
    """The cases, each annotated with ``outcome_visible``: whether the user may see its clinical outcomes
    (an organizer of its challenge, or a training case), in the same query."""
    visible = organizer_of(user, challenge="dataset__challenge_id") | Q(split=Split.TRAIN)
    return cases.annotate(outcome_visible=ExpressionWrapper(visible, output_field=BooleanField()))


def case_admission_information(*, case: Case) -> dict[str, object]:
    """What is known of the case at admission, as one row of column -> value, as the ISLES'24 release's
    acute table holds it (several admission tables are merged in their order).

    This is what an algorithm container receives as ``acute-stroke-clinical-information.json``: never a
    follow-up outcome, which is ground truth.
    """
    row: dict[str, object] = {}
    for table in case.admission_data.values():
        row.update(table)
    return row


def case_outcome_data(*, case: Case) -> dict[str, object] | None:
    """The case's outcome tables if ``case`` was read with ``cases_with_outcome_visibility`` and the user
    may see them; None otherwise (never the outcomes of a case read without the annotation)."""
    return case.outcome_data if getattr(case, "outcome_visible", False) else None


REFERENCE_INTERFACE = "non-contrast-ct"


def case_reference_image(*, case: Case) -> Image | None:
    """The image whose grid the case's masks must be on: its non-contrast CT, else its first image."""
    images = sorted(case.images.all(), key=lambda image: (image.interface != REFERENCE_INTERFACE, image.pk))
    return images[0] if images else None


def case_ground_truth_get(*, case: Case, version: int | None) -> GroundTruth | None:
    """The case's ground truth in one version (a ``GroundTruthVersion.number``); None when it has none.

    Scoring always names the version: the phase's ``ground_truth_version``, never the newest, so a new
    version changes no score until an organizer switches the phase to it. ``version=None`` gives the
    newest, for showing a case's current mask where no phase is involved.
    """
    ground_truths = case.ground_truths.all()
    if version is None:
        return ground_truths.order_by("-version").first()
    return ground_truths.filter(version=version).first()


def dataset_ground_truth_version_list(*, dataset: Dataset) -> QuerySet[GroundTruthVersion]:
    """The dataset's ground-truth versions, oldest first, with who made each."""
    return dataset.ground_truth_versions.select_related("created_by").order_by("number")


@dataclass(frozen=True)
class Modality:
    """One input of the challenge's cases as the data card shows it: how many cases have it, in which
    grids (shapes, up to a few) and spacings (the range of each axis, in mm, or s along time)."""

    interface: str
    cases: int
    shapes: tuple[tuple[int, ...], ...]
    spacing_min: tuple[float, ...]
    spacing_max: tuple[float, ...]


@dataclass(frozen=True)
class DataCardView:
    """A challenge's data card: its stored terms, with the modalities and the cases per split read from
    the imported cases."""

    card: DataCard | None
    modalities: tuple[Modality, ...]
    cases_by_split: dict[str, int]


CARD_SHAPES_SHOWN = 4
"""How many distinct grids of one modality the card names; more are counted, not listed."""


def data_card_get(*, challenge: Challenge) -> DataCardView:
    """The data card of ``challenge``: licence, citation and terms (None before an organizer writes them),
    the modalities of its cases with their shapes and spacings, and the number of cases per split. Public
    facts about the data: what any visitor of the challenge may read."""
    cases = Case.objects.filter(dataset__challenge=challenge)
    cases_by_split = {
        row["split"]: row["count"]
        for row in cases.values("split").annotate(count=Count("pk")).order_by("split")
    }
    by_interface: dict[str, list[Image]] = {}
    for image in Image.objects.filter(case__in=cases).only("interface", "shape", "spacing_mm", "case_id"):
        by_interface.setdefault(image.interface, []).append(image)
    modalities = tuple(
        Modality(
            interface=interface,
            cases=len({image.case_id for image in images}),
            shapes=tuple(sorted({tuple(image.shape) for image in images}))[:CARD_SHAPES_SHOWN],
            spacing_min=tuple(
                min(axis) for axis in zip(*(image.spacing_mm for image in images), strict=False)
            ),
            spacing_max=tuple(
                max(axis) for axis in zip(*(image.spacing_mm for image in images), strict=False)
            ),
        )
        for interface, images in sorted(by_interface.items())
    )
    card = DataCard.objects.filter(challenge=challenge).first()
    return DataCardView(card=card, modalities=modalities, cases_by_split=cases_by_split)


def data_terms_accepted(*, user: User, challenge: Challenge | int) -> bool:
    """Whether the user accepted the current version of the challenge's data-use terms. A challenge whose
    organizers wrote no terms asks for none, and its organizers accept nothing (the terms are theirs)."""
    if not user.is_authenticated:
        return False
    card = DataCard.objects.filter(challenge=challenge).first()
    if card is None or user_is_organizer(user=user, challenge=challenge):
        return True
    return DataTermsAcceptance.objects.filter(card=card, user=user, terms_version=card.terms_version).exists()


def data_terms_consent_to_reruns(*, user_id: int, challenge: Challenge | int) -> bool:
    """Whether the user's latest acceptance of the challenge's data-use terms (of any version) includes
    their consent that the organizers run their team's algorithm again on validation data. False when they
    never accepted terms, or the challenge has none: a re-run needs a participant's consent on record."""
    latest = (
        DataTermsAcceptance.objects.filter(card__challenge=challenge, user_id=user_id)
        .order_by("-terms_version", "-accepted_at")
        .values_list("consents_to_reruns", flat=True)
        .first()
    )
    return latest is True


def data_terms_require(
    *, user: User, challenge: Challenge, absolute_url: Callable[[str], str] | None = None
) -> None:
    """Raise ``DataTermsNotAccepted`` (403, with where to accept them) unless the user accepted the current
    data-use terms of the challenge: every download of its data passes here first (a file, a mask, the
    listing and the archive of a release); the viewer's volumes, seen in the browser, do not.

    ``absolute_url`` turns the data card's path into the URL the sentence gives: the API passes
    ``request.build_absolute_uri``, so that ``isles`` prints a link a terminal opens; a page links the
    path."""
    if not data_terms_accepted(user=user, challenge=challenge):
        url = reverse("data-card", kwargs={"challenge_slug": challenge.slug})
        if absolute_url is not None:
            url = absolute_url(url)
        raise DataTermsNotAccepted(
            f"Accept the data-use terms of {challenge.title} before you download its data: {url}",
            code="terms_not_accepted",
        )


def release_upload_get_for(
    *, user: User, upload_id: uuid.UUID | str, for_update: bool = False
) -> ReleaseUpload:
    """The user's own release upload, of a challenge they still organize (locked when ``for_update``);
    ``ReleaseUpload.DoesNotExist`` for any other (shown as a 404)."""
    uploads = ReleaseUpload.objects.filter(organizer_of(user, challenge="challenge_id"), user=user)
    if for_update:
        uploads = uploads.select_for_update()
    return uploads.get(pk=upload_id)


def dataset_import_list_for_challenge(*, challenge: Challenge) -> QuerySet[DatasetImport]:
    """The imports into the challenge's datasets, newest first, with their dataset and archive."""
    return DatasetImport.objects.filter(dataset__challenge=challenge).select_related("dataset", "upload")


LESION_VOLUME = "lesion_volume"
ONSET_TO_IMAGING = "onset_to_imaging"
DERIVED_ATTRIBUTES = {
    LESION_VOLUME: "Reference lesion volume",
    ONSET_TO_IMAGING: "Onset to imaging",
}
"""The attributes the portal derives itself, by key: the reference lesion volume's bin (of the ground-truth
version scored) and, where the clinical data at admission hold it, the onset-to-imaging time's bin
(``evaluation.subgroups`` names the bins)."""

ONSET_TO_IMAGING_COLUMNS = {"onset_to_imaging_h": 1.0, "onset_to_imaging_min": 1.0 / 60.0}
"""Columns of an admission table that hold the time from stroke onset to imaging, and their factor to
hours. ISLES'24's released tables hold no such column; an organizer adds it to a case's admission table
under one of these names."""


@dataclass(frozen=True)
class CaseAttributes:
    """The attributes results can be split by, and each case's value of each (keyed by case name)."""

    labels: dict[str, str]
    """Attribute key -> label: the uploaded columns (their own names) first, then the derived ones."""
    by_case: dict[str, dict[str, str]]


def case_attributes_get(*, dataset_id: int, split: str, ground_truth_version: int) -> CaseAttributes:
    """The uploaded and derived attributes of a dataset split's cases, in two queries.

    An attribute is offered only when some case has a value for it. The uploaded columns come in the
    order of the dataset's last applied table.
    """
    cases = Case.objects.filter(dataset_id=dataset_id, split=split)
    volumes = dict(
        GroundTruth.objects.filter(case__in=cases, version=ground_truth_version).values_list(
            "case__name", "lesion_volume_ml"
        )
    )
    by_case: dict[str, dict[str, str]] = {}
    uploaded: dict[str, None] = {}
    for name, attributes, admission in cases.values_list("name", "attributes", "admission_data"):
        values = {str(key): str(value) for key, value in (attributes or {}).items()}
        uploaded |= dict.fromkeys(values)
        if name in volumes:
            values[LESION_VOLUME] = lesion_volume_bin(volumes[name])
        hours = _onset_to_imaging_hours(admission or {})
        if hours is not None:
            values[ONSET_TO_IMAGING] = onset_to_imaging_bin(hours)
        by_case[name] = values
    last = (
        CaseAttributeTable.objects.filter(dataset_id=dataset_id, status=CaseAttributeTable.Status.APPLIED)
        .values_list("columns", flat=True)
        .first()
    )
    ordered = [column for column in (last or []) if column in uploaded]
    labels = {key: key for key in [*ordered, *(key for key in uploaded if key not in ordered)]}
    present = {key for values in by_case.values() for key in values}
    labels |= {key: label for key, label in DERIVED_ATTRIBUTES.items() if key in present}
    return CaseAttributes(labels=labels, by_case=by_case)


def _onset_to_imaging_hours(admission: Mapping[str, object]) -> float | None:
    for table in admission.values():
        if not isinstance(table, Mapping):
            continue
        for column, to_hours in ONSET_TO_IMAGING_COLUMNS.items():
            value = table.get(column)
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
                return float(value) * to_hours
    return None
