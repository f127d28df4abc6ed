"""Algorithm jobs for workers on other hosts: GPU machines that reach the broker and the portal's API, never
the database or the portal's disk.

A remote worker consumes the ``gpu`` queue like any worker (``inference.remote_worker``); for each message it
asks the API for the next job (``remote_job_hand_out``: the same order and the same claim as a worker beside
the database, ``services.job_list_waiting`` and the step engine's ``step_take``) and gets a ``JobTicket``
whose files are short-lived signed links. While the job runs it beats (``remote_job_beat``); it reports the
outcome with its segmentation (``remote_job_report``), or lets the claim go when its own infrastructure
failed (``remote_job_let_go``) so that another worker takes the job at once. Only the worker holding a
claim may beat or report it: a job the sweeper gave to another worker after its holder fell silent is
recorded by that one. A worker is known by its key (``remote_worker_add``), kept as a sha256 only.
"""

import hashlib
import re
import secrets
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from inference.runner import JobResult
from inference.tickets import JobTicket
from portal.algorithms.models import Job, RemoteWorker
from portal.algorithms.services import JOB, job_ticket, jobs_take_in_order
from portal.celery import RowLocked
from portal.errors import PortalError, StepFailed
from portal.steps.services import step_end, step_let_go, step_take
from portal.storage import private_file_signed_url

KEY_PREFIX = "isles-worker-"
FILE_LINK_SECONDS = 900
"""How long a ticket's signed links open their files: a worker fetches them as soon as it has the job."""
_SEEN_EVERY = timedelta(seconds=60)
_WORKER_NAME = re.compile(r"[-a-zA-Z0-9_]{1,64}")


class ClaimLost(PortalError):
    """The job is no longer this worker's to beat or report: the sweeper gave it to another worker after
    this one fell silent, or an organizer stopped its submission."""

    http_status = 409


class WorkersBusy(PortalError):
    """Every waiting job looked at was being claimed by another worker at that moment: ask again shortly."""

    http_status = 503


def remote_worker_add(*, name: str) -> tuple[RemoteWorker, str]:
    """Register a remote worker called ``name`` and return it with its key, which is shown this once.
    ``PortalError`` when the name is taken."""
    if not _WORKER_NAME.fullmatch(name):
        raise PortalError(
            f"{name!r} cannot name a worker: use 1 to 64 letters, digits, hyphens or underscores.",
            code="bad_name",
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            worker = RemoteWorker.objects.create(name=name, key_sha256=_key_digest(key))
    except IntegrityError:
        raise PortalError(
            f"A remote worker is already called {name!r}: choose another name, or revoke that one first.",
            code="name_taken",
        ) from None
    return worker, key


def remote_worker_revoke(*, name: str) -> RemoteWorker:
    """Stop the key of the worker called ``name`` from opening anything; jobs it holds go back to the queue
    when the sweeper finds them silent. ``PortalError`` when there is no such worker."""
    worker = RemoteWorker.objects.filter(name=name).first()
    if worker is None:
        raise PortalError(f"No remote worker is called {name!r}.", code="no_such_worker")
    if worker.revoked_at is None:
        worker.revoked_at = timezone.now()
        worker.save(update_fields=["revoked_at"])
    return worker


def remote_worker_authenticate(*, key: str) -> RemoteWorker | None:
    """The unrevoked worker whose key this is, its last sign of life noted (at most once a minute)."""
    worker = RemoteWorker.objects.filter(key_sha256=_key_digest(key), revoked_at__isnull=True).first()
    if worker is None:
        return None
    now = timezone.now()
    if worker.last_seen_at is None or now - worker.last_seen_at > _SEEN_EVERY:
        RemoteWorker.objects.filter(pk=worker.pk).update(last_seen_at=now)
    return worker


def remote_job_hand_out(*, worker: RemoteWorker) -> JobTicket | None:
    """Claim the next waiting job for ``worker`` and return its ticket, with signed links to its files; None
    when no job waits. A job whose case lacks an input the phase reads fails at once with its sentence and
    the next one is taken. ``WorkersBusy`` when every job looked at was being claimed by another worker."""
    try:
        return jobs_take_in_order(take=partial(_job_hand_out, worker=worker))
    except RowLocked:
        raise WorkersBusy(
            "Every waiting job was being claimed by another worker; ask again in a moment.", code="busy"
        ) from None


def _job_hand_out(job_id: int, *, worker: RemoteWorker) -> JobTicket | None:
    """Claim the job for ``worker`` and make its ticket; None when it was no longer waiting, or failed at
    once because its case lacks an input (its sentence is recorded)."""
    with transaction.atomic():
        job = step_take(JOB, pk=job_id, holder=_holder(worker))
    if job is None:
        return None
    try:
        return job_ticket(job=job, file_source=_signed_link)
    except StepFailed as failed:
        step_end(
            JOB,
            pk=job.pk,
            claim=job.claimed_by,
            end=partial(JOB.fail, sentence=failed.sentence, note="Failed."),
        )
        return None
    except Exception:
        step_let_go(job)  # no ticket left the portal: the job waits for the next worker at once
        raise


def remote_job_beat(*, worker: RemoteWorker, job_id: int, claim: str) -> None:
    """Note that ``worker`` is still running the job it holds with ``claim``; ``ClaimLost`` when it does
    not hold it any more (it should stop the run: its outcome would not be recorded)."""
    _claim_check(worker=worker, job_id=job_id, claim=claim)
    beaten = Job.objects.filter(pk=job_id, claimed_by=claim).update(heartbeat_at=timezone.now())
    if not beaten:
        raise _claim_lost(job_id)


def remote_job_report(*, worker: RemoteWorker, job_id: int, claim: str, result: JobResult | None) -> None:
    """Record how the job ``worker`` holds with ``claim`` ended: ``result`` as its own worker would, or,
    with None, an unexpected error of the worker's (the job fails with the general sentence; its log is on
    the worker's host). ``ClaimLost`` when the job is no longer its to record."""
    _claim_check(worker=worker, job_id=job_id, claim=claim)
    if result is None:
        end = partial(JOB.fail, sentence=JOB.unexpected, note=f"Unexpected error on {worker}.")
    else:
        end = partial(JOB.record, result=result)
    if not step_end(JOB, pk=job_id, claim=claim, end=end):
        raise _claim_lost(job_id)


def remote_job_let_go(*, worker: RemoteWorker, job_id: int, claim: str) -> None:
    """Give the job back without ending it (the worker's engine or disk failed): another worker may take
    it at once. ``ClaimLost`` when ``worker`` does not hold it."""
    _claim_check(worker=worker, job_id=job_id, claim=claim)
    job = Job.objects.filter(pk=job_id, claimed_by=claim).first()
    if job is None:
        raise _claim_lost(job_id)
    step_let_go(job)


def _holder(worker: RemoteWorker) -> str:
    return f"remote worker {worker.name}"


def _claim_check(*, worker: RemoteWorker, job_id: int, claim: str) -> None:
    """A worker acts only on claims made for it (another worker's claim is lost to it)."""
    if not claim.startswith(f"{_holder(worker)} claim "):
        raise _claim_lost(job_id)


def _claim_lost(job_id: int) -> ClaimLost:
    return ClaimLost(
        f"Job {job_id} is no longer yours: it was given to another worker or its submission was stopped;"
        " stop running it.",
        code="claim_lost",
    )


def _signed_link(file: FieldFile) -> str:
    return private_file_signed_url(file.name or "", max_age_s=FILE_LINK_SECONDS)


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
