"""Fixtures shared by the whole suite: access to the real services, skipped locally when absent, and a
small synthetic ISLES'24 release.

With ``REQUIRE_SERVICES=1`` (CI sets it), a test whose service is missing fails instead of skipping, so a
green CI run means PostgreSQL, Redis, a Celery worker, Docker, Chromium and an S3-compatible server (moto's,
which the tests start on loopback) were really exercised.
"""

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from releases.synthetic import write_release

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
RELEASE_CASES = 3
RELEASE_SEED = 24
REDIS_URL = os.environ.get("ISLES_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
S3_REGION = "us-east-1"


def service_unavailable(reason: str) -> None:
    """Fail under REQUIRE_SERVICES=1, skip otherwise."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _cache_emptied() -> None:
    """Each test starts with an empty cache: rate limits counted there (django-allauth's one confirmation
    e-mail per address per few minutes, the API's throttles) would otherwise carry over from an earlier
    test that used the same address or client."""
    cache.clear()


@pytest.fixture
def postgresql(db: None) -> None:
    """Require that the test database is PostgreSQL (set DATABASE_URL=postgres://...)."""
    if connection.vendor != "postgresql":
        service_unavailable(f"needs PostgreSQL; the test database is {connection.vendor} (set DATABASE_URL)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL that answers PING (database 15, flushed before use)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        service_unavailable(f"needs Redis at {REDIS_URL}: {error}")
    client.flushdb()
    return REDIS_URL


@pytest.fixture
def celery_broker(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Send tasks to the test Redis broker (database 15) instead of running them in this process."""
    from portal.celery import app

    assert app.conf.broker_url == redis_url, "tests/settings.py sends tasks to ISLES_TEST_REDIS_URL"
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    return redis_url


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    """A client of the local Docker engine. The cases' input volumes that jobs run meanwhile kept on it
    (``ISLES_CONTAINER_IO=volumes``) are removed at the end, with their holders."""
    import docker

    from tests.inference.images import engine_input_volumes

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except docker.errors.DockerException as error:
        service_unavailable(f"needs a Docker engine: {error}")
    with engine_input_volumes(client):
        yield client
    client.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of an S3-compatible server on loopback (moto's), stopped at the end of the session."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        service_unavailable(f"needs moto[server] for an S3-compatible server ({error})")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class ObjectStore:
    """The bucket the portal's media and private storages are in, for a test."""

    client: Any
    """A boto3 S3 client of the store, for looking at the bucket from outside the portal."""
    bucket: str

    def object_keys(self) -> set[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket)
        return {item["Key"] for item in listing.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())


@pytest.fixture
def object_store(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """A fresh bucket, and the portal's media and private storages in it, as ``STORAGE_URL`` sets them
    (under ``media/`` and ``private/``), for one test: rows the test makes after this store their files
    there. The ``settings`` fixture restores the storages afterwards."""
    import boto3

    from portal.settings import object_storages

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "isles-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "isles-test-secret")
    bucket = f"isles-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=S3_REGION)
    client.create_bucket(Bucket=bucket)
    storage_url = f"s3://{bucket}?endpoint_url={s3_endpoint}&region_name={S3_REGION}&addressing_style=path"
    settings.STORAGES = {**settings.STORAGES, **object_storages(storage_url)}
    return ObjectStore(client=client, bucket=bucket)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The path of Debian's Chromium, which Playwright drives (no browser download here)."""
    if shutil.which(CHROMIUM_PATH) is None:
        service_unavailable(f"needs Chromium at {CHROMIUM_PATH} (apt-get install chromium)")
    return CHROMIUM_PATH


@pytest.fixture(scope="session")
def pristine_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A 3-case small release (one mask per official encoding) and its case names; never modify it."""
    root = tmp_path_factory.mktemp("pristine") / "isles24"
    names = write_release(root, cases=RELEASE_CASES, seed=RELEASE_SEED, size="small")
    return root, names


@pytest.fixture
def release(pristine_release: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """A copy of the small release that a test may change (delete, truncate or replace files)."""
    root = tmp_path / "isles24"
    shutil.copytree(pristine_release[0], root)
    return root


@pytest.fixture
def case_names(pristine_release: tuple[Path, list[str]]) -> list[str]:
    return pristine_release[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of tests/integration ``integration`` and of tests/e2e ``e2e`` by where it lives, so
    ``-m "not integration and not e2e"`` gives the quick unit run; ``make test`` and CI run them all."""
    root = Path(__file__).parent
    for item in items:
        folder = Path(item.path).relative_to(root).parts[0]
        if folder in ("integration", "e2e"):
            item.add_marker(folder)
