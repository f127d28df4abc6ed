"""The deployment files agree with the code: every setting is documented, the compose file is complete."""

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[3]
SETTING_READ = re.compile(r"""(?:environ\.get\(|environ\[|env_bool\(|env_list\()\s*["']([A-Z0-9_]+)["']""")


def documented_names() -> set[str]:
    lines = (REPOSITORY / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}


def test_env_example_documents_every_setting_the_portal_reads() -> None:
    read = set(SETTING_READ.findall((REPOSITORY / "portal" / "settings.py").read_text()))

    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "PRIVATE_STORAGE_ROOT"} <= read
    assert read - documented_names() == set()


def test_env_example_holds_no_real_secret() -> None:
    values = dict(
        line.split("=", 1) for line in (REPOSITORY / ".env.example").read_text().splitlines() if "=" in line
    )

    assert values["SECRET_KEY"] == "change-me"
    assert values["DJANGO_DEBUG"] == "0"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPOSITORY / "docker" / "compose.yml").read_text()))


def portal_services() -> dict[str, dict[str, Any]]:
    """The services that run the portal's image."""
    services = compose()["services"]
    return {name: service for name, service in services.items() if "ISLES_PORTAL_IMAGE" in service["image"]}


def entrypoint_roles() -> set[str]:
    """The roles docker/entrypoint knows: the arms of its case statement, but the catch-all."""
    return set(re.findall(r"^([a-z][a-z-]*)\)$", (REPOSITORY / "docker" / "entrypoint").read_text(), re.M))


def test_compose_runs_web_both_workers_beat_the_object_store_and_their_services_from_env() -> None:
    services = compose()["services"]

    assert set(services) == {
        "postgres",
        "redis",
        "minio",
        "minio-bucket",
        "web",
        "worker-cpu",
        "worker-gpu",
        "beat",
    }
    assert set(portal_services()) == {"web", "worker-cpu", "worker-gpu", "beat"}
    for name, service in portal_services().items():
        assert service["command"] == [name]
        assert service["env_file"] == "../.env"
        assert service["depends_on"]["minio-bucket"] == {"condition": "service_completed_successfully"}
    assert services["minio-bucket"]["depends_on"]["minio"] == {"condition": "service_healthy"}
    assert "mc mb --ignore-existing" in services["minio-bucket"]["command"][0]


def test_every_portal_service_of_compose_runs_a_role_the_entrypoint_knows() -> None:
    roles = entrypoint_roles()

    assert {"web", "worker-cpu", "worker-gpu", "beat", "check"} <= roles
    for name, service in portal_services().items():
        assert service["command"][0] in roles, name


def test_env_example_documents_every_variable_compose_and_the_entrypoint_read() -> None:
    compose_text = (REPOSITORY / "docker" / "compose.yml").read_text()
    # ${NAME...} is compose's (read from .env); $$NAME is the container's own shell's and not a setting.
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", compose_text))
    containers_read = set(re.findall(r"\$\$\{?([A-Z][A-Z0-9_]*)", compose_text))
    set_by_compose = {
        variable for service in compose()["services"].values() for variable in service.get("environment", {})
    }
    entrypoint = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (REPOSITORY / "docker" / "entrypoint").read_text()))

    assert {"ISLES_PORTAL_IMAGE", "AWS_ACCESS_KEY_ID", "ISLES_GPU_DEVICE"} <= interpolated
    assert {"STORAGE_URL", "GUNICORN_BIND"} <= containers_read | entrypoint
    # The minio image reads its own variables, which compose sets from documented ones.
    minio_own = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    read = interpolated | containers_read | entrypoint | set_by_compose
    assert read - minio_own - documented_names() == set()


def test_compose_mounts_only_the_named_volumes_it_declares_and_declares_none_unused() -> None:
    declared = set(compose()["volumes"])
    mounted = {
        volume.split(":", 1)[0]
        for service in compose()["services"].values()
        for volume in service.get("volumes", [])
        if not volume.startswith(("/", "."))
    }

    assert mounted == declared


def test_compose_pins_the_gpu_worker_to_one_device_and_gives_it_the_engine_through_volumes() -> None:
    worker = compose()["services"]["worker-gpu"]

    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["device_ids"] == ["${ISLES_GPU_DEVICE:-0}"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in worker["volumes"]
    # The host's engine cannot see the worker's folders: jobs' files go through volumes.
    assert worker["environment"]["ISLES_CONTAINER_IO"] == "volumes"


def test_entrypoint_is_valid_sh_and_refuses_a_gpu_worker_without_a_device() -> None:
    entrypoint = REPOSITORY / "docker" / "entrypoint"
    subprocess.run(["sh", "-n", str(entrypoint)], check=True)

    result = subprocess.run(
        ["sh", str(entrypoint), "worker-gpu"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )

    assert result.returncode != 0
    assert "Set ISLES_GPU_DEVICE" in result.stderr
