"""The Celery app and the two task decorators every task uses.

There are two queues: ``cpu`` (checks, imports, evaluation) and ``gpu`` (algorithm containers; each GPU
worker consumes it with concurrency 1 and prefetch 1, pinned to one device). Tasks ack late and are
rejected when their worker is lost, so a message is delivered again after a crash: every task must be
safe to run twice. Tasks take ids as keywords, never model instances.
"""

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from celery import Celery
from django.db import DatabaseError
from kombu import Exchange, Queue

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue has its own exchange: bound to one shared exchange and key, a task sent to ``cpu`` would be
# copied into ``gpu`` as well and run twice.
app.conf.task_queues = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("cpu", "gpu"))
app.conf.task_default_queue = "cpu"


def _route_to_declared_queue(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any
) -> dict[str, str] | None:
    """Send a task to the queue its decorator declared (Celery 6 drops the ``queue`` task attribute)."""
    queue = getattr(task, "portal_queue", None)
    return None if queue is None else {"queue": queue}


app.conf.task_routes = (_route_to_declared_queue,)
app.conf.task_acks_late = True
app.conf.task_reject_on_worker_lost = True
app.conf.worker_prefetch_multiplier = 1
app.conf.task_ignore_result = True
app.conf.broker_connection_retry_on_startup = True
app.autodiscover_tasks()

TaskFunction = TypeVar("TaskFunction", bound=Callable[..., Any])


class RowLocked(Exception):
    """The row a task needs is locked by another transaction; the task retries later."""


logger = logging.getLogger(__name__)
RowModel = TypeVar("RowModel", bound="Model")


def row_lock(rows: "QuerySet[RowModel]", *, pk: int) -> RowModel | None:
    """Row ``pk`` of ``rows``, locked for the current transaction without waiting for another one.

    None when the row no longer exists (a task for a deleted row has nothing to do); ``RowLocked`` when
    another transaction holds it, so the task that asked retries later.
    """
    label = str(rows.model._meta.verbose_name).capitalize()
    try:
        return rows.select_for_update(nowait=True, of=("self",)).get(pk=pk)
    except rows.model.DoesNotExist:
        logger.info("%s %s no longer exists; nothing to do.", label, pk)
        return None
    except DatabaseError as error:
        raise RowLocked(f"{label} {pk} is locked by another transaction.") from error


def _task(
    *, queue: str, retry_on: tuple[type[Exception], ...], max_retries: int
) -> Callable[[TaskFunction], Any]:
    def decorate(function: TaskFunction) -> Any:
        return app.task(
            portal_queue=queue,
            acks_late=True,
            reject_on_worker_lost=True,
            autoretry_for=(RowLocked, *retry_on),
            retry_backoff=True,
            retry_backoff_max=120,
            max_retries=max_retries,
        )(function)

    return decorate


def cpu_task(
    *, retry_on: tuple[type[Exception], ...] = (), max_retries: int = 5
) -> Callable[[TaskFunction], Any]:
    """Declare a task on the ``cpu`` queue that acks late and retries on ``RowLocked`` and ``retry_on``."""
    return _task(queue="cpu", retry_on=retry_on, max_retries=max_retries)


def gpu_task(
    *, retry_on: tuple[type[Exception], ...] = (), max_retries: int = 3
) -> Callable[[TaskFunction], Any]:
    """Declare a task on the ``gpu`` queue that acks late and retries on ``RowLocked`` and ``retry_on``."""
    return _task(queue="gpu", retry_on=retry_on, max_retries=max_retries)
