"""The deployment files agree with the code: every setting is documented, the compose file is complete."""

import re
import subprocess
from pathlib import Path

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


def test_compose_runs_web_both_workers_beat_and_their_services_from_env() -> None:
    compose = yaml.safe_load((REPOSITORY / "docker" / "compose.yml").read_text())
    services = compose["services"]

    assert set(services) == {"postgres", "redis", "web", "worker-cpu", "worker-gpu", "beat"}
    for name in ("web", "worker-cpu", "worker-gpu", "beat"):
        assert services[name]["command"] == [name]
        assert services[name]["env_file"] == "../.env"


def test_compose_pins_the_gpu_worker_to_one_device_and_gives_it_the_engine() -> None:
    worker = yaml.safe_load((REPOSITORY / "docker" / "compose.yml").read_text())["services"]["worker-gpu"]

    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["device_ids"] == ["${ISLES_GPU_DEVICE:-0}"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in worker["volumes"]


def test_entrypoint_is_valid_sh_and_refuses_a_gpu_worker_without_a_device() -> None:
    entrypoint = REPOSITORY / "docker" / "entrypoint"
    subprocess.run(["sh", "-n", str(entrypoint)], check=True)

    result = subprocess.run(
        ["sh", str(entrypoint), "worker-gpu"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )

    assert result.returncode != 0
    assert "Set ISLES_GPU_DEVICE" in result.stderr
