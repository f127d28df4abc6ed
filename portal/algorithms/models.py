"""Algorithm containers: a phase's sandbox settings, resumable uploads, the uploaded images and their jobs.

An algorithm submission is a ``Submission`` of kind ALGORITHM whose file is a ``docker save | gzip``
archive; its ``AlgorithmImage`` holds what the checks read from the archive. Once checked, the
submission gets one ``Job`` per case of the phase, which moves ``QUEUED -> RUNNING -> SUCCEEDED`` (or
``FAILED``), or to ``CANCELLED`` when the sanity job failed first.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from inference.sandbox import SandboxLimits
from portal.challenges.models import Phase
from portal.steps.models import ClaimedStep
from portal.storage import private_storage
from portal.submissions.models import Submission
from portal.uploads.models import ChunkedUpload

# Decimal units, as the failure sentences of ``inference.sandbox`` print them.
GB = 10**9
MB = 10**6


class AlgorithmSettings(models.Model):
    """How a phase runs algorithm containers: its interfaces, sandbox limits and who reads the logs."""

    class InterfaceSetName(models.TextChoices):
        ISLES24 = "isles24", "ISLES'24 (CT, CTA, CTP and its maps, clinical data)"
        ISLES22 = "isles22", "ISLES'22 (DWI, ADC, FLAIR)"

    phase = models.OneToOneField(Phase, on_delete=models.CASCADE, related_name="algorithm_settings")
    interface_set = models.CharField(
        max_length=16, choices=InterfaceSetName.choices, default=InterfaceSetName.ISLES24
    )
    time_limit_s = models.PositiveIntegerField(default=600, help_text="Seconds one case may run.")
    memory_gb = models.FloatField(default=8.0, help_text="Memory of one run, in GB, with no extra swap.")
    cpus = models.FloatField(default=4.0, help_text="CPU cores one run may use.")
    pids = models.PositiveIntegerField(default=256, help_text="Processes and threads one run may start.")
    tmpfs_mb = models.PositiveIntegerField(default=512, help_text="Size of the writable /tmp, in MB.")
    output_max_mb = models.PositiveIntegerField(default=512, help_text="Most a run may write to /output.")
    image_max_gb = models.FloatField(default=10.0, help_text="Largest image, unpacked, in GB.")
    logs_visible_to_participants = models.BooleanField(
        default=False, help_text="Participants read their jobs' logs; organizers always do."
    )
    gpu = models.BooleanField(
        default=True,
        db_default=True,
        help_text=(
            "A run is given the worker's GPU, when the worker has one (ISLES_GPU_DEVICE). Off: runs use CPUs "
            "only, as a container that needs no GPU should."
        ),
    )

    class Meta:
        verbose_name_plural = "algorithm settings"

    def __str__(self) -> str:
        return f"algorithm settings of {self.phase}"

    @property
    def image_max_bytes(self) -> int:
        return int(self.image_max_gb * GB)

    @property
    def sandbox_limits(self) -> SandboxLimits:
        return SandboxLimits(
            memory_bytes=int(self.memory_gb * GB),
            cpus=self.cpus,
            pids=self.pids,
            time_limit_s=float(self.time_limit_s),
            tmpfs_bytes=self.tmpfs_mb * MB,
            output_max_bytes=self.output_max_mb * MB,
        )


class AlgorithmUpload(ChunkedUpload):
    """A resumable upload of an image archive to a phase (``portal.uploads``): once whole, a submission."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="algorithm_uploads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    submission = models.OneToOneField(
        Submission, on_delete=models.SET_NULL, null=True, blank=True, related_name="algorithm_upload"
    )
    check_only = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A check-only try: its submission is checked and never scored.",
    )


class AlgorithmImage(models.Model):
    """The container image of an algorithm submission and what its checks found."""

    class Status(models.TextChoices):
        UNCHECKED = "UNCHECKED", "Not checked yet"
        ACCEPTED = "ACCEPTED", "Accepted"
        REJECTED = "REJECTED", "Rejected"

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="algorithm_image")
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="algorithm_images")
    file = models.FileField(storage=private_storage, max_length=255)
    sha256 = models.CharField(max_length=64, help_text="Of the uploaded archive.")
    size_bytes = models.PositiveBigIntegerField(help_text="Of the uploaded (compressed) archive.")
    image_id = models.CharField(
        max_length=80, blank=True, db_index=True, help_text="sha256 digest of the image's configuration."
    )
    user = models.CharField(max_length=64, blank=True, help_text="The user the image runs as.")
    entrypoint = models.JSONField(default=list, blank=True, help_text="Entrypoint, then command.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNCHECKED)
    problems = models.JSONField(default=list, blank=True, help_text="One sentence per problem found.")

    def __str__(self) -> str:
        return f"image of submission {self.submission_id}"


def _segmentation_path(instance: "Job", filename: str) -> str:
    return f"algorithms/segmentations/{instance.submission_id}/{instance.case_id}.nii.gz"


class Job(ClaimedStep):
    """One run of a submission's algorithm on one case, and how it ended: a step of the step engine
    (``portal.steps``), whose claim fields say which worker runs it."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "Queued"
        RUNNING = "RUNNING", "Running"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"
        CANCELLED = "CANCELLED", "Cancelled"

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="jobs")
    case = models.ForeignKey("datasets.Case", on_delete=models.PROTECT, related_name="jobs")
    is_sanity = models.BooleanField(default=False, help_text="Runs first; its failure cancels the others.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    exit_code = models.IntegerField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True, help_text="Seconds the container ran.")
    had_gpu = models.BooleanField(default=False, help_text="The run was given a GPU.")
    stdout_tail = models.TextField(blank=True, help_text="The last 500 lines of standard output.")
    stderr_tail = models.TextField(blank=True, help_text="The last 500 lines of standard error.")
    failure = models.TextField(blank=True, help_text="Why it failed, in a sentence shown to the participant.")
    segmentation = models.FileField(
        storage=private_storage, upload_to=_segmentation_path, max_length=255, blank=True
    )
    queued_at = models.DateTimeField(
        default=timezone.now,
        db_default=Now(),
        help_text="When the job began to wait for a worker: made, or re-queued by an organizer.",
    )
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last claimed it.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["submission", "-is_sanity", "case__name"]
        constraints = [models.UniqueConstraint(fields=["submission", "case"], name="one_job_per_case")]
        indexes = [models.Index(fields=["status", "queued_at"], name="job_waiting")]

    def __str__(self) -> str:
        return f"job of submission {self.submission_id} on {self.case}"


class RemoteWorker(models.Model):
    """A host that runs algorithm jobs without database access: it asks the portal's worker API for its
    next job with this key, fetches the job's files by signed links and reports how the job ended
    (``portal.algorithms.remote``). Only the key's sha256 is kept; the key is shown once, when made."""

    name = models.SlugField(max_length=64, unique=True, help_text="Names the host in job claims and logs.")
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Its last request to the API.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="From then on its key opens nothing.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"remote worker {self.name}"


class ValidationRun(models.Model):
    """An organizer's re-run of an algorithm submission on a validation phase (``Phase.is_validation``):
    the re-run is a submission of its own (kind RERUN, owned by the organizer, no team) whose image is the
    original's archive, reused by its name and digest, and whose jobs run the validation phase's cases
    that have every input its containers read (``portal.algorithms.validation``)."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="validation_run")
    original = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="validation_reruns")
    skipped_cases = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "One sentence per case of the validation phase that was not run (nor scored) because it lacks "
            "an input the containers read."
        ),
    )
    reported_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "When the organizers who made it were e-mailed that every re-run on the phase had ended, this "
            "one among them; empty until then."
        ),
    )

    class Meta:
        ordering = ["-submission__created_at", "-pk"]

    def __str__(self) -> str:
        return f"re-run of submission {self.original_id} as submission {self.submission_id}"
