"""Every write of a challenge's and a phase's own fields, and the rules they follow.

A challenge: its title and address (slug), its dates and time zone, its logo, whether it is public and
whether participants need approval. ``challenge_create`` (for a user the site admin gave
``challenges.add_challenge``; the creator becomes its first organizer) and ``challenge_update``.

A phase: its title and slug, when it opens and closes, its submission limits, when teams freeze and how
large an archive it takes.

What a phase is scored on (dataset, split, ground-truth version, metric profile) and whether its kind may
change depend on its cases and submissions, so those rules live above, in
``portal.submissions.services`` (``phase_scoring_set``, ``phase_submission_kind_set``); the phase's
leaderboard and algorithm sandbox are the leaderboards' and algorithms' own. ``phase_create`` and
``phase_update``, like the challenge's two, refuse with a ``ValidationError`` that maps each field to one
sentence.

An announcement: an organizer's message shown on the challenge's page and, if they ask, e-mailed to every
participant, one message each (``announcement_publish``).
"""

import datetime
import re
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING

import PIL.Image
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from evaluation.profiles import PROFILES
from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import user_is_organizer, users_taking_part
from portal.accounts.services import challenge_role_grant
from portal.challenges import tasks
from portal.challenges.models import Announcement, Challenge, Phase, Split, time_zone_validate
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
    is_validation: bool = False
    """An external-validation phase (``Phase.is_validation``): no participant submissions; organizers
    re-run chosen algorithm submissions on it."""


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


# --- A challenge's own fields, as its organizers edit them ------------------------------------------------

CHALLENGE_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LOGO_MAX_BYTES = 1_000_000
LOGO_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})
"""What Pillow calls the image formats a logo may be in (an SVG could carry a script)."""


@dataclass(frozen=True)
class ChallengeFields:
    """A challenge's own fields as an organizer sets them; times are aware (any zone, stored as UTC)."""

    title: str
    slug: str
    summary: str
    description: str
    rules: str
    starts_at: datetime.datetime | None
    ends_at: datetime.datetime | None
    time_zone: str
    is_public: bool
    participant_approval: bool


def _logo_problem(logo: File) -> PortalError | None:
    if logo.size is not None and logo.size > LOGO_MAX_BYTES:
        return PortalError(
            f"The logo is {logo.size / 1e6:.1f} MB; upload one of at most {LOGO_MAX_BYTES // 1_000_000} MB.",
            code="logo_too_large",
        )
    try:
        logo.seek(0)
        with PIL.Image.open(logo) as image:
            image_format = image.format or ""
            image.verify()
    except (PIL.UnidentifiedImageError, OSError, SyntaxError):
        return PortalError("The logo is not an image the portal can read: upload a PNG, JPEG or WebP file.")
    finally:
        logo.seek(0)
    if image_format not in LOGO_FORMATS:
        return PortalError(
            f"The logo is a {image_format} image; upload a PNG, JPEG or WebP file.", code="logo_format"
        )
    return None


def _challenge_fields_check(
    *, fields: ChallengeFields, challenge: Challenge | None, logo: File | None
) -> None:
    """Raise a ``ValidationError`` mapping each field that breaks a rule to its sentence."""
    problems: dict[str, ValidationError] = {}
    if not fields.title.strip():
        problems["title"] = PortalError(
            "Give the challenge a title participants will recognise.", code="no_title"
        )
    if not CHALLENGE_SLUG.match(fields.slug):
        problems["slug"] = PortalError(
            f"{fields.slug!r} cannot be the challenge's address: use lowercase letters and digits, with "
            "single hyphens between them (e.g. isles-2024).",
            code="bad_slug",
        )
    elif (
        Challenge.objects.filter(slug=fields.slug)
        .exclude(pk=None if challenge is None else challenge.pk)
        .exists()
    ):
        problems["slug"] = PortalError(
            f"Another challenge already has the address {fields.slug}: choose another.", code="slug_taken"
        )
    if fields.starts_at is not None and fields.ends_at is not None and fields.ends_at <= fields.starts_at:
        problems["ends_at"] = PortalError(
            f"The challenge ends ({_utc(fields.ends_at)}) before it starts ({_utc(fields.starts_at)}): pick "
            "an end after the start, or leave one empty.",
            code="ends_before_start",
        )
    try:
        time_zone_validate(fields.time_zone)
    except ValidationError as error:
        problems["time_zone"] = error
    if logo is not None and (problem := _logo_problem(logo)) is not None:
        problems["logo"] = problem
    if problems:
        raise ValidationError(problems)


def challenge_create(*, fields: ChallengeFields, logo: File | None, creator: User) -> Challenge:
    """Create a challenge whose first organizer is its creator, who needs the site admin's permission
    ``challenges.add_challenge`` (``PermissionDenied`` otherwise). Each field that breaks a rule raises a
    ``ValidationError`` mapping it to its sentence."""
    if not creator.has_perm("challenges.add_challenge"):
        raise PermissionDenied("Creating a challenge needs the site admin's permission: ask them for it.")
    _challenge_fields_check(fields=fields, challenge=None, logo=logo)
    with transaction.atomic():
        challenge = Challenge(**asdict(fields))
        if logo is not None:
            challenge.logo.save(logo.name or "logo", logo, save=False)
        challenge.save()
        challenge_role_grant(user=creator, challenge=challenge, role=ChallengeRole.Role.ORGANIZER)
    return challenge


def challenge_update(
    *, challenge: Challenge, fields: ChallengeFields, logo: File | None, logo_clear: bool = False
) -> Challenge:
    """Change a challenge's own fields after checking them. ``logo`` replaces the logo, ``logo_clear``
    removes it; neither keeps it. A new slug moves every page of the challenge: links to the old address
    then answer 404 (phases keep their own slugs, so the participant CLI is not affected)."""
    _challenge_fields_check(fields=fields, challenge=challenge, logo=logo)
    values = asdict(fields)
    for name, value in values.items():
        setattr(challenge, name, value)
    if logo is not None:
        challenge.logo.save(logo.name or "logo", logo, save=False)
    elif logo_clear:
        challenge.logo = ""
    challenge.save(update_fields=[*values, "logo"])
    return challenge


def announcement_publish(
    *, challenge: Challenge, title: str, body: str, author: User, send_by_email: bool
) -> Announcement:
    """An organizer of the challenge (``author``; ``PermissionDenied`` for anyone else) publishes an
    announcement on its page; with ``send_by_email`` a worker also e-mails it to everyone who takes part
    (``announcement_email_send``), queued once the announcement is saved, so a challenge with many
    participants never holds the organizer's request while the mail goes out.

    Raises ``ValidationError`` mapping ``title`` or ``body`` to its sentence when either is empty.
    """
    if not user_is_organizer(user=author, challenge=challenge):
        raise PermissionDenied("Only an organizer of this challenge publishes its announcements.")
    errors = {}
    if not title.strip():
        errors["title"] = "Give the announcement a title."
    if not body.strip():
        errors["body"] = "Write what you announce."
    if errors:
        raise ValidationError(errors)
    announcement = Announcement.objects.create(
        challenge=challenge, title=title.strip(), body=body, author=author, sends_email=send_by_email
    )
    if send_by_email:
        transaction.on_commit(partial(tasks.announcement_email_task.delay, announcement_id=announcement.pk))
    return announcement


def announcement_email_send(*, announcement_id: int) -> None:
    """E-mail the announcement to everyone who takes part in its challenge, one message each (nobody sees
    another's address), and record when in ``sent_by_email_at``. The Markdown body goes as it was written:
    plain text that reads as it is. Sent once: an announcement already sent, or not meant to be, is left
    alone (a second delivery of the task changes nothing), and the row stays locked while the mail goes
    out, so two workers cannot both send it."""
    with transaction.atomic():
        announcement = (
            Announcement.objects.select_for_update()
            .select_related("challenge")
            .filter(pk=announcement_id, sends_email=True, sent_by_email_at=None)
            .first()
        )
        if announcement is None:
            return
        challenge = announcement.challenge
        subject = f"{challenge.title}: {announcement.title}"
        text = f"{announcement.body}\n\n-- The organizers of {challenge.title}"
        recipients = users_taking_part(challenge=challenge).exclude(email="").order_by("pk")
        messages = [EmailMessage(subject, text, None, [user.email]) for user in recipients]
        get_connection().send_messages(messages)
        announcement.sent_by_email_at = timezone.now()
        announcement.save(update_fields=["sent_by_email_at"])
