"""Checks of the services the portal depends on: the database, the Celery broker, storage, Docker.

Each check returns a ``ServiceStatus`` whose detail is short and safe to show anyone: no URLs, hosts,
paths or error messages (those go to the log). The Docker engine is optional, since only GPU workers run
containers: when none answers its status is ``ok=None`` and the portal is still healthy.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import docker
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import DatabaseError, connection
from kombu import Connection
from kombu.exceptions import KombuError

from portal.storage import private_storage

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 3
DOCKER_TIMEOUT_S = 3


@dataclass(frozen=True)
class ServiceStatus:
    """The state of one service: ``ok`` is True, False, or None for an optional one that is absent."""

    name: str
    ok: bool | None
    detail: str


def _database_status() -> ServiceStatus:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("Health check: the database does not answer: %s", error)
        return ServiceStatus(name="database", ok=False, detail="does not answer")
    return ServiceStatus(name="database", ok=True, detail=f"{connection.vendor} answers")


def _broker_status() -> ServiceStatus:
    # Built from the settings on every call (not from the Celery app, which reads them once), with one
    # immediate retry and a timeout, so a broker that is down is reported at once instead of blocking.
    broker_url: str = settings.CELERY_BROKER_URL
    transport = broker_url.split("://", 1)[0]
    try:
        with Connection(
            broker_url,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=BROKER_TIMEOUT_S,
        ) as broker:
            broker.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_S
            )
    except (KombuError, OSError) as error:
        logger.warning("Health check: the Celery broker (%s) does not answer: %s", transport, error)
        return ServiceStatus(name="broker", ok=False, detail=f"{transport} broker does not answer")
    return ServiceStatus(name="broker", ok=True, detail=f"{transport} broker answers")


def _storage_status(*, name: str, storage: Storage) -> ServiceStatus:
    """Whether a file can be written to the storage (its folder, or its bucket) and removed again."""
    try:
        written = storage.save(f".health/{uuid.uuid4().hex}", ContentFile(b""))
        storage.delete(written)
    except (OSError, BotoCoreError, ClientError) as error:
        logger.warning("Health check: %s is not writable: %s", name, error)
        return ServiceStatus(name=name, ok=False, detail="not writable")
    return ServiceStatus(name=name, ok=True, detail="writable")


def _docker_status() -> ServiceStatus:
    try:
        if settings.DOCKER_HOST:
            client = docker.DockerClient(base_url=settings.DOCKER_HOST, timeout=DOCKER_TIMEOUT_S)
        else:
            client = docker.from_env(timeout=DOCKER_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except docker.errors.DockerException as error:
        logger.info("Health check: no Docker engine answers: %s", error)
        return ServiceStatus(name="docker", ok=None, detail="not configured: no engine answers")
    return ServiceStatus(name="docker", ok=True, detail="engine answers")


def services_check() -> list[ServiceStatus]:
    """Check every service now, in a fixed order; nothing is cached, and nothing is raised."""
    return [
        _database_status(),
        _broker_status(),
        _storage_status(name="media storage", storage=storages["default"]),
        _storage_status(name="private storage", storage=private_storage()),
        _docker_status(),
    ]


def services_healthy(*, statuses: Sequence[ServiceStatus]) -> bool:
    """Whether every required service is up (an optional one that is absent does not count)."""
    return all(status.ok is not False for status in statuses)
