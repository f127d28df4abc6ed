"""Every write of a phase's own fields, and the rules they follow: its title and slug, when it opens and
closes, its submission limits, when teams freeze and how large an archive it takes.

What a phase is scored on (dataset, split, ground-truth version, metric profile) and whether its kind may
change depend on its cases and submissions, so those rules live above, in
``portal.submissions.services`` (``phase_scoring_set``, ``phase_submission_kind_set``); the phase's
leaderboard and algorithm sandbox are the leaderboards' and algorithms' own. ``phase_create`` and
``phase_update`` refuse with a ``ValidationError`` that maps each field to one sentence.
"""

import datetime
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from evaluation.profiles import PROFILES
from portal.challenges.models import Challenge, Phase, Split
from portal.errors import PortalError

if TYPE_CHECKING:
    from portal.datasets.models import Dataset

SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
SMALL_LIMIT_MAX = 32767
"""The largest submission limit the database column holds (a PositiveSmallIntegerField)."""


@dataclass(frozen=True)
class PhaseFields:
    """A phase's own fields as an organizer sets them; times are aware (any zone, stored as UTC)."""

    title: str
    slug: str
    description: str
    opens_at: datetime.datetime
    closes_at: datetime.datetime | None
    daily_submission_limit: int
    total_submission_limit: int
    team_freeze_at: datetime.datetime | None
    upload_max_mb: int


def _utc(moment: datetime.datetime) -> str:
    return f"{moment.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"


def _limit_problems(fields: PhaseFields) -> dict[str, PortalError]:
    problems: dict[str, PortalError] = {}
    for name, what in (("daily_submission_limit", "a day"), ("total_submission_limit", "in total")):
        value = getattr(fields, name)
        if value < 1:
            problems[name] = PortalError(
                f"A team needs at least one submission {what}: set {value} to 1 or more.",
                code="limit_below_one",
            )
        elif value > SMALL_LIMIT_MAX:
            problems[name] = PortalError(
                f"{value} submissions {what} is more than the portal counts; set at most {SMALL_LIMIT_MAX}.",
                code="limit_too_high",
            )
    if not problems and fields.daily_submission_limit > fields.total_submission_limit:
        problems["daily_submission_limit"] = PortalError(
            f"The daily limit ({fields.daily_submission_limit}) is above the total limit "
            f"({fields.total_submission_limit}), so no team could use it: lower it or raise the total.",
            code="daily_above_total",
        )
    if fields.upload_max_mb < 1:
        problems["upload_max_mb"] = PortalError(
            f"An archive of at most {fields.upload_max_mb} MB holds no masks: allow 1 MB or more.",
            code="upload_below_one",
        )
    return problems


def _time_problems(fields: PhaseFields) -> dict[str, PortalError]:
    problems: dict[str, PortalError] = {}
    if fields.closes_at is not None and fields.closes_at <= fields.opens_at:
        problems["closes_at"] = PortalError(
            f"The phase closes ({_utc(fields.closes_at)}) before it opens ({_utc(fields.opens_at)}): "
            "pick a closing time after the opening, or leave it empty.",
            code="closes_before_opening",
        )
    if (
        fields.team_freeze_at is not None
        and fields.closes_at is not None
        and fields.team_freeze_at > fields.closes_at
    ):
        problems["team_freeze_at"] = PortalError(
            f"Teams would freeze ({_utc(fields.team_freeze_at)}) after the phase closes "
            f"({_utc(fields.closes_at)}), when no team submits any more: freeze them before it closes, or "
            "leave it empty.",
            code="freeze_after_closing",
        )
    return problems


def _phase_fields_check(*, fields: PhaseFields, phase: Phase | None) -> None:
    """Raise a ``ValidationError`` mapping each field that breaks a rule to its sentence."""
    problems: dict[str, PortalError] = {}
    if not fields.title.strip():
        problems["title"] = PortalError(
            "Give the phase a title participants will recognise.", code="no_title"
        )
    if not SLUG.match(fields.slug):
        problems["slug"] = PortalError(
            f"{fields.slug!r} cannot be a slug: use letters, digits, hyphens and underscores only.",
            code="bad_slug",
        )
    elif Phase.objects.filter(slug=fields.slug).exclude(pk=None if phase is None else phase.pk).exists():
        problems["slug"] = PortalError(
            f"A phase called {fields.slug} already exists; phase slugs are unique across the portal, "
            "because the participant CLI names a phase by its slug alone.",
            code="slug_taken",
        )
    problems |= _time_problems(fields)
    problems |= _limit_problems(fields)
    if problems:
        raise ValidationError(problems)


def phase_create(
    *,
    challenge: Challenge,
    fields: PhaseFields,
    submission_kind: str,
    dataset: "Dataset",
    split: str,
    ground_truth_version: int,
    metric_profile: str,
) -> Phase:
    """Create a phase of ``challenge``, last in its order, after checking its own fields.

    The dataset must be one of the challenge's and the kind, split and profile known ones; whether the
    split has cases and the version covers them is ``submissions.services.phase_scoring_set``'s rule, which
    the caller runs in the same transaction.
    """
    problems: dict[str, PortalError] = {}
    if submission_kind not in Phase.SubmissionKind.values:
        problems["submission_kind"] = PortalError(
            "Choose what the phase takes: archives of predicted masks or algorithm containers.",
            code="no_kind",
        )
    if dataset.challenge_id != challenge.pk:
        problems["dataset"] = PortalError(
            f"Dataset {dataset} belongs to another challenge; score the phase on one of this challenge's.",
            code="dataset_of_another_challenge",
        )
    if split not in Split.values:
        problems["split"] = PortalError("Choose the training or the hidden test cases.", code="no_split")
    if metric_profile not in PROFILES:
        problems["metric_profile"] = PortalError(
            f"There is no metric profile called {metric_profile!r}; choose one of "
            f"{', '.join(sorted(PROFILES))}.",
            code="no_such_profile",
        )
    try:
        _phase_fields_check(fields=fields, phase=None)
    except ValidationError as error:
        raise ValidationError({**problems, **error.error_dict}) from None
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        last = challenge.phases.order_by("-order").values_list("order", flat=True).first()
        return Phase.objects.create(
            challenge=challenge,
            order=0 if last is None else last + 1,
            submission_kind=submission_kind,
            dataset=dataset,
            split=split,
            ground_truth_version=ground_truth_version,
            metric_profile=metric_profile,
            **asdict(fields),
        )


def phase_update(*, phase: Phase, fields: PhaseFields) -> Phase:
    """Change a phase's own fields after checking them; what it is scored on is left as it is."""
    _phase_fields_check(fields=fields, phase=phase)
    values = asdict(fields)
    for name, value in values.items():
        setattr(phase, name, value)
    phase.save(update_fields=list(values))
    return phase

