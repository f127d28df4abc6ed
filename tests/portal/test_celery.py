"""The two queues: a task reaches exactly the queue its decorator names, and only that one."""

import threading

import pytest
import redis
from django.db import connection, transaction

from portal.celery import RowLocked, app, cpu_task, gpu_task, row_lock
from portal.challenges.models import Challenge
from tests.portal.challenges.factories import ChallengeFactory


@gpu_task()
def _gpu_probe_task(*, value: int) -> int:
    return value


@cpu_task()
def _cpu_probe_task(*, value: int) -> int:
    return value


@pytest.mark.parametrize(("task", "queue"), [(_gpu_probe_task, "gpu"), (_cpu_probe_task, "cpu")])
def test_a_task_is_routed_to_the_queue_its_decorator_declares(task: object, queue: str) -> None:
    route = app.amqp.router.route({}, task.name, args=(), kwargs={}, task_type=task)

    assert route["queue"].name == queue
    assert route["queue"].routing_key == queue


def test_a_message_sent_to_the_gpu_queue_lands_in_the_gpu_queue_only(celery_broker: str) -> None:
    client = redis.Redis.from_url(celery_broker)
    client.delete("cpu", "gpu")

    _gpu_probe_task.delay(value=1)

    assert (client.llen("gpu"), client.llen("cpu")) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_row_lock_raises_row_locked_while_another_transaction_holds_the_row(postgresql: None) -> None:
    challenge = ChallengeFactory()
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            Challenge.objects.select_for_update().get(pk=challenge.pk)
            locked.set()
            release.wait(timeout=10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with pytest.raises(RowLocked, match=f"Challenge {challenge.pk} is locked"), transaction.atomic():
            row_lock(Challenge.objects.all(), pk=challenge.pk)
    finally:
        release.set()
        holder.join(timeout=10)
    with transaction.atomic():
        assert row_lock(Challenge.objects.all(), pk=challenge.pk) == challenge


@pytest.mark.django_db
def test_row_lock_of_a_deleted_row_is_none() -> None:
    with transaction.atomic():
        assert row_lock(Challenge.objects.all(), pk=987654) is None
