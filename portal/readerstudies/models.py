"""Blinded preference studies: which mask sources are compared on which cases, who reads them, in what
drawn order and with which side shown as A, and what each reader answered.

Nothing a reader receives is derived from a row id that follows a source: each (reader, item, side) has
its own random token, and each mask is re-encoded once into a blinded file (``blinding.py``) so that the
two sides of an item differ only in their voxels.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from portal.challenges.models import Split
from portal.steps.models import ClaimedStep
from portal.storage import private_storage

DEFAULT_MINIMUM_READING_SECONDS = 2.0
"""A study's shortest plausible reading time unless its organizer sets another."""


class ReaderStudy(ClaimedStep):
    """A blinded comparison of two or more mask sources on the cases of one dataset split."""

    class Status(models.TextChoices):
        PREPARING = "PREPARING", "Preparing the blinded masks"
        READY = "READY", "Open to its readers"
        FAILED = "FAILED", "Failed to prepare"

    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="reader_studies"
    )
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="reader_studies")
    split = models.CharField(
        max_length=8, choices=Split.choices, help_text="The dataset split whose cases are read."
    )
    title = models.CharField(max_length=200)
    background_interfaces = models.JSONField(
        help_text="Interface slugs of the images shown under the masks; the first one gives the geometry."
    )
    asks_quality_rating = models.BooleanField(default=False, help_text="Ask a 1-5 quality rating per mask.")
    asks_comment = models.BooleanField(default=False, help_text="Offer a free-text comment per item.")
    minimum_reading_seconds = models.FloatField(
        default=DEFAULT_MINIMUM_READING_SECONDS,
        validators=[MinValueValidator(0)],
        help_text="The shortest plausible reading time of an item, in seconds: faster answers are flagged.",
    )
    instructions = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="What readers read before their first item (Markdown), reachable during the study.",
    )
    same_mask_trials = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        help_text="Catch trials per reader showing one source's mask on both sides (0: none).",
    )
    repeated_pairs = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        help_text="Comparisons each reader sees a second time, later, with the sides drawn anew (0: none).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREPARING)
    error = models.TextField(blank=True, help_text="Why preparing the blinded masks failed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "reader studies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minimum_reading_seconds__gte=0),
                name="minimum_reading_seconds_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class MaskSource(models.Model):
    """Where one set of masks comes from: the cases' reference annotation or a submission's masks (the
    predictions of an archive, or the segmentations an algorithm's jobs wrote)."""

    class Kind(models.TextChoices):
        REFERENCE = "REFERENCE", "Reference annotation"
        SUBMISSION = "SUBMISSION", "Submission"

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="sources")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    label = models.CharField(max_length=200, help_text="The source's name in results, for organizers only.")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["study", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "position"], name="source_position_unique_in_study"),
            models.CheckConstraint(
                condition=models.Q(kind="REFERENCE", submission__isnull=True)
                | models.Q(kind="SUBMISSION", submission__isnull=False),
                name="source_submission_iff_kind_submission",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class StudyCase(models.Model):
    """A case of the study."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="study_cases")
    case = models.ForeignKey("datasets.Case", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["study", "case__name"]
        constraints = [models.UniqueConstraint(fields=["study", "case"], name="case_once_per_study")]

    def __str__(self) -> str:
        return str(self.case)


def _blinded_mask_path(instance: "BlindedMask", filename: str) -> str:
    return f"readerstudies/{instance.study_case.study_id}/{instance.sha256[:2]}/{instance.sha256}.nii.gz"


class BlindedMask(models.Model):
    """A source's mask of a case, re-encoded so that only its voxels tell it apart (see ``blinding.py``)."""

    study_case = models.ForeignKey(StudyCase, on_delete=models.CASCADE, related_name="masks")
    source = models.ForeignKey(MaskSource, on_delete=models.CASCADE, related_name="masks")
    file = models.FileField(storage=private_storage, upload_to=_blinded_mask_path, max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study_case", "source"], name="one_blinded_mask_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.study_case} from {self.source}"


class StudyReader(models.Model):
    """A reader invited to a study, with the seed of their draw (case order and sides) and their progress."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="readers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seed = models.CharField(
        max_length=32, help_text="Hex seed (from the secrets module) of the drawn order and sides; recorded."
    )
    invited_at = models.DateTimeField(auto_now_add=True)
    instructions_read_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader went on from the instructions to the first item."
    )
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last item was answered; answers are locked from then."
    )

    class Meta:
        ordering = ["study", "invited_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["study", "user"], name="reader_once_per_study")]

    def __str__(self) -> str:
        return f"{self.user} reads {self.study}"


class ReadingItem(models.Model):
    """One comparison a reader makes: a case, the source shown as A (left) and as B (right), and the answer.

    The three tokens are random and opaque: they name the item and each of its two masks in URLs. A catch
    trial is an item like any other to the reader: a same-mask item has one source on both sides, a repeat
    item compares again what an earlier item of the reader compared.
    """

    class Preference(models.TextChoices):
        A = "A", "A is better"
        B = "B", "B is better"
        NONE = "NONE", "No preference"

    class Trial(models.TextChoices):
        REAL = "REAL", "Comparison"
        SAME_MASK = "SAME_MASK", "Catch trial: the same mask on both sides"
        REPEAT = "REPEAT", "Catch trial: an earlier comparison repeated"

    reader = models.ForeignKey(StudyReader, on_delete=models.CASCADE, related_name="items")
    study_case = models.ForeignKey(StudyCase, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(help_text="Place in this reader's drawn order, from 1.")
    source_a = models.ForeignKey(MaskSource, on_delete=models.CASCADE, related_name="+")
    source_b = models.ForeignKey(MaskSource, on_delete=models.CASCADE, related_name="+")
    trial = models.CharField(max_length=16, choices=Trial.choices, default=Trial.REAL, db_default="REAL")
    token = models.CharField(max_length=43, unique=True)
    token_a = models.CharField(max_length=43, unique=True)
    token_b = models.CharField(max_length=43, unique=True)
    shown_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the server first handed it to the reader, before its images loaded.",
    )
    drawn_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the reader's page first reported both panes drawn; reading time starts here.",
    )
    preference = models.CharField(max_length=8, choices=Preference.choices, blank=True)
    rating_a = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Quality of A, 1-5.")
    rating_b = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Quality of B, 1-5.")
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Seconds from both panes drawn to answered, by the server's clock; from handed out when the "
            "page never reported the panes drawn."
        ),
    )

    class Meta:
        ordering = ["reader", "position"]
        constraints = [
            models.UniqueConstraint(fields=["reader", "position"], name="item_position_unique_for_reader"),
        ]

    def __str__(self) -> str:
        return f"item {self.position} of {self.reader}"
