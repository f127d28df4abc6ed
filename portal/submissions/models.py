"""Submissions to a phase, every change of their status, and their per-case scores.

A submission moves ``PENDING -> CHECKING -> EVALUATING -> SUCCEEDED``, or to ``FAILED`` or ``CANCELLED``
on the way; a check-only try ends ``CHECKED`` instead, never scored. ``services.submission_transition`` is
the only writer of ``status`` and records each change as a ``SubmissionStateChange``. Uploaded files live
in private storage under a content-addressed name.
"""

from django.conf import settings
from django.db import models

from portal.challenges.models import Phase
from portal.steps.models import ClaimedStep
from portal.storage import private_storage


def _submission_file_path(instance: "Submission", filename: str) -> str:
    suffix = next((ending for ending in (".tar.gz", ".tgz", ".tar", ".zip") if filename.endswith(ending)), "")
    return f"submissions/{instance.phase_id}/{instance.sha256[:2]}/{instance.sha256}{suffix}"


class Submission(ClaimedStep):
    """One upload of a participant (for their team, if they have one) to a phase, and how it ended.

    Its check and its evaluation are background steps (``portal.steps``): the claim fields say which
    worker holds the current one.
    """

    class Kind(models.TextChoices):
        """What was submitted. A phase takes predictions or algorithms (``Phase.SubmissionKind``, the same
        values); an ensemble is built by an organizer from a phase's algorithm submissions (its kind
        plugs in from ``portal.leaderboards.ensembles``); a re-run is an organizer's run of an algorithm
        submission's image on a validation phase (``portal.algorithms.validation``)."""

        PREDICTIONS = "PREDICTIONS", "Predicted masks (archive)"
        ALGORITHM = "ALGORITHM", "Algorithm container"
        ENSEMBLE = "ENSEMBLE", "Ensemble of submissions"
        RERUN = "RERUN", "Re-run of an algorithm on validation data"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        CHECKING = "CHECKING", "Checking"
        EVALUATING = "EVALUATING", "Evaluating"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"
        CANCELLED = "CANCELLED", "Cancelled"
        CHECKED = "CHECKED", "Checked (not scored)"

    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="submissions")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions"
    )
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="submissions",
        help_text="The creator's team when they submitted; empty for a participant without a team.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(storage=private_storage, upload_to=_submission_file_path, max_length=255)
    sha256 = models.CharField(max_length=64, help_text="Of the uploaded file.")
    size_bytes = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, help_text="Why it failed, in a sentence shown to the participant.")
    problems = models.JSONField(
        default=list, blank=True, help_text="Every problem the checks found, one sentence each."
    )
    evaluation_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker first claimed the evaluation."
    )
    metrics_mean = models.JSONField(
        default=dict, blank=True, help_text="Mean of each metric over the phase's cases, by metric key."
    )
    is_final_selection = models.BooleanField(
        default=False, help_text="The team chose this submission to count on the leaderboard."
    )
    check_only = models.BooleanField(
        default=False,
        db_default=False,
        help_text=(
            "A try that runs the checks of a real submission and ends CHECKED: never scored, never on the "
            "leaderboard, not counted toward the phase's limits (it has its own daily cap)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["phase", "team", "created_at"], name="submission_limits")]

    def __str__(self) -> str:
        return f"submission {self.pk} to {self.phase.slug} ({self.get_status_display()})"


class SubmissionStateChange(models.Model):
    """A change of a submission's status, when it happened and why."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="state_changes")
    from_status = models.CharField(
        max_length=16, choices=Submission.Status.choices, blank=True, help_text="Empty when it was created."
    )
    to_status = models.CharField(max_length=16, choices=Submission.Status.choices)
    at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["submission", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.submission_id}: {self.from_status or 'new'} -> {self.to_status}"


class CaseResult(models.Model):
    """The metric values of one case of a submission on one ground-truth version; a missing or unusable
    mask gets the worst values. Results on earlier versions are kept when a phase switches versions."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="case_results")
    case = models.ForeignKey("datasets.Case", on_delete=models.PROTECT, related_name="results")
    ground_truth_version = models.PositiveSmallIntegerField(
        default=1, help_text="The number of the dataset's ground-truth version the case was scored on."
    )
    metrics = models.JSONField(help_text="Metric values by metric key, e.g. {'dice': 0.71}.")
    error = models.TextField(blank=True, help_text="Why the case got the worst values, if it did.")
    notes = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "Sentences on how the mask was read, e.g. that its spacing or origin differed from the case's "
            "and it was scored on the case's grid; empty when there is nothing to say."
        ),
    )

    class Meta:
        ordering = ["submission", "ground_truth_version", "case"]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "case", "ground_truth_version"], name="one_result_per_case_and_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} of submission {self.submission_id}"


class Rescoring(ClaimedStep):
    """The scored submissions of a phase scored again on the ground-truth version it switched to, and how
    that ended: a background step (``portal.steps``), so a worker that dies part way loses nothing."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "Queued"
        RUNNING = "RUNNING", "Running"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="rescorings")
    ground_truth_version = models.PositiveSmallIntegerField(
        help_text="The dataset's ground-truth version the submissions are scored on."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    submissions_rescored = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why it failed, in a sentence.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return (
            f"re-scoring of {self.phase} on version {self.ground_truth_version} ({self.get_status_display()})"
        )


class GroundTruthSwitch(models.Model):
    """An organizer's switch of the ground-truth version a phase is scored on, kept so participants are
    told which version the numbers moved from and to, and when."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="ground_truth_switches")
    from_version = models.PositiveSmallIntegerField(help_text="The version the phase was scored on before.")
    to_version = models.PositiveSmallIntegerField(help_text="The version the phase is scored on from now.")
    switched_at = models.DateTimeField(auto_now_add=True)
    switched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-switched_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.phase}: ground truth version {self.from_version} -> {self.to_version}"
