"""Challenges, their phases, and the split (training or hidden test) a phase is scored on."""

from django.db import models
from django.utils import timezone


class Split(models.TextChoices):
    """Which part of a dataset a case belongs to. Test cases and all ground truth of them stay hidden."""

    TRAIN = "TRAIN", "Training"
    TEST = "TEST", "Hidden test"


class Challenge(models.Model):
    """A segmentation challenge such as ISLES 2024: its phases, datasets, teams and people."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True, help_text="One line shown in the challenge list.")
    description = models.TextField(blank=True, help_text="Plain text; blank lines start paragraphs.")
    is_public = models.BooleanField(
        default=True, help_text="Listed for everyone. A hidden challenge is seen only by the people in it."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

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
