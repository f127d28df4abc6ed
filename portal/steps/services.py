"""The one engine of the portal's background steps: claim a step, show signs of life, record it or fail it
with a sentence only while holding it, and sweep the steps whose worker died.

A background step (a submission's check or evaluation, an algorithm's job on one case, a dataset import, a
reader study's or annotation campaign's preparation) belongs to a row whose model inherits
``ClaimedStep``; the row's status says which step it is in. Each kind of step is a ``Step`` subclass whose
Celery task calls ``step_run``, which

1. claims the step inside the row's lock (``step_claim``): refused when another live worker holds it (a
   duplicate message) or when its attempts are spent (the step then fails with a sentence), otherwise it
   counts one more attempt and writes the claim (worker host, process and a token) with a first heartbeat;
2. works with no lock and no transaction, while ``step_heartbeat`` stamps ``heartbeat_at`` from a thread;
3. records its outcome, or its failure (the ``StepFailed`` sentence for its owner, or a general sentence
   for an internal error whose traceback goes to the log), under the lock again only if it still holds the
   claim (``step_held_by``), releasing it, and queues the next step after the commit.

The database, not the broker, is the record of work: Celery's filesystem broker drops a message whose
worker is killed, Redis gives one back only after its visibility timeout (hours), and a worker can die in
the middle of a step. ``steps_sweep`` (Celery beat, every ``STEP_SWEEP_SECONDS``) finds claims whose last
heartbeat is older than ``STEP_CLAIM_EXPIRY_SECONDS`` and queues their steps again, up to the step's
attempts, then gives them up with a sentence; a step it queued that no worker claimed within
``STEP_REQUEUE_AFTER_SECONDS`` is queued once more, in case that message was lost too. Every step is safe
to run twice, so a duplicate message changes nothing. Each app registers its steps when Django starts
(``step_register``). Claim, heartbeat and record are plain services, so a worker without database access
can later drive them over HTTP.
"""

import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.celery import row_lock
from portal.errors import UNEXPECTED_ERROR, StepFailed
from portal.steps.models import ClaimedStep

logger = logging.getLogger(__name__)

Row = TypeVar("Row", bound=ClaimedStep)
Result = TypeVar("Result")


class ClaimRefused(Enum):
    """Why ``step_claim`` did not take a step."""

    HELD = "another live worker holds it"
    EXHAUSTED = "its attempts are spent"


class Step(Generic[Row, Result]):
    """One kind of background step, as the engine runs it (``step_run``) and the sweeper watches it.

    A subclass names the step, its model and ``statuses`` (the row's statuses while the step waits for a
    worker or runs), and fills in its rules:

    - ``queue(pk)`` sends the step's Celery task for row ``pk``;
    - ``lock(pk, nowait=...)`` locks the row of ``rows()`` (and any row that must be locked before it,
      always in the same order) inside the caller's transaction: None when it is gone, ``RowLocked`` when
      busy and ``nowait``;
    - ``ready(row)`` says, under the lock and before the claim, whether the step may start now (it may queue
      itself again later and say no);
    - ``begin(row)`` moves the locked row into its running status and returns the fields it changed and did
      not save (the engine saves them with the claim);
    - ``work(row, scratch)`` does the work with no lock and no transaction, in a scratch folder that lives
      until the outcome is recorded; it raises ``StepFailed`` with a sentence for a failure its owner may
      read, one of ``retry_on`` for an infrastructure error (the task is retried), anything else is a bug;
    - ``record(row, result)`` and ``fail(row, sentence, note)`` end the step under the lock again (the claim
      is already released in memory): they save the row and queue the next step with
      ``transaction.on_commit``.

    ``afterword`` is added to the sentences the engine writes itself (a step given up). The row's status
    is its ``status`` field, or the one ``status_field`` names (a row with several steps of its own).
    """

    name: ClassVar[str]
    model: ClassVar[type[ClaimedStep]]
    statuses: ClassVar[tuple[str, ...]]
    status_field: ClassVar[str] = "status"
    max_attempts: ClassVar[int] = 3
    retry_on: ClassVar[tuple[type[Exception], ...]] = ()
    unexpected: ClassVar[str] = UNEXPECTED_ERROR
    afterword: ClassVar[str] = "The organizers have been told."

    def queue(self, pk: int) -> None:
        raise NotImplementedError

    def status_of(self, row: Row) -> str:
        return str(getattr(row, self.status_field))

    def in_step(self, row: Row) -> bool:
        """Whether the row is in this step (waiting for a worker or claimed)."""
        return self.status_of(row) in self.statuses

    def rows(self) -> "QuerySet[Any]":
        """The step's rows as ``lock`` reads them (a step whose work reads a related row selects it here)."""
        return self.model.objects.all()

    def lock(self, pk: int, *, nowait: bool) -> Row | None:
        rows = self.rows()
        if nowait:
            return cast("Row | None", row_lock(rows, pk=pk))
        return cast("Row | None", rows.select_for_update(of=("self",)).filter(pk=pk).first())

    def ready(self, row: Row) -> bool:
        return True

    def begin(self, row: Row) -> list[str]:
        return []

    def work(self, row: Row, scratch: Path) -> Result:
        raise NotImplementedError

    def record(self, row: Row, result: Result) -> None:
        raise NotImplementedError

    def fail(self, row: Row, *, sentence: str, note: str) -> None:
        raise NotImplementedError


_STEPS: dict[str, "Step[Any, Any]"] = {}


def step_register(step: "Step[Any, Any]") -> None:
    """Let the engine's sweeper watch ``step`` (registering the same name again replaces it)."""
    _STEPS[step.name] = step


def steps_registered() -> tuple["Step[Any, Any]", ...]:
    """The steps the apps registered."""
    return tuple(_STEPS.values())


def step_run(step: "Step[Row, Result]", *, pk: int) -> bool:
    """Run ``step`` for row ``pk``: claim it, work with a heartbeat, then record the outcome or the failure;
    whether this worker took the step (False when there was nothing to do).

    1. Under the row's lock: nothing happens when the row is gone or not in one of the step's statuses, when
       the step is not ready, or when a live worker holds it (a duplicate message); past its attempts the
       step fails with a sentence. Otherwise ``begin`` and the claim are saved.
    2. ``work`` runs with no lock, while ``step_heartbeat`` shows the worker alive.
    3. Under the lock again, only while this worker still holds the claim (the sweeper may have given the
       step to another): ``record`` its result, or ``fail`` it with the ``StepFailed`` sentence, or with the
       step's ``unexpected`` sentence for any other error, whose traceback goes to the log and which is
       raised again. An error of ``retry_on`` lets the claim go and is raised for the task to retry.
    """
    with transaction.atomic():
        row = step_take(step, pk=pk)
    if row is None:
        return False
    claim = row.claimed_by
    label = f"{step.name} {pk}"
    try:
        step_scratch_sweep()
        with tempfile.TemporaryDirectory(prefix=_scratch_prefix(os.getpid())) as scratch:
            with step_heartbeat(row):
                result = step.work(row, Path(scratch))
            step_end(step, pk=pk, claim=claim, end=partial(step.record, result=result))
    except StepFailed as failed:
        step_end(step, pk=pk, claim=claim, end=partial(step.fail, sentence=failed.sentence, note="Failed."))
    except step.retry_on:
        logger.warning("The %s met an infrastructure error; it will be tried again.", label, exc_info=True)
        step_let_go(row)
        raise
    except Exception:
        logger.exception("The %s failed unexpectedly.", label)
        step_end(
            step,
            pk=pk,
            claim=claim,
            end=partial(step.fail, sentence=step.unexpected, note="Unexpected error."),
        )
        raise
    return True


# Each step works in a scratch folder named after its worker, host and process, so that the folder a killed
# worker left behind (its ``TemporaryDirectory`` never exits) can be told from a live worker's.
SCRATCH_PREFIX = "isles-portal-step-"


def _scratch_prefix(pid: int) -> str:
    return f"{SCRATCH_PREFIX}{socket.gethostname()}-{pid}-"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def step_scratch_sweep(*, folder: Path | None = None) -> list[Path]:
    """Remove the step scratch folders under ``folder`` (the temporary folder by default) that belong to
    processes of this host that have ended: a worker killed in the middle of a step leaves its staged inputs
    and outputs there. The folders removed; a live worker's and other hosts' are left alone."""
    folder = Path(tempfile.gettempdir()) if folder is None else folder
    host_prefix = f"{SCRATCH_PREFIX}{socket.gethostname()}-"
    removed = []
    for scratch in folder.glob(f"{host_prefix}*"):
        pid = scratch.name.removeprefix(host_prefix).split("-", 1)[0]
        if scratch.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
    return removed


def step_take(step: "Step[Row, Any]", *, pk: int, holder: str | None = None) -> Row | None:
    """Claim the step of row ``pk`` inside the caller's transaction, for ``holder`` (this process by
    default, see ``step_claim``): the row claimed and saved, or None when there is nothing to take (gone,
    moved on, not ready, held by a live worker, or given up now that its attempts are spent).
    ``RowLocked`` when another transaction holds the row."""
    row = step.lock(pk, nowait=True)
    if row is None:
        return None
    if not step.in_step(row):
        logger.info("The %s %s is %s; this step has nothing to do.", step.name, pk, step.status_of(row))
        return None
    if not step.ready(row):
        return None
    fields = step.begin(row)
    claim = step_claim(row, max_attempts=step.max_attempts, holder=holder)
    if claim is ClaimRefused.HELD:
        logger.info("The %s %s is held by a live worker; nothing to do.", step.name, pk)
        return None
    if claim is ClaimRefused.EXHAUSTED:
        step_release(row)
        step.fail(
            row,
            sentence=f"The {step.name} was given up after {row.attempt} attempts. {step.unexpected}",
            note="Too many attempts.",
        )
        return None
    row.save(update_fields=[*CLAIM_FIELDS, *fields])
    return row


def step_end(step: "Step[Row, Any]", *, pk: int, claim: str, end: Callable[[Row], None]) -> bool:
    """Lock the row and ``end`` its step, if it is still in the step and held by ``claim``; whether it
    was ended here."""
    with transaction.atomic():
        row = step.lock(pk, nowait=False)
        if row is None or not step.in_step(row):
            logger.info("The %s %s has moved on; its outcome here is not recorded.", step.name, pk)
            return False
        if not step_held_by(row, claim=claim):
            logger.info("The %s %s was taken over by another worker; not recorded here.", step.name, pk)
            return False
        step_release(row)
        end(row)
    return True


def step_give_up(step: "Step[Any, Any]", *, pk: int, sentence: str) -> None:
    """End the step of row ``pk`` with ``sentence`` (the step's ``afterword`` added), whoever holds it,
    if the row is still in the step: the sweeper gives up a step whose workers kept dying."""
    with transaction.atomic():
        row = step.lock(pk, nowait=False)
        if row is None or not step.in_step(row):
            return
        step_release(row)
        step.fail(
            row,
            sentence=f"{sentence} {step.afterword}".strip(),
            note="Given up: its worker stopped answering.",
        )


def _claim_expiry() -> timedelta:
    return timedelta(seconds=settings.STEP_CLAIM_EXPIRY_SECONDS)


def step_is_held(row: ClaimedStep) -> bool:
    """Whether a live worker holds the row's step: a claim whose heartbeat is recent."""
    return (
        bool(row.claimed_by)
        and row.heartbeat_at is not None
        and (row.heartbeat_at >= timezone.now() - _claim_expiry())
    )


def step_claim(row: ClaimedStep, *, max_attempts: int, holder: str | None = None) -> str | ClaimRefused:
    """Take the row's current step for this worker; the caller holds the row's lock and saves it.

    Refused (``ClaimRefused.HELD``) while another live worker holds it, so a duplicate message does
    nothing; refused (``ClaimRefused.EXHAUSTED``) after ``max_attempts`` claims, so a step that kills its
    workers cannot loop for ever: the caller then ends the step with a sentence. Otherwise counts one more
    attempt, writes the claim with its first heartbeat and returns the claim. A claim whose worker stopped
    answering is taken over: that worker is dead, or will find it no longer holds the step. The claim
    names ``holder`` (a remote worker), or this process's host and pid, and ends in a random token.
    """
    if step_is_held(row):
        return ClaimRefused.HELD
    if row.attempt >= max_attempts:
        return ClaimRefused.EXHAUSTED
    row.attempt += 1
    holder = holder or f"{socket.gethostname()} pid {os.getpid()}"
    row.claimed_by = f"{holder} claim {secrets.token_urlsafe(16)}"
    row.heartbeat_at = timezone.now()
    return row.claimed_by


CLAIM_FIELDS = ["attempt", "claimed_by", "heartbeat_at"]
"""The fields ``step_claim``, ``step_release`` and ``step_requeue`` change (for ``update_fields``)."""


def step_held_by(row: ClaimedStep, *, claim: str) -> bool:
    """Whether the locked row's step is still held by ``claim``: a worker records its outcome only then
    (if the sweeper gave its step to another worker meanwhile, that worker records it)."""
    return row.claimed_by == claim


def step_release(row: ClaimedStep) -> None:
    """Clear the claim of the row's step as it ends (the caller holds the lock and saves the row)."""
    row.claimed_by = ""
    row.heartbeat_at = None


def step_let_go(row: ClaimedStep) -> None:
    """Give back the claim this worker holds on the row without ending its step, when its task will be
    retried (an infrastructure error): the retry claims it at once instead of waiting for the claim to
    expire, and if that message is lost the sweeper sends it again."""
    type(row).objects.filter(pk=row.pk, claimed_by=row.claimed_by).update(
        claimed_by="", heartbeat_at=timezone.now()
    )


def step_requeue(row: ClaimedStep) -> None:
    """Make the row's step wait for a worker again, with its attempts counted afresh (an organizer's
    decision); the caller holds the lock, saves the row and sends the task after the commit."""
    row.attempt = 0
    row.claimed_by = ""
    row.heartbeat_at = timezone.now()


@contextmanager
def step_heartbeat(row: ClaimedStep) -> Iterator[None]:
    """Stamp the claimed row's ``heartbeat_at`` every ``STEP_HEARTBEAT_SECONDS`` while the block runs.

    A thread beats for the claim the row holds; it never waits for a lock (a row locked at that moment
    skips one beat) and closes its own database connection when the block ends, however it ends.
    """
    model, pk, claim = type(row), row.pk, row.claimed_by
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.STEP_HEARTBEAT_SECONDS):
                try:
                    with transaction.atomic():
                        free = model.objects.select_for_update(skip_locked=True).filter(
                            pk=pk, claimed_by=claim
                        )
                        model.objects.filter(pk__in=list(free.values_list("pk", flat=True))).update(
                            heartbeat_at=timezone.now()
                        )
                except DatabaseError:
                    logger.warning("The heartbeat of %s %s missed a beat.", model.__name__, pk, exc_info=True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"heartbeat of {model.__name__} {pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did: steps queued again, steps given up, steps whose lost message it sent again."""

    requeued: tuple[str, ...] = ()
    given_up: tuple[str, ...] = ()
    resent: tuple[str, ...] = ()


def steps_sweep() -> SweepReport:
    """Queue again every step whose worker stopped answering, or give it up when its attempts are spent;
    send again a step the sweeper queued that no worker claimed since. Safe to run twice or at once: each
    row is decided under its lock, and rows another transaction holds are left for the next sweep."""
    now = timezone.now()
    requeued: list[str] = []
    given_up: list[str] = []
    resent: list[str] = []
    for step in steps_registered():
        dead = Q(heartbeat_at__lt=now - _claim_expiry()) & ~Q(claimed_by="")
        unclaimed = Q(
            claimed_by="", heartbeat_at__lt=now - timedelta(seconds=settings.STEP_REQUEUE_AFTER_SECONDS)
        )
        stale = step.model.objects.filter(**{f"{step.status_field}__in": step.statuses}).filter(
            dead | unclaimed
        )
        for pk in stale.values_list("pk", flat=True):
            decision = _step_sweep_one(step=step, pk=pk, dead=dead, unclaimed=unclaimed)
            label = f"{step.name} {pk}"
            if decision == "give up":
                step_give_up(
                    step,
                    pk=pk,
                    sentence=(
                        f"The worker running this {step.name} stopped answering {step.max_attempts} times "
                        "(it may have run out of memory or been restarted), so it was given up."
                    ),
                )
                given_up.append(label)
            elif decision == "requeued":
                requeued.append(label)
            elif decision == "resent":
                resent.append(label)
    report = SweepReport(requeued=tuple(requeued), given_up=tuple(given_up), resent=tuple(resent))
    if requeued or given_up or resent:
        logger.warning("Step sweep: queued again %s; given up %s; sent again %s.", requeued, given_up, resent)
    return report


def _step_sweep_one(*, step: "Step[Any, Any]", pk: int, dead: Q, unclaimed: Q) -> str | None:
    """Decide one stale row under its lock: "give up", "requeued", "resent", or None (it moved on)."""
    with transaction.atomic():
        row = (
            step.model.objects.select_for_update(skip_locked=True)
            .filter(dead | unclaimed, pk=pk, **{f"{step.status_field}__in": step.statuses})
            .first()
        )
        if row is None:
            return None
        if row.claimed_by and row.attempt >= step.max_attempts:
            return "give up"
        decision = "requeued" if row.claimed_by else "resent"
        row.claimed_by = ""
        row.heartbeat_at = timezone.now()
        row.save(update_fields=["claimed_by", "heartbeat_at"])
        transaction.on_commit(partial(step.queue, pk))
    return decision
