"""Everything that can happen to an algorithm submission: its resumable upload, its image checks and its
jobs, one per case of the phase; ``portal.algorithms.kind`` plugs them into the submissions' life cycle.

An upload is appended to chunk by chunk in private storage (``portal.uploads``); when it is whole, its
parts are joined and hashed, and ``submissions.services.submission_register`` creates the ALGORITHM
submission under the same rules and limits as predictions. The submissions' check step then asks the kind
to check it
(``algorithm_image_check``) and, once EVALUATING, to start scoring it (``algorithm_jobs_create``). The
sanity job runs first; when it fails the other jobs are CANCELLED and the submission FAILED, which spends
no quota. When every job has ended, the submissions' evaluation scores the jobs' segmentations
(``job_segmentations_copy``) as it scores an archive's masks. A check-only try runs its image checks and
then its sanity job alone, and ends CHECKED when that succeeds (``algorithm_sanity_job_create``).

Jobs are handed out from the database: each ``job_next_task`` message on the ``gpu`` queue runs the job
``job_list_waiting`` puts first when a worker is free. A job is a step of the step engine (``JobRun``):
claimed under locks (submission, then job), run with no lock and no transaction by
``inference.runner.job_run`` in the worker's container runtime (``container_runtime``) while a heartbeat
shows its worker alive, then recorded under the locks again if the worker still holds it. An
infrastructure error (engine gone, disk full) lets the claim go and the task retries, up to
``MAX_JOB_ATTEMPTS`` claims; a job whose worker died is queued again by the sweeper; an algorithm's own
failure is recorded with its sentence and never retried.
"""

import datetime
import hashlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, TypeVar

import docker
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.files import FieldFile
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull
from django.utils import timezone

from inference.contract import INTERFACE_SETS, InterfaceKind, JsonValue
from inference.conversions import ConversionCache
from inference.image_checks import ImageRejected, image_tar_inspect
from inference.runner import JobResult
from inference.runtime import ContainerRuntime, DockerRuntime
from inference.tickets import JobTicket, StoredFile, ticket_run
from portal.accounts.models import User
from portal.algorithms import tasks
from portal.algorithms.exceptions import INFRASTRUCTURE_ERRORS
from portal.algorithms.models import AlgorithmImage, AlgorithmSettings, AlgorithmUpload, Job
from portal.algorithms.selectors import (
    algorithm_sanity_case,
    algorithm_settings_get,
    phase_cases_missing_inputs,
)
from portal.celery import RowLocked
from portal.challenges.models import Phase
from portal.datasets.selectors import case_admission_information
from portal.errors import PortalError, StepFailed
from portal.steps.services import CLAIM_FIELDS, Step, step_is_held, step_register, step_requeue, step_run
from portal.storage import private_storage
from portal.submissions import services as submission_services
from portal.submissions.models import Submission
from portal.submissions.selectors import phase_case_list
from portal.uploads.exceptions import UploadRefused
from portal.uploads.services import (
    CHUNK_BYTES,
    chunked_upload_append,
    chunked_upload_files_delete,
    chunked_upload_name,
)

logger = logging.getLogger(__name__)

UPLOAD_CHUNK_BYTES = CHUNK_BYTES
UPLOAD_EXPIRY = datetime.timedelta(hours=24)
MAX_JOB_ATTEMPTS = 3
UNEXPECTED_ERROR = "An unexpected error occurred while running this case; the organizers have been told."

JobStatus = Job.Status
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


def algorithm_upload_start(
    *, phase: Phase, user: User, total_bytes: int, check_only: bool = False
) -> AlgorithmUpload:
    """Open a resumable upload of an image archive of ``total_bytes`` bytes to an algorithm phase; a
    check-only try when ``check_only`` (its submission is checked and never scored).

    Raises ``SubmissionRefused`` when a submission by the user would be refused now (closed phase, wrong
    kind, not a participant, limits used, or the check-only tries of the day), so nobody sends gigabytes
    for nothing; and ``UploadRefused``
    when the archive is empty or bigger than the phase's image cap, or when the phase's sanity case lacks
    an input its containers read (every submission would fail at its sanity job).
    """
    submission_services.submission_refusal_check(
        phase=phase, user=user, kind=Phase.SubmissionKind.ALGORITHM, check_only=check_only
    )
    sanity_gap = next((gap for gap in phase_cases_missing_inputs(phase=phase) if gap.is_sanity), None)
    if sanity_gap is not None:
        raise UploadRefused(
            f"This phase cannot run algorithms yet: its sanity case has no {', '.join(sanity_gap.missing)},"
            " which every container reads, so the organizers must import them first. Nothing was uploaded"
            " and no submission was spent.",
            code="sanity_case_incomplete",
        )
    cap = algorithm_settings_get(phase=phase).image_max_bytes
    if total_bytes <= 0:
        raise UploadRefused("The archive is empty; save your image with docker save.", code="empty")
    if total_bytes > cap:
        raise UploadRefused(
            f"The archive is {total_bytes / 1e9:.3g} GB; this phase takes images up to {cap / 1e9:.3g} GB.",
            code="too_big",
        )
    upload = AlgorithmUpload(phase=phase, user=user, total_bytes=total_bytes, check_only=check_only)
    upload.file_name = chunked_upload_name(upload=upload, folder="algorithms/uploads", suffix=".tar.gz")
    upload.save()
    return upload


def algorithm_upload_append(
    *, upload_id: uuid.UUID | str, user: User, start: int, total_bytes: int, length: int, stream: IO[bytes]
) -> AlgorithmUpload:
    """Append ``length`` bytes read from ``stream`` at byte ``start`` of the user's upload
    (``portal.uploads.services.chunked_upload_append``).

    The chunk must start where the upload stands (``UploadOffsetMismatch`` otherwise, with the offset to
    resume from), so a cut connection resumes and a chunk sent twice or out of order changes nothing. A
    chunk cut short keeps the bytes that arrived. The chunk that completes the upload creates the
    submission (see ``submission_register``), whose refusal undoes that chunk. Raises
    ``AlgorithmUpload.DoesNotExist`` for another user's upload, ``UploadRefused`` for a finished one.
    """
    with transaction.atomic():
        upload = (
            AlgorithmUpload.objects.select_for_update().select_related("phase").get(pk=upload_id, user=user)
        )
        chunked_upload_append(
            upload=upload,
            storage=private_storage(),
            start=start,
            total_bytes=total_bytes,
            length=length,
            stream=stream,
            on_complete=partial(_algorithm_submission_create, upload=upload),
        )
    return upload


def algorithm_uploads_expire(*, now: datetime.datetime) -> int:
    """Delete the uploads not completed within ``UPLOAD_EXPIRY`` of their start, with their stored parts,
    and return how many.

    A participant resumes a cut upload within a day; after that its parts (up to the phase's image
    cap) only fills the disk. An expired upload is gone: resuming it is a 404, and the participant starts
    again. Each upload is locked first, so a chunk being appended finishes (and may complete it) before
    the upload is judged. Safe to run twice.
    """
    expired = AlgorithmUpload.objects.filter(submission__isnull=True, created_at__lt=now - UPLOAD_EXPIRY)
    removed = 0
    for upload_id in expired.values_list("pk", flat=True):
        with transaction.atomic():
            upload = (
                AlgorithmUpload.objects.select_for_update()
                .filter(pk=upload_id, submission__isnull=True)
                .first()
            )
            if upload is None:
                continue
            upload.delete()
        # An upload's parts are its own, named by its id; a completed one's file is its submission's.
        chunked_upload_files_delete(upload=upload, storage=private_storage(), whole=False)
        removed += 1
    return removed


def algorithm_image_file_forget(*, submission: Submission) -> None:
    """Record that the image archive of a submission is no longer stored (its file is being removed)."""
    AlgorithmImage.objects.filter(submission=submission).update(file="")


def algorithm_file_in_use(*, name: str) -> bool:
    """Whether an algorithm image or an upload not yet completed still names the stored file ``name``."""
    return (
        AlgorithmImage.objects.filter(file=name).exists()
        or AlgorithmUpload.objects.filter(file_name=name, submission__isnull=True).exists()
    )


def algorithm_image_check(*, submission: Submission) -> list[str]:
    """Check the submission's image archive and record what it found; return one sentence per problem.

    Reads the tar itself (no Docker needed): one image, linux/amd64, not root, an entrypoint or command,
    under the phase's size cap, and no image with the same digest already accepted in the phase from the
    same team (or the same participant without a team) in a submission that has not failed or been
    cancelled (those spent no quota, and a failure may have been the infrastructure's). Another team may
    submit the same image: the demo's baseline and a participant trying the reference algorithm are both
    legitimate.
    """
    image = submission.algorithm_image
    cap = algorithm_settings_get(phase=submission.phase).image_max_bytes
    try:
        with image.file.open("rb") as archive:
            summary = image_tar_inspect(archive, max_size_bytes=cap)
    except ImageRejected as rejected:
        image.status = AlgorithmImage.Status.REJECTED
        image.problems = list(rejected.problems)
        image.save(update_fields=["status", "problems"])
        return image.problems
    image.image_id = summary.image_id
    image.user = summary.user
    image.entrypoint = [*summary.entrypoint, *summary.cmd]
    with transaction.atomic():
        # Two uploads of one image checked at once take turns here, so only the first is accepted.
        Phase.objects.select_for_update().filter(pk=image.phase_id).first()
        submitter = (
            {"submission__team": submission.team}
            if submission.team is not None
            else {"submission__team": None, "submission__creator": submission.creator}
        )
        duplicate = (
            AlgorithmImage.objects.filter(
                phase=image.phase,
                image_id=summary.image_id,
                status=AlgorithmImage.Status.ACCEPTED,
                **submitter,
            )
            .exclude(pk=image.pk)
            # A failed or cancelled submission spent no quota, nor did a check-only try: its team may send
            # the same image again.
            .exclude(submission__status__in=(Submission.Status.FAILED, Submission.Status.CANCELLED))
            .exclude(submission__check_only=True)
            .first()
        )
        if duplicate is None:
            image.status, image.problems = AlgorithmImage.Status.ACCEPTED, []
        else:
            image.status = AlgorithmImage.Status.REJECTED
            image.problems = [
                f"This image ({summary.image_id[:19]}) was already submitted to this phase as your "
                f"submission {duplicate.submission_id}; change your algorithm before you submit it again."
            ]
        image.save()
    return list(image.problems)


def algorithm_jobs_create(*, submission: Submission) -> None:
    """Create one QUEUED job per case of the phase, and the sanity job, and ask a worker to take one.

    The sanity case (``algorithm_sanity_case``) runs first: on a phase of hidden test cases it is a
    training case, run in addition to the phase's cases and never scored, so that the log its team reads
    tells nothing hidden. The caller holds the submission's lock inside ``transaction.atomic``, having
    moved it to EVALUATING; a worker is asked after the commit, and the next job it takes is the sanity
    job, the only one that may run until it has succeeded (``job_next``). A phase without cases goes
    straight to the evaluation.
    """
    cases = list(phase_case_list(phase=submission.phase))
    if not cases:
        submission_services.submission_evaluation_queue(submission_id=submission.pk)
        return
    sanity_case = algorithm_sanity_case(phase=submission.phase, cases=cases)
    Job.objects.create(submission=submission, case=sanity_case, is_sanity=True)
    Job.objects.bulk_create(Job(submission=submission, case=case) for case in cases if case != sanity_case)
    jobs_dispatch(count=1)


def algorithm_sanity_job_create(*, submission: Submission) -> bool:
    """Create the sanity job of a locked check-only try whose image passed its checks, alone, and ask a
    worker to take it; False when the phase has no case to run (the try then ends with its image checks).

    A check-only try runs the image checks and then the sanity case, and nothing else: what fails real
    submissions is mostly not the image's manifest but the container itself (inputs read from the wrong
    path, no mask written, a crash or out of memory in the sandbox, a mask off the case's grid), and only
    a run shows that. One case is what a real submission runs before it spends anything more, so a try
    that passes here would pass a real submission's sanity case too, at the cost of one job, not of the
    phase's cases (which a try never runs). The case is the one a real submission's sanity job runs
    (``algorithm_sanity_case``: a training case on a hidden test phase, so its log tells nothing hidden).
    When it succeeds ``_job_end`` ends the try CHECKED; when it fails, FAILED with its sentence.
    """
    cases = list(phase_case_list(phase=submission.phase))
    if not cases:
        return False
    Job.objects.create(
        submission=submission,
        case=algorithm_sanity_case(phase=submission.phase, cases=cases),
        is_sanity=True,
    )
    jobs_dispatch(count=1)
    return True


def job_run(*, job_id: int) -> bool:
    """Run one QUEUED job (or a RUNNING one whose worker died or let it go) and record how it ended
    (``JobRun``); whether this worker ran it.

    A job in another status, or of a submission that is no longer EVALUATING (the job is then CANCELLED),
    or a job that must wait for its sanity case, is left alone, so a repeated message is harmless.
    Infrastructure errors propagate for the task to retry; anything else unexpected fails the job with a
    general sentence, then propagates.
    """
    return step_run(JOB, pk=job_id)


Taken = TypeVar("Taken")
"""What a worker makes of a job it takes: the job's id (a portal worker) or its ticket (a remote one)."""
JOBS_LOOKED_AT = 20
"""How many waiting jobs ``jobs_take_in_order`` offers, best first, before it leaves the rest to other
messages."""


def job_next() -> int | None:
    """Take the next waiting job and run it; its id, or None when every waiting job was taken meanwhile.

    Jobs are handed out from the database, not queued one message per job: each message on the ``gpu``
    queue asks for "the next job", chosen when a worker is free (``job_list_waiting``), so the order can be
    changed (shared fairly between teams, issue 18) while jobs wait. ``RowLocked`` as in
    ``jobs_take_in_order``: the task then asks again later instead of dropping the message a job still
    waiting was counted on.
    """
    return jobs_take_in_order(take=lambda job_id: job_id if job_run(job_id=job_id) else None)


def jobs_take_in_order(*, take: Callable[[int], Taken | None]) -> Taken | None:
    """Offer the waiting jobs to ``take`` in the order they are handed out, and return what it made of the
    first one it took (it returns None for a job that was no longer waiting when it looked); None when no
    job was taken. A job another worker is claiming at that moment (``take`` raised ``RowLocked``) is
    skipped for the next one; when every job looked at was, ``RowLocked`` is raised, since some may still
    be waiting. The one loop of portal workers (``job_next``) and remote ones (``remote_job_hand_out``)."""
    skipped = False
    for job_id in job_list_waiting().values_list("pk", flat=True)[:JOBS_LOOKED_AT]:
        try:
            taken = take(job_id)
        except RowLocked:
            skipped = True
            continue
        if taken is not None:
            return taken
    if skipped:
        raise RowLocked("Every waiting job looked at was being claimed by another worker; ask again later.")
    return None


def job_list_waiting() -> QuerySet[Job]:
    """The jobs a worker may take now, the one to take first first.

    A job waits when it is QUEUED (or RUNNING with no claim: its worker let it go, or died and the sweeper
    freed it) in a submission being evaluated, and it is the submission's sanity job or that one has
    succeeded. Jobs are shared between teams (a participant without a team is a team of one): first the
    job of the team with the fewest jobs running, so teams take turns and a team with a hundred jobs
    waiting delays another team's next job by at most one job per worker; among those, sanity jobs (each
    decides whether a whole submission runs), then the one waiting longest. One query: the count is a
    subquery over the running jobs (few: one per worker).
    """
    sanity_succeeded = Job.objects.filter(
        submission=OuterRef("submission"), is_sanity=True, status=JobStatus.SUCCEEDED
    )
    running = Job.objects.filter(status=JobStatus.RUNNING).exclude(claimed_by="").order_by()
    team_running = running.filter(
        Q(submission__team=OuterRef("submission__team"))
        | Q(
            IsNull(OuterRef("submission__team"), True),
            submission__team__isnull=True,
            submission__creator=OuterRef("submission__creator"),
        )
    )
    return (
        Job.objects.filter(
            status__in=(JobStatus.QUEUED, JobStatus.RUNNING),
            claimed_by="",
            submission__status=Submission.Status.EVALUATING,
        )
        .filter(Q(is_sanity=True) | Exists(sanity_succeeded))
        .annotate(team_running=Coalesce(Subquery(team_running.values(count=Func("pk", function="COUNT"))), 0))
        .order_by("team_running", "-is_sanity", "queued_at", "pk")
    )


def jobs_dispatch(*, count: int) -> None:
    """Ask for ``count`` more jobs to be taken (one ``job_next_task`` message each) once the caller's
    transaction commits."""
    for _ in range(count):
        transaction.on_commit(tasks.job_next_task.delay)


def job_segmentations_copy(*, submission: Submission, folder: Path) -> dict[str, Path]:
    """Local copies of the segmentations of the submission's succeeded jobs, by case name."""
    folder.mkdir(parents=True, exist_ok=True)
    copies: dict[str, Path] = {}
    jobs = submission.jobs.filter(status=JobStatus.SUCCEEDED).exclude(segmentation="").select_related("case")
    for job in jobs:
        path = folder / f"{job.case.name}.nii.gz"
        with job.segmentation.open("rb") as source, path.open("wb") as target:
            shutil.copyfileobj(source, target)
        copies[job.case.name] = path
    return copies


def algorithm_baseline_register(
    *, phase: Phase, user: User, image_tag: str = "isles-reference/threshold"
) -> Submission:
    """Submit the reference image ``image_tag`` from the local Docker engine to ``phase`` as ``user``.

    For the demo: the image is saved as a participant would (``docker save | gzip``) and goes through the
    same upload, checks and jobs as any other. Needs a Docker engine holding the image.
    """
    client = _docker_client()
    with tempfile.TemporaryDirectory(prefix="isles-baseline-") as folder:
        archive = Path(folder) / "image.tar"
        with archive.open("wb") as target:
            for chunk in client.images.get(image_tag).save(named=True):
                target.write(chunk)
        total = archive.stat().st_size
        upload = algorithm_upload_start(phase=phase, user=user, total_bytes=total)
        with archive.open("rb") as source:
            upload = algorithm_upload_append(
                upload_id=upload.pk, user=user, start=0, total_bytes=total, length=total, stream=source
            )
    assert upload.submission is not None  # the one chunk was the whole archive
    return upload.submission


def _algorithm_submission_create(*, upload: AlgorithmUpload) -> None:
    submission = Submission(
        phase=upload.phase,
        creator=upload.user,
        kind=Phase.SubmissionKind.ALGORITHM,
        sha256=upload.sha256,
        size_bytes=upload.total_bytes,
        check_only=upload.check_only,
    )
    submission.file.name = upload.file_name
    submission_services.submission_register(submission=submission)
    AlgorithmImage.objects.create(
        submission=submission,
        phase=upload.phase,
        file=upload.file_name,
        sha256=submission.sha256,
        size_bytes=upload.total_bytes,
    )
    upload.submission = submission
    upload.save(update_fields=["submission"])


def _rows_lock(*, submission_id: int, job_id: int, nowait: bool) -> tuple[Submission, Job]:
    """Lock the submission, then the job (always in this order, so two steps cannot deadlock)."""
    try:
        submission = (
            Submission.objects.select_for_update(nowait=nowait, of=("self",))
            .select_related("phase")
            .get(pk=submission_id)
        )
        job = Job.objects.select_for_update(nowait=nowait, of=("self",)).select_related("case").get(pk=job_id)
    except DatabaseError as error:
        raise RowLocked(f"Job {job_id} or its submission is locked by another transaction.") from error
    job.submission = submission
    return submission, job


def container_runtime() -> ContainerRuntime:
    """The runtime this worker runs jobs in: the Docker engine at ``DOCKER_HOST``, or the one the
    environment names (tests of the job flow swap in ``inference.runtime.FakeRuntime`` here), with the
    container I/O ``ISLES_CONTAINER_IO`` names."""
    return DockerRuntime.with_container_io(
        _docker_client(),
        container_io=settings.ISLES_CONTAINER_IO,
        input_volumes_max_bytes=settings.ISLES_INPUT_VOLUMES_MB * 2**20,
    )


def _job_execute(*, job: Job, folder: Path) -> JobResult:
    """Run the claimed job here, in this worker's runtime, reading its files from storage."""
    runtime = container_runtime()
    try:
        return ticket_run(
            job_ticket(job=job, file_source=_storage_name),
            runtime=runtime,
            fetch=storage_fetch,
            scratch=folder,
            gpu_device=settings.ISLES_GPU_DEVICE or None,
            conversion_cache=worker_conversion_cache(),
        )
    finally:
        runtime.close()


def job_ticket(*, job: Job, file_source: Callable[[FieldFile], str]) -> JobTicket:
    """What a worker needs to run the claimed job, its files named as ``file_source`` names them (storage
    names for a worker beside the database, signed URLs for a remote one).

    The inputs are the case's images and what is known of it at admission (never its outcomes or
    reference mask, which are ground truth), by the slugs of the phase's interface set. A case lacking a
    required image fails the job with a sentence naming what it lacks (``phase_cases_missing_inputs``
    shows organizers such cases beforehand).
    """
    submission = job.submission
    image = submission.algorithm_image
    algorithm_settings = algorithm_settings_get(phase=submission.phase)
    interface_set = INTERFACE_SETS[algorithm_settings.interface_set]
    stored = {stored.interface: stored for stored in job.case.images.all()}
    missing = [interface.slug for interface in interface_set.required_images if interface.slug not in stored]
    if missing:
        raise StepFailed(
            f"Case {job.case.name} has no {', '.join(missing)}, which this phase's containers read, so your"
            " algorithm was not run on it; the organizers have to import the missing images."
        )
    inputs: dict[str, StoredFile | JsonValue] = {}
    for interface in interface_set.inputs:
        if interface.kind == InterfaceKind.JSON:
            inputs[interface.slug] = case_admission_information(case=job.case)
        elif interface.slug in stored:
            case_image = stored[interface.slug]
            inputs[interface.slug] = StoredFile(
                source=file_source(case_image.file),
                sha256=case_image.sha256,
                size_bytes=case_image.size_bytes,
                file_name=PurePosixPath(case_image.file.name).name,
            )
    return JobTicket(
        job_id=job.pk,
        claim=job.claimed_by,
        container_name=job_container_name(job_id=job.pk),
        image_id=image.image_id,
        image_archive=StoredFile(
            source=file_source(image.file),
            sha256=image.sha256,
            size_bytes=image.size_bytes,
            file_name=PurePosixPath(image.file.name).name,
        ),
        interface_set=algorithm_settings.interface_set,
        inputs=inputs,
        limits=algorithm_settings.sandbox_limits,
        gpu=algorithm_settings.gpu,
        heartbeat_s=settings.STEP_HEARTBEAT_SECONDS,
    )


def _storage_name(file: FieldFile) -> str:
    return file.name or ""


def storage_fetch(stored: StoredFile, folder: Path) -> Path:
    """A local file holding the private storage's file ``stored.source``: the stored file itself when the
    storage is a local folder, else a copy in ``folder``."""
    storage = private_storage()
    if isinstance(storage, FileSystemStorage):
        return Path(storage.path(stored.source))
    folder.mkdir(parents=True, exist_ok=True)
    local = folder / stored.file_name
    with storage.open(stored.source, "rb") as source, local.open("wb") as target:
        shutil.copyfileobj(source, target, _COPY_CHUNK_BYTES)
    return local


_COPY_CHUNK_BYTES = 1 << 20


def worker_conversion_cache() -> ConversionCache:
    """This worker's converted inputs, by the stored image's sha256 (``ISLES_WORKER_CACHE_DIR``, at most
    ``ISLES_WORKER_CACHE_MB``): a case is converted once per worker, whichever submission runs on it."""
    return ConversionCache(
        folder=settings.ISLES_WORKER_CACHE_DIR / "conversions",
        max_bytes=settings.ISLES_WORKER_CACHE_MB * 2**20,
    )


@dataclass(frozen=True)
class Sandbox:
    """How a phase runs its containers, as an organizer sets it (the fields of ``AlgorithmSettings``)."""

    interface_set: str
    time_limit_s: int
    memory_gb: float
    cpus: float
    pids: int
    tmpfs_mb: int
    output_max_mb: int
    image_max_gb: float
    logs_visible_to_participants: bool
    gpu: bool


# The least each limit may be, and the sentence that says so: below it no container could run.
SANDBOX_MINIMA: Mapping[str, tuple[float, str]] = {
    "time_limit_s": (1, "A case needs at least 1 second to run: set the time limit to 1 s or more."),
    "memory_gb": (0.1, "A container needs memory to start: give it at least 0.1 GB."),
    "cpus": (0.1, "A container needs some CPU time: give it at least 0.1 CPU."),
    "pids": (1, "A container starts at least one process: allow 1 or more processes."),
    "tmpfs_mb": (1, "The writable /tmp needs at least 1 MB."),
    "output_max_mb": (1, "A segmentation needs room in /output: allow at least 1 MB."),
    "image_max_gb": (0.001, "No image is that small: allow images of at least 0.001 GB (1 MB)."),
}


def _sandbox_problems(*, phase: Phase, sandbox: Sandbox) -> dict[str, PortalError]:
    problems: dict[str, PortalError] = {}
    if phase.submission_kind != Phase.SubmissionKind.ALGORITHM:
        problems[NON_FIELD_ERRORS] = PortalError(
            "Only a phase that takes algorithm containers has a sandbox.", code="not_an_algorithm_phase"
        )
    if sandbox.interface_set not in INTERFACE_SETS:
        problems["interface_set"] = PortalError(
            f"There is no interface set called {sandbox.interface_set!r}; choose one of "
            f"{', '.join(sorted(INTERFACE_SETS))}.",
            code="no_such_interface_set",
        )
    for name, (least, sentence) in SANDBOX_MINIMA.items():
        if getattr(sandbox, name) < least:
            problems[name] = PortalError(sentence, code="below_minimum")
    return problems


def algorithm_settings_update(*, phase: Phase, sandbox: Sandbox) -> AlgorithmSettings:
    """Set how the phase runs containers, after checking every field.

    ``ValidationError`` maps each field to its sentence: a phase of predictions, an unknown interface set,
    a limit below its least (``SANDBOX_MINIMA``), or an interface set whose required images some case of
    the phase lacks (``phase_cases_missing_inputs``, read on the phase's dataset and split as saved, so a
    caller changing them saves them first in the same transaction).
    """
    problems = _sandbox_problems(phase=phase, sandbox=sandbox)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        settings_row = AlgorithmSettings.objects.filter(phase=phase).first() or AlgorithmSettings(phase=phase)
        for name, value in asdict(sandbox).items():
            setattr(settings_row, name, value)
        settings_row.save()
        gaps = phase_cases_missing_inputs(phase=phase)
        if gaps:
            listed = "; ".join(f"{gap.case_name} has no {', '.join(gap.missing)}" for gap in gaps[:5])
            more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
            # Raised inside the savepoint, so the settings just saved are undone.
            raise ValidationError(
                {
                    "interface_set": PortalError(
                        f"The {sandbox.interface_set} interface set reads images that {len(gaps)} case(s) "
                        f"of this phase lack ({listed}{more}), so their jobs would fail: choose the set the "
                        "dataset was imported for, or import the missing files first.",
                        code="interface_set_unsatisfied",
                    )
                }
            )
    return settings_row


def job_container_name(*, job_id: int) -> str:
    """The name of the container that runs a job, unique on a Docker engine that several portals share
    (staging beside production, a test run beside the demo): each numbers its jobs from 1, and a worker
    taking a job over removes the container of its name that a dead worker left. So the name carries a
    digest of the portal's database (engine, host, port and name)."""
    database = connection.settings_dict
    identity = "|".join(str(database[key]) for key in ("ENGINE", "HOST", "PORT", "NAME"))
    portal_id = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return f"isles-portal-{portal_id}-job-{job_id}"


def _docker_client() -> docker.DockerClient:
    if settings.DOCKER_HOST:
        return docker.DockerClient(base_url=settings.DOCKER_HOST)
    return docker.from_env()


class JobRun(Step[Job, JobResult]):
    """QUEUED -> RUNNING -> SUCCEEDED with its stored segmentation, or FAILED with its sentence.

    The submission is locked before the job, always in this order, so two steps cannot deadlock. An
    infrastructure error (engine gone, disk full) lets the claim go and is retried, up to
    ``MAX_JOB_ATTEMPTS`` claims; an algorithm's own failure is recorded with its sentence, never retried.
    """

    name = "algorithm job"
    model = Job
    statuses = (JobStatus.QUEUED, JobStatus.RUNNING)
    max_attempts = MAX_JOB_ATTEMPTS
    retry_on = INFRASTRUCTURE_ERRORS
    unexpected = UNEXPECTED_ERROR

    def queue(self, pk: int) -> None:
        tasks.job_next_task.delay()

    def lock(self, pk: int, *, nowait: bool) -> Job | None:
        submission_id = Job.objects.filter(pk=pk).values_list("submission_id", flat=True).first()
        if submission_id is None:
            return None
        return _rows_lock(submission_id=submission_id, job_id=pk, nowait=nowait)[1]

    def ready(self, row: Job) -> bool:
        if row.submission.status != Submission.Status.EVALUATING:
            row.status, row.finished_at = JobStatus.CANCELLED, timezone.now()
            row.save(update_fields=["status", "finished_at"])
            return False
        if row.is_sanity or row.submission.jobs.filter(is_sanity=True, status=JobStatus.SUCCEEDED).exists():
            return True
        logger.info("Job %s waits for its submission's sanity case.", row.pk)
        return False

    def begin(self, row: Job) -> list[str]:
        row.status = JobStatus.RUNNING
        row.started_at = timezone.now()
        return ["status", "started_at"]

    def work(self, row: Job, scratch: Path) -> JobResult:
        return _job_execute(job=row, folder=scratch)

    def record(self, row: Job, result: JobResult) -> None:
        outcome = result.outcome
        if outcome is not None:
            row.exit_code = outcome.exit_code
            row.duration_s = outcome.duration_s
            row.had_gpu = outcome.had_gpu
            row.stdout_tail = outcome.stdout_tail
            row.stderr_tail = outcome.stderr_tail
        row.failure = result.failure or ""
        if result.segmentation_path is None:
            _job_end(job=row, submission=row.submission, status=JobStatus.FAILED)
            return
        with result.segmentation_path.open("rb") as segmentation:
            row.segmentation.save("segmentation.nii.gz", File(segmentation), save=False)
        _job_end(job=row, submission=row.submission, status=JobStatus.SUCCEEDED)

    def fail(self, row: Job, *, sentence: str, note: str) -> None:
        row.failure = sentence
        _job_end(job=row, submission=row.submission, status=JobStatus.FAILED)


JOB = JobRun()


def _job_end(*, job: Job, submission: Submission, status: JobStatus) -> None:
    """Save the locked job as ended, then take the submission's next step.

    A failed sanity job cancels the others and fails the submission (no quota spent); a succeeded one
    queues the others, or ends a check-only try CHECKED (it has no others). When no job is left to run,
    the evaluation is queued after the commit.
    """
    job.status = status
    job.finished_at = timezone.now()
    job.save()
    if submission.status != Submission.Status.EVALUATING:
        return
    others = submission.jobs.exclude(pk=job.pk)
    if job.is_sanity and status != JobStatus.SUCCEEDED:
        others.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now()
        )
        submission.error = (
            f"The sanity case {job.case.name} failed: {job.failure} The other cases were not run, and this "
            "submission did not count toward your limits."
        )
        if submission.kind == Submission.Kind.RERUN:
            submission.error = (
                f"The sanity case {job.case.name} failed: {job.failure} The re-run's other cases were not "
                f"run; submission {submission.validation_run.original_id}, its scores and its team's limits "
                "are unchanged."
            )
        if submission.check_only:
            submission.error = (
                f"The sanity case {job.case.name} failed: {job.failure} "
                f"{submission_services.CHECK_ONLY_SENTENCE}"
            )
        submission_services.submission_transition(
            submission=submission, to_status=Submission.Status.FAILED, note="Sanity case failed."
        )
        return
    if job.is_sanity and submission.check_only:
        submission_services.submission_check_only_pass(
            submission=submission, note=f"Image checks passed; the sanity case {job.case.name} succeeded."
        )
        return
    if job.is_sanity:
        jobs_dispatch(count=others.filter(status=JobStatus.QUEUED).count())
    if not others.exclude(status__in=ENDED).exists():
        submission_services.submission_evaluation_queue(submission_id=submission.pk)


def algorithm_jobs_requeue(*, submission: Submission) -> int:
    """Queue the locked submission's unfinished jobs again, their attempts counted afresh (an organizer
    re-queues a stuck submission); how many. Refused with a sentence (code ``held``) while a live worker
    runs one of them: that job is not stuck."""
    unfinished = list(submission.jobs.select_for_update().exclude(status__in=ENDED).select_related("case"))
    running = [job for job in unfinished if step_is_held(job)]
    if running:
        raise ValidationError(
            f"A worker is running the job of {running[0].case.name} right now; re-queue the submission only "
            "if it stops.",
            code="held",
        )
    for job in unfinished:
        step_requeue(job)
        job.queued_at = timezone.now()
        job.save(update_fields=[*CLAIM_FIELDS, "queued_at"])
    jobs_dispatch(count=len(unfinished))
    return len(unfinished)


def algorithm_jobs_cancel(*, submission: Submission) -> None:
    """Cancel the jobs of a stopped submission that no worker has started (a running one ends on its own
    and is not recorded into the submission's steps)."""
    submission.jobs.filter(status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), claimed_by="", heartbeat_at=None
    )


def job_steps_register() -> None:
    """Let the step engine's sweeper watch the jobs of algorithm submissions."""
    step_register(JOB)
