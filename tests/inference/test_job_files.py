"""A job's files on the worker: the staged case is readable by the container whatever its user, and nothing of
the job is left afterwards, not even what the container wrote as a user the worker is not.

The worker has no power over files that are not its own, as in production, where it runs as the portal
image's user (uid 1000), and it has the portal's owner-only umask: when the tests run as root, it runs as
root stripped of every capability. The container runs as uid 999, the user of the official ISLES'24
template, and leaves a folder it made unwritable besides its segmentation.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import docker
import pytest

from tests.conftest import service_unavailable
from tests.inference.cases import isles24_case_inputs, isles24_reference_image
from tests.inference.conftest import SMALL_CASE
from tests.inference.images import TEST_LIMITS, AlgorithmImage

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
ALGORITHM_UID = 999
WRITES_AS_ITS_OWN_USER = (
    "cat /input/inputs.json > /dev/null"
    " && mkdir -p /output/images/stroke-lesion-segmentation /output/notes/deep"
    " && echo notes > /output/notes/deep/log.txt && chmod 500 /output/notes/deep /output/notes"
    " && cp /input/images/preprocessed-tmax-map/*.mha /output/images/stroke-lesion-segmentation/output.mha"
)
WORKER = """
import json, sys
from pathlib import Path
import docker
from inference.contract import ISLES24
from inference.runner import job_run
from inference.runtime import DockerRuntime
from inference.sandbox import SandboxLimits
job = json.loads(sys.argv[1])
result = job_run(
    runtime=DockerRuntime(docker.from_env()),
    image=job["image"],
    case_inputs={slug: Path(value) if slug in job["files"] else value
                 for slug, value in job["inputs"].items()},
    interface_set=ISLES24,
    reference_image_path=Path(job["reference"]),
    destination=Path(job["destination"]),
    limits=SandboxLimits(**job["limits"]),
    scratch_folder=Path(job["scratch"]),
)
print(json.dumps({"failure": result.failure, "segmentation": str(result.segmentation_path)}))
"""


def unprivileged() -> list[str]:
    """The command prefix that runs a process without power over other users' files."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        service_unavailable("needs setpriv (util-linux) to run the worker without root's capabilities")
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"]


def test_a_container_running_as_uid_999_reads_its_case_and_leaves_nothing_a_worker_of_another_uid_keeps(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    small_release: Path,
    tmp_path: Path,
) -> None:
    image = algorithm_image(WRITES_AS_ITS_OWN_USER, user=f"{ALGORITHM_UID}:{ALGORITHM_UID}")
    release = shutil.copytree(small_release, tmp_path / "release")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    inputs = isles24_case_inputs(release, SMALL_CASE)
    job = {
        "image": image,
        "inputs": {slug: str(value) if isinstance(value, Path) else value for slug, value in inputs.items()},
        "files": [slug for slug, value in inputs.items() if isinstance(value, Path)],
        "reference": str(isles24_reference_image(release, SMALL_CASE)),
        "destination": str(tmp_path / "stored" / f"{SMALL_CASE}.nii.gz"),
        "limits": asdict(TEST_LIMITS),
        "scratch": str(scratch),
    }

    worker = subprocess.run(
        [*unprivileged(), sys.executable, "-c", WORKER, json.dumps(job)],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        umask=0o077,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert worker.returncode == 0, worker.stderr
    assert json.loads(worker.stdout) == {"failure": None, "segmentation": job["destination"]}
    assert Path(job["destination"]).is_file()
    assert list(scratch.iterdir()) == []
