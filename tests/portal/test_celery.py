"""The two queues: a task reaches exactly the queue its decorator names, and only that one."""

import pytest
import redis

from portal.celery import app, cpu_task, gpu_task


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
