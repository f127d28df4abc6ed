"""What the portal writes under VAR_DIR is its own user's alone: the database and its journal, the secret key,
the broker's folder, the demo's logs, everything in private storage and the demo's hidden data. Only public
media stay readable by others (a web server of another user may serve them)."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from pytest_django.fixtures import Settings

from portal.challenges.models import Split
from portal.demo.services import demo_release_write
from portal.storage import private_storage

REPOSITORY = Path(__file__).resolve().parents[2]
OTHERS = stat.S_IRWXG | stat.S_IRWXO

# A fresh VAR_DIR as `make demo` starts one: the database (in the middle of a write, so its journal is
# there), the key, the broker's folders, and a log opened as the demo command opens its own.
FRESH_VAR_DIR = """
import json, os
from pathlib import Path
from django.conf import settings
from django.db import connection, transaction
var = Path(settings.VAR_DIR)
(var / "logs").mkdir(exist_ok=True)
open(var / "logs" / "worker.log", "ab").close()
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE reading (value INTEGER)")
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute("INSERT INTO reading VALUES (1)")
    modes = {str(path.relative_to(var)): path.stat().st_mode for path in var.rglob("*")}
print(json.dumps(modes))
"""


def open_to_others(root: Path) -> list[str]:
    """The files and folders under ``root`` (itself included) that another user could read or enter."""
    paths = [root, *root.rglob("*")]
    return [f"{path} {stat.filemode(path.stat().st_mode)}" for path in paths if path.stat().st_mode & OTHERS]


def test_a_fresh_var_dir_keeps_the_database_its_journal_the_key_the_broker_and_logs_to_the_owner(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "PRIVATE_STORAGE_ROOT", "STATIC_ROOT"):
        env.pop(name, None)

    shell = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", FRESH_VAR_DIR],
        cwd=REPOSITORY,
        env=env,
        umask=0o022,  # the usual umask of a login shell: the portal sets its own
        capture_output=True,
        text=True,
        check=True,
    )
    modes = json.loads(shell.stdout)

    assert {
        "portal.sqlite3",
        "portal.sqlite3-journal",
        "secret_key",
        "broker/queue",
        "logs/worker.log",
    } <= set(modes)
    assert {name: stat.filemode(mode) for name, mode in modes.items() if mode & OTHERS} == {}


def relocated(storage: dict[str, Any], location: Path) -> dict[str, Any]:
    """The portal's configuration of a storage, with its files under ``location``."""
    return {**storage, "OPTIONS": {**storage["OPTIONS"], "location": location}}


def test_private_storage_keeps_what_it_stores_and_its_folders_to_the_owner(
    settings: Settings, tmp_path: Path
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "private": relocated(settings.STORAGES["private"], tmp_path / "private"),
        "default": relocated(settings.STORAGES["default"], tmp_path / "media"),
    }

    name = private_storage().save("datasets/7/ground-truth/sub-stroke0001.nii.gz", ContentFile(b"lesion"))
    public = storages["default"].save("teams/logo.png", ContentFile(b"logo"))

    assert open_to_others(tmp_path / "private") == []
    assert Path(private_storage().path(name)).read_bytes() == b"lesion"
    assert stat.S_IMODE(Path(storages["default"].path(public)).stat().st_mode) == 0o644


def test_the_demo_writes_its_hidden_test_release_owner_only(tmp_path: Path) -> None:
    release = demo_release_write(
        data_dir=tmp_path / "demo-data", split=Split.TEST, cases=1, seed=3, first_subject=201
    )

    assert any(path.name.endswith("_lesion-msk.nii.gz") for path in release.rglob("*"))
    assert open_to_others(tmp_path / "demo-data") == []
