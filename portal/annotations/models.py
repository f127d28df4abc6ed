"""Annotation campaigns: experts draw or correct lesion masks of a dataset's cases in the browser.

A campaign names the cases, the images drawn on, the mask each case starts from, and its annotators; each
(case, annotator) is an assignment whose saved masks are numbered revisions. The newest revision is where
an annotator resumes, and the newest revision of a DONE assignment is that annotator's mask of the case.

The tables were made by the reader studies app, which held campaigns until they got their own; migration
``0001`` took them over as they were (see its docstring).
"""

from django.conf import settings
from django.db import models

from portal.steps.models import ClaimedStep
from portal.storage import private_storage


def _starting_mask_path(instance: "CampaignCase", filename: str) -> str:
    return f"campaigns/{instance.campaign_id}/starting/{instance.case_id}.nii.gz"


def _consensus_mask_path(instance: "CampaignCase", filename: str) -> str:
    basis = "-".join(str(revision_id) for revision_id in instance.agreement_basis)
    return f"campaigns/{instance.campaign_id}/consensus/{instance.case_id}-{basis}.nii.gz"


def _revision_path(instance: "MaskRevision", filename: str) -> str:
    return f"campaigns/revisions/{instance.assignment_id}/{instance.number}-{instance.sha256[:12]}.nii.gz"


class AnnotationCampaign(ClaimedStep):
    """Annotators drawing lesion masks of some cases of a dataset, each case from a starting mask."""

    class StartingMask(models.TextChoices):
        EMPTY = "EMPTY", "Empty"
        PRE_ANNOTATION = "PRE_ANNOTATION", "Pre-annotation by the threshold reference algorithm"
        UPLOADED = "UPLOADED", "Uploaded masks"

    class Status(models.TextChoices):
        PREPARING = "PREPARING", "Preparing the starting masks"
        READY = "READY", "Open to its annotators"
        FAILED = "FAILED", "Failed to prepare"

    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="annotation_campaigns"
    )
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.PROTECT, related_name="annotation_campaigns"
    )
    title = models.CharField(max_length=200)
    images = models.JSONField(
        help_text="Interface slugs of the images shown to draw on; the first is drawn on, on its grid."
    )
    starting_mask = models.CharField(max_length=16, choices=StartingMask.choices)
    uploaded_masks = models.FileField(
        storage=private_storage,
        upload_to="campaigns/uploads/",
        blank=True,
        max_length=255,
        help_text="The archive of starting masks (one per case) when they are uploaded.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREPARING)
    error = models.TextField(blank=True, help_text="Why preparing the starting masks failed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True, help_text="When its starting masks were ready.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class CampaignCase(ClaimedStep):
    """A case of a campaign, the mask its annotators start from (uint8, on the reference grid), and the
    agreement and STAPLE consensus of its finished masks, computed by a background step when a mask is
    finished (STAPLE takes seconds on a full-size CT grid, too long for a page)."""

    class AgreementStatus(models.TextChoices):
        CURRENT = "CURRENT", "Computed from every finished mask"
        QUEUED = "QUEUED", "Waiting to be computed"
        FAILED = "FAILED", "Could not be computed"

    campaign = models.ForeignKey(AnnotationCampaign, on_delete=models.CASCADE, related_name="campaign_cases")
    case = models.ForeignKey("datasets.Case", on_delete=models.PROTECT, related_name="+")
    starting_mask = models.FileField(
        storage=private_storage, upload_to=_starting_mask_path, blank=True, max_length=255
    )
    agreement_basis = models.JSONField(
        default=list, help_text="Ids of the finished revisions the agreement was computed from, ascending."
    )
    agreement = models.JSONField(
        null=True,
        blank=True,
        help_text="Pairwise and starting-mask Dice and volume difference, STAPLE estimates per annotator.",
    )
    agreement_status = models.CharField(
        max_length=16, choices=AgreementStatus.choices, default=AgreementStatus.CURRENT
    )
    agreement_error = models.TextField(blank=True, help_text="Why the agreement could not be computed.")
    consensus_mask = models.FileField(
        storage=private_storage,
        upload_to=_consensus_mask_path,
        blank=True,
        max_length=255,
        help_text="The STAPLE consensus of the finished masks (two or more), uint8 on the reference grid.",
    )

    class Meta:
        ordering = ["campaign", "case__name"]
        constraints = [models.UniqueConstraint(fields=["campaign", "case"], name="case_once_per_campaign")]

    def __str__(self) -> str:
        return str(self.case)


class AnnotationAssignment(models.Model):
    """One annotator's mask of one case of a campaign, and how far they are with it."""

    class Status(models.TextChoices):
        NOT_STARTED = "NOT_STARTED", "Not started"
        IN_PROGRESS = "IN_PROGRESS", "In progress"
        DONE = "DONE", "Done"

    campaign_case = models.ForeignKey(CampaignCase, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the first revision was saved.")
    done_at = models.DateTimeField(null=True, blank=True, help_text="When the annotator marked it done.")

    class Meta:
        ordering = ["campaign_case", "annotator__username"]
        constraints = [
            models.UniqueConstraint(fields=["campaign_case", "annotator"], name="annotator_once_per_case"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_case} for {self.annotator}"


class AssignmentEvent(models.Model):
    """A change of an assignment's status: who made it and when."""

    assignment = models.ForeignKey(AnnotationAssignment, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, choices=AnnotationAssignment.Status.choices)
    to_status = models.CharField(max_length=16, choices=AnnotationAssignment.Status.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="Why the change was made, where someone had to say: an organizer reopening a done case.",
    )

    class Meta:
        ordering = ["assignment", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.assignment}: {self.from_status} -> {self.to_status}"


class MaskRevision(models.Model):
    """A mask an annotator saved: binarised (> 0), uint8, on the grid of the case's reference image."""

    assignment = models.ForeignKey(AnnotationAssignment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField(
        help_text="1 for the first save of the assignment, then one more each."
    )
    file = models.FileField(storage=private_storage, upload_to=_revision_path, max_length=255)
    sha256 = models.CharField(max_length=64, help_text="Of the stored, binarised file.")
    lesion_voxels = models.PositiveIntegerField()
    lesion_volume_ml = models.FloatField(help_text="Lesion voxels times the voxel volume, in ml.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assignment", "number"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "number"], name="revision_number_unique"),
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of {self.assignment}"
