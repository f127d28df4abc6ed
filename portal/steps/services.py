"""The one engine of the portal's background steps: claim a step, show signs of life, record it only while
holding it, and sweep the steps whose worker died.

A background step (a submission's check or evaluation, an algorithm's job on one case, a dataset import)
belongs to a row whose model inherits ``ClaimedStep``; the row's status says which step it is in. Its
Celery task:

1. claims the step inside the row's lock (``step_claim``): refused when another live worker holds it (a
   duplicate message) or when its attempts are spent, otherwise it counts one more attempt and writes the
   claim (worker host, process and a token) with a first heartbeat;
2. works with no lock and no transaction, while ``step_heartbeat`` stamps ``heartbeat_at`` from a thread;
3. records its outcome under the lock again only if it still holds the claim (``step_held_by``),
   releasing it (``step_release``), and queues the next step after the commit.

The database, not the broker, is the record of work: Celery's filesystem broker drops a message whose
worker is killed, Redis gives one back only after its visibility timeout (hours), and a worker can die in
the middle of a step. ``steps_sweep`` (Celery beat, every ``STEP_SWEEP_SECONDS``) finds claims whose last
heartbeat is older than ``STEP_CLAIM_EXPIRY_SECONDS`` and queues their steps again, up to the kind's
attempts, then gives them up with a sentence; a step it queued that no worker claimed within
``STEP_REQUEUE_AFTER_SECONDS`` is queued once more, in case that message was lost too. Every step is safe
to run twice, so a duplicate message changes nothing. Each app registers its kinds of step when Django
starts (``step_kind_register``).
"""

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from portal.steps.models import ClaimedStep

logger = logging.getLogger(__name__)


class ClaimRefused(Enum):
    """Why ``step_claim`` did not take a step."""

    HELD = "another live worker holds it"
    EXHAUSTED = "its attempts are spent"


@dataclass(frozen=True)
class StepKind:
    """One kind of background step, as the sweeper needs to know it.

    ``statuses`` are the row's statuses while it is in the step (waiting for a worker or claimed);
    ``task`` is the step's Celery task, which takes the row's id as its keyword ``task_argument``;
    ``give_up`` ends the row's step with a sentence (the row is in one of ``statuses`` and its claim
    expired).
    """

    name: str
    model: type[ClaimedStep]
    statuses: tuple[str, ...]
    task: Any
    task_argument: str
    give_up: Callable[[int, str], None]
    max_attempts: int

    def queue(self, pk: int) -> None:
        """Send the step's task for row ``pk``."""
        self.task.delay(**{self.task_argument: pk})


_KINDS: dict[str, StepKind] = {}


def step_kind_register(kind: StepKind) -> None:
    """Let the sweeper watch ``kind`` (registering the same name again replaces it)."""
    _KINDS[kind.name] = kind


def step_kinds() -> tuple[StepKind, ...]:
    """The kinds of step the apps registered."""
    return tuple(_KINDS.values())


def _claim_expiry() -> timedelta:
    return timedelta(seconds=settings.STEP_CLAIM_EXPIRY_SECONDS)


def step_is_held(row: ClaimedStep) -> bool:
    """Whether a live worker holds the row's step: a claim whose heartbeat is recent."""
    return (
        bool(row.claimed_by)
        and row.heartbeat_at is not None
        and (row.heartbeat_at >= timezone.now() - _claim_expiry())
    )


def step_claim(row: ClaimedStep, *, max_attempts: int) -> str | ClaimRefused:
    """Take the row's current step for this worker; the caller holds the row's lock and saves it.

    Refused (``ClaimRefused.HELD``) while another live worker holds it, so a duplicate message does
    nothing; refused (``ClaimRefused.EXHAUSTED``) after ``max_attempts`` claims, so a step that kills its
    workers cannot loop for ever: the caller then ends the step with a sentence. Otherwise counts one more
    attempt, writes the claim with its first heartbeat and returns the claim. A claim whose worker stopped
    answering is taken over: that worker is dead, or will find it no longer holds the step.
    """
    if step_is_held(row):
        return ClaimRefused.HELD
    if row.attempt >= max_attempts:
        return ClaimRefused.EXHAUSTED
    row.attempt += 1
    row.claimed_by = f"{socket.gethostname()} pid {os.getpid()} claim {secrets.token_hex(6)}"
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
    for kind in step_kinds():
        dead = Q(heartbeat_at__lt=now - _claim_expiry()) & ~Q(claimed_by="")
        unclaimed = Q(
            claimed_by="", heartbeat_at__lt=now - timedelta(seconds=settings.STEP_REQUEUE_AFTER_SECONDS)
        )
        stale = kind.model.objects.filter(status__in=kind.statuses).filter(dead | unclaimed)
        for pk in stale.values_list("pk", flat=True):
            decision = _step_sweep_one(kind=kind, pk=pk, dead=dead, unclaimed=unclaimed)
            label = f"{kind.name} {pk}"
            if decision == "give up":
                kind.give_up(
                    pk,
                    f"The worker running this {kind.name} stopped answering {kind.max_attempts} times (it "
                    "may have run out of memory or been restarted), so it was given up.",
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


def _step_sweep_one(*, kind: StepKind, pk: int, dead: Q, unclaimed: Q) -> str | None:
    """Decide one stale row under its lock: "give up", "requeued", "resent", or None (it moved on)."""
    with transaction.atomic():
        row = (
            kind.model.objects.select_for_update(skip_locked=True)
            .filter(dead | unclaimed, pk=pk, status__in=kind.statuses)
            .first()
        )
        if row is None:
            return None
        if row.claimed_by and row.attempt >= kind.max_attempts:
            return "give up"
        decision = "requeued" if row.claimed_by else "resent"
        row.claimed_by = ""
        row.heartbeat_at = timezone.now()
        row.save(update_fields=["claimed_by", "heartbeat_at"])
        transaction.on_commit(partial(kind.queue, pk))
    return decision
