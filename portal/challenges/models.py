"""Challenges, their phases and announcements, and the split (training or hidden test) a phase is scored
on."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def time_zone_validate(value: str) -> None:
    """Refuse a name that is not an IANA time zone (e.g. Europe/Berlin)."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "%(value)s is not a time zone name: write one like Europe/Berlin, America/New_York or UTC.",
            params={"value": value},
        )


class Split(models.TextChoices):
    """Which part of a dataset a case belongs to. Test cases and all ground truth of them stay hidden."""

    TRAIN = "TRAIN", "Training"
    TEST = "TEST", "Hidden test"


class Challenge(models.Model):
    """A segmentation challenge such as ISLES 2024: its phases, datasets, teams and people."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True, help_text="One line shown in the challenge list.")
    description = models.TextField(
        blank=True,
        help_text="Markdown; raw HTML is shown as text and only http, https and mailto links work.",
    )
    rules = models.TextField(
        blank=True, db_default="", help_text="The challenge's rules, in Markdown like the description."
    )
    logo = models.ImageField(
        upload_to="challenges/logos/",
        blank=True,
        db_default="",
        help_text="A PNG, JPEG or WebP image shown beside the title, to everyone who sees the challenge.",
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="When the challenge begins, if set.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="When the challenge ends, if set.")
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        db_default="UTC",
        validators=[time_zone_validate],
        help_text="The IANA time zone its dates are shown in, e.g. Europe/Berlin. Stored dates are UTC.",
    )
    is_public = models.BooleanField(
        default=True,
        help_text=(
            "Public: listed for everyone, and anyone signed in may take part. Invite-only: seen only by the "
            "people in it, who join by invitation."
        ),
    )
    participant_approval = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A participant's registration waits for an organizer's approval before they take part.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="challenge_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Phase(models.Model):
    """A period of a challenge in which participants submit one kind of thing, scored on one case split."""

    class SubmissionKind(models.TextChoices):
        PREDICTIONS = "PREDICTIONS", "Predicted masks (archive)"
        ALGORITHM = "ALGORITHM", "Algorithm container"

    class MetricProfile(models.TextChoices):
        ISLES24 = "isles24", "ISLES'24 (lesion F1: one-to-one, IoU >= 0.2)"
        ISLES22 = "isles22", "ISLES'22 (lesion F1: any overlap)"

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="phases")
    slug = models.SlugField(
        max_length=64,
        unique=True,
        help_text="Unique across the portal: the participant CLI names a phase by it.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0, help_text="Position among the challenge's phases.")
    submission_kind = models.CharField(max_length=16, choices=SubmissionKind.choices)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: open until an organizer closes it."
    )
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="phases")
    split = models.CharField(
        max_length=8, choices=Split.choices, help_text="The cases of the dataset this phase is scored on."
    )
    metric_profile = models.CharField(
        max_length=16, choices=MetricProfile.choices, default=MetricProfile.ISLES24
    )
    ground_truth_version = models.PositiveSmallIntegerField(
        default=1,
        help_text=(
            "The number of the dataset's ground-truth version this phase is scored on. Named, not "
            "'the newest', so a new version never changes scores until an organizer switches to it."
        ),
    )
    daily_submission_limit = models.PositiveSmallIntegerField(
        default=2, help_text="Submissions per team (or participant without a team) per UTC day."
    )
    total_submission_limit = models.PositiveSmallIntegerField(
        default=10, help_text="Submissions per team (or participant without a team) over the whole phase."
    )
    team_freeze_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "From this moment no team of the challenge changes its members (none is created, joined or "
            "left). Empty: no freeze."
        ),
    )
    is_validation = models.BooleanField(
        default=False,
        db_default=False,
        help_text=(
            "An external-validation phase: its dataset is another one (e.g. a second centre's cases), it "
            "takes no participant submissions, organizers re-run chosen algorithm submissions of the "
            "challenge on it, and its leaderboard is its own, published only by an organizer."
        ),
    )
    upload_max_mb = models.PositiveIntegerField(
        default=2000,
        help_text=(
            "Largest predictions archive a participant may upload, in MB (10^6 bytes): a larger upload is "
            "refused before it is read. 100 masks of 512x512x80 voxels take a few MB zipped (2.1 GB as "
            "uncompressed uint8 .nii). Algorithm images have their own cap (image_max_gb)."
        ),
    )

    class Meta:
        ordering = ["challenge", "order", "opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closes_at__isnull=True) | models.Q(closes_at__gt=models.F("opens_at")),
                name="phase_closes_after_it_opens",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.challenge.title}: {self.title}"

    @property
    def upload_max_bytes(self) -> int:
        """The largest predictions archive the phase takes, in bytes."""
        return self.upload_max_mb * 1_000_000

    @property
    def is_open(self) -> bool:
        """Whether the phase takes submissions now."""
        now = timezone.now()
        return self.opens_at <= now and (self.closes_at is None or now < self.closes_at)


class Announcement(models.Model):
    """A message from a challenge's organizers to its participants: shown on the challenge's page and, when
    ``sends_email``, e-mailed to them by a worker (``sent_by_email_at`` once done)."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="announcements")
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown, rendered like the challenge's description.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The organizer who wrote it; empty once their account is deleted.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sends_email = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Whether it is e-mailed to the participants (by a worker, once published).",
    )
    sent_by_email_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was e-mailed to its participants; empty: not (yet)."
    )

    class Meta:
        ordering = ["challenge", "-created_at"]

    def __str__(self) -> str:
        return f"{self.challenge}: {self.title}"
