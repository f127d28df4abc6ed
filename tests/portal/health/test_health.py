"""The health check: /health/ and ``manage.py check_services`` report each service the portal needs."""

import json
import socket
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from tests.conftest import ObjectStore

pytestmark = pytest.mark.django_db


@pytest.fixture
def filesystem_broker(settings: Settings, tmp_path: Path) -> None:
    """The local demo's broker: a folder."""
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "processed_folder": str(tmp_path / "processed"),
        "store_processed": False,
    }


@pytest.fixture
def closed_port() -> int:
    """A local TCP port on which nothing listens."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def health(client: Client) -> tuple[int, dict[str, object], dict[str, dict[str, object]]]:
    """GET /health/; return the HTTP status, the body and the services by name."""
    response = client.get(reverse("health:health"))
    body = json.loads(response.content)
    return response.status_code, body, {service["name"]: service for service in body["services"]}


def test_health_is_ok_on_the_local_defaults(client: Client, filesystem_broker: None) -> None:
    status_code, body, services = health(client)

    assert status_code == 200
    assert body["status"] == "ok"
    assert list(services) == ["database", "broker", "media storage", "private storage", "docker"]
    assert all(services[name]["ok"] is True for name in list(services)[:4])
    assert services["broker"]["detail"] == "filesystem broker answers"


def test_health_is_degraded_with_503_when_the_broker_does_not_answer(
    client: Client, settings: Settings, closed_port: int
) -> None:
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{closed_port}/0"

    status_code, body, services = health(client)

    assert status_code == 503
    assert body["status"] == "degraded"
    assert services["broker"] == {"name": "broker", "ok": False, "detail": "redis broker does not answer"}
    assert services["database"]["ok"] is True


def test_health_shows_anonymous_users_no_paths_hosts_or_passwords(
    client: Client, settings: Settings, closed_port: int
) -> None:
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{closed_port}/0"

    content = client.get(reverse("health:health")).content.decode()

    for secret in ("hunter2", str(closed_port), str(settings.PRIVATE_STORAGE_ROOT), str(settings.MEDIA_ROOT)):
        assert secret not in content


def test_health_is_degraded_when_private_storage_is_not_writable(
    client: Client, settings: Settings, filesystem_broker: None, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    private = settings.STORAGES["private"]
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {**private, "OPTIONS": {**private["OPTIONS"], "location": blocker / "private"}},
    }

    status_code, _, services = health(client)

    assert status_code == 503
    assert services["private storage"] == {"name": "private storage", "ok": False, "detail": "not writable"}
    assert services["media storage"]["ok"] is True


@pytest.mark.integration
def test_health_writes_to_the_object_store_of_storage_url(
    client: Client, settings: Settings, filesystem_broker: None, object_store: ObjectStore
) -> None:
    status_code, _, services = health(client)

    assert status_code == 200
    assert services["private storage"] == {"name": "private storage", "ok": True, "detail": "writable"}
    assert services["media storage"]["ok"] is True
    assert object_store.object_keys() == set()  # what it wrote, it removed

    object_store.client.delete_bucket(Bucket=object_store.bucket)
    status_code, _, services = health(client)

    assert status_code == 503
    assert services["private storage"] == {"name": "private storage", "ok": False, "detail": "not writable"}
    assert object_store.bucket not in json.dumps(services)


def test_health_stays_ok_without_a_docker_engine(
    client: Client, settings: Settings, filesystem_broker: None, tmp_path: Path
) -> None:
    settings.DOCKER_HOST = f"unix://{tmp_path / 'no-docker.sock'}"

    status_code, _, services = health(client)

    assert status_code == 200
    assert services["docker"] == {"name": "docker", "ok": None, "detail": "not configured: no engine answers"}


@pytest.mark.integration
def test_health_sees_the_docker_engine(
    client: Client, docker_client: object, filesystem_broker: None
) -> None:
    _, _, services = health(client)

    assert services["docker"] == {"name": "docker", "ok": True, "detail": "engine answers"}


@pytest.mark.integration
def test_health_is_ok_with_a_redis_broker(client: Client, settings: Settings, redis_url: str) -> None:
    settings.CELERY_BROKER_URL = redis_url

    status_code, _, services = health(client)

    assert status_code == 200
    assert services["broker"] == {"name": "broker", "ok": True, "detail": "redis broker answers"}


@pytest.mark.integration
def test_health_is_ok_on_postgresql(client: Client, postgresql: None, filesystem_broker: None) -> None:
    status_code, _, services = health(client)

    assert status_code == 200
    assert services["database"] == {"name": "database", "ok": True, "detail": "postgresql answers"}


def test_check_services_prints_one_line_per_service(
    capsys: pytest.CaptureFixture[str], filesystem_broker: None
) -> None:
    call_command("check_services")

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "database",
        "broker",
        "media storage",
        "private storage",
        "docker",
    ]
    assert "broker: ok (filesystem broker answers)" in lines


def test_check_services_fails_when_a_required_service_is_down(
    capsys: pytest.CaptureFixture[str], settings: Settings, closed_port: int
) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"

    with pytest.raises(CommandError, match="Required services are down: broker"):
        call_command("check_services")

    assert "broker: FAILED (redis broker does not answer)" in capsys.readouterr().out
