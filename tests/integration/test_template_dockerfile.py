"""A Dockerfile written as the official ISLES'24 template writes it (for ``pytorch/pytorch``: a ``useradd -r``
user, ``WORKDIR /opt/app``, ``python -m pip install --user --requirement requirements.txt``, ``ENTRYPOINT
["python", "inference.py"]``) builds on the offline base with only its ``FROM`` changed, and runs in the
portal's sandbox: ``python`` starts, and the package pip installed for the image's user imports, with a
read-only root, no network and the user the image names.

The package is a small pure-Python wheel made here, depending on NumPy (which Debian's package satisfies,
so pip must see the image's own packages), installed from a wheelhouse in the build context
(``resources/wheels``, named by ``--find-links`` in requirements.txt): the build needs no network, as
the README's section on the reference algorithms says. An engine whose ``isles-base:bookworm`` predates pip
in the base gets it rebuilt first (about a minute).
"""

import base64
import hashlib
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from inference.sandbox import SandboxLimits, container_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "isles-base:bookworm"
IMAGE_TAG = "isles-template-dockerfile:test"

# The template's Dockerfile, its base excepted (it reads `FROM --platform=linux/amd64 pytorch/pytorch`).
DOCKERFILE = f"""\
FROM {BASE_IMAGE}

ENV PYTHONUNBUFFERED 1

RUN groupadd -r user && useradd -m --no-log-init -r -g user user
USER user

WORKDIR /opt/app

COPY --chown=user:user requirements.txt /opt/app/
COPY --chown=user:user resources /opt/app/resources

RUN python -m pip install \\
    --user \\
    --no-cache-dir \\
    --no-color \\
    --requirement /opt/app/requirements.txt

COPY --chown=user:user inference.py /opt/app/

ENTRYPOINT ["python", "inference.py"]
"""

# The wheelhouse: pip reads find-links relative to the requirements file.
REQUIREMENTS = """\
--no-index
--find-links resources/wheels
isles-template-probe==1.0
"""

INFERENCE = """\
import os
import pathlib
import sys

import isles_template_probe

try:
    pathlib.Path("/opt/app/written").write_text("x")
    root = "writable root"
except OSError:
    root = "read-only root"
print(
    f"{isles_template_probe.greeting()} from {isles_template_probe.__file__};"
    f" {pathlib.Path(sys.executable).name} {sys.version_info.major}.{sys.version_info.minor},"
    f" uid {os.getuid()}, {root}"
)
"""

PROBE_MODULE = """\
import numpy


def greeting():
    return f"probe imported with numpy {numpy.__version__}"
"""


def _wheel_write(folder: Path) -> Path:
    """A pure-Python wheel of ``isles_template_probe`` 1.0, which requires NumPy."""
    name = "isles_template_probe"
    dist_info = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": PROBE_MODULE,
        f"{dist_info}/METADATA": (
            "Metadata-Version: 2.1\nName: isles-template-probe\nVersion: 1.0\nRequires-Dist: numpy\n"
        ),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    records = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        records.append(f"{path},sha256={digest},{len(text.encode())}")
    records.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(records) + "\n"
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _base_has_pip(client: docker.DockerClient) -> bool:
    try:
        environment = client.images.get(BASE_IMAGE).attrs["Config"].get("Env") or []
    except docker.errors.ImageNotFound:
        return False
    return "PIP_BREAK_SYSTEM_PACKAGES=1" in environment


@pytest.fixture
def template_image(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[str]:
    """The template-style image built on the offline base, with no network."""
    if not _base_has_pip(docker_client):
        subprocess.run([str(ROOT / "docker/base/build-base-image.sh"), BASE_IMAGE], check=True, timeout=900)
    context = tmp_path / "algorithm"
    (context / "resources" / "wheels").mkdir(parents=True)
    _wheel_write(context / "resources" / "wheels")
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "requirements.txt").write_text(REQUIREMENTS)
    (context / "inference.py").write_text(INFERENCE)
    for path in [context, *context.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    built = subprocess.run(
        ["docker", "build", "--network", "none", "--quiet", "-t", IMAGE_TAG, str(context)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    yield IMAGE_TAG
    docker_client.images.remove(IMAGE_TAG, force=True)


def test_the_official_templates_dockerfile_builds_on_the_offline_base_and_runs_in_the_sandbox(
    docker_client: docker.DockerClient, template_image: str, tmp_path: Path
) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    limits = SandboxLimits(
        memory_bytes=256 * 2**20,
        cpus=1.0,
        pids=64,
        time_limit_s=60,
        tmpfs_bytes=16 * 2**20,
        output_max_bytes=2**20,
    )

    outcome = container_run(
        client=docker_client,
        image=template_image,
        input_folder=tmp_path / "input",
        output_folder=tmp_path / "output",
        limits=limits,
        gpu_device=None,
    )

    assert outcome.succeeded, outcome.stderr_tail
    # useradd -r takes a system uid (999 here), not 0 nor the 1000 of the portal's own images.
    assert re.fullmatch(
        r"probe imported with numpy 1\.\d+\.\d+ from"
        r" /home/user/\.local/lib/python3\.11/site-packages/isles_template_probe/__init__\.py;"
        r" python 3\.11, uid 9\d\d, read-only root",
        outcome.stdout_tail.strip(),
    ), outcome.stdout_tail
