"""``isles init-algorithm``: the starter it writes reads every input of the contract, builds on any Python
image with NumPy, and its test script runs it with the sandbox flags the portal's workers use."""

import io
import re
from pathlib import Path

from inference.client import main
from inference.interfaces import DEFAULT_SANDBOX, ISLES24, docker_run_command
from inference.starter import STARTER_FILES, starter_write


def test_the_starter_reads_every_image_slug_and_the_clinical_json_and_writes_the_output(
    tmp_path: Path,
) -> None:
    starter_write(tmp_path)

    script = (tmp_path / "inference.py").read_text()
    slugs = re.search(r"IMAGE_SLUGS = \((.*?)\)", script, re.S)
    assert slugs is not None
    assert re.findall(r'"([^"]+)"', slugs.group(1)) == [interface.slug for interface in ISLES24.image_inputs]
    assert 'Path("/input/acute-stroke-clinical-information.json")' in script
    assert 'Path("/output/images/stroke-lesion-segmentation/output.mha")' in script
    compile(script, "inference.py", "exec")


def test_the_dockerfile_takes_its_base_as_a_build_argument_and_runs_as_a_user_that_is_not_root(
    tmp_path: Path,
) -> None:
    starter_write(tmp_path)

    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=" in dockerfile
    assert "FROM ${BASE_IMAGE}" in dockerfile
    assert "USER 1000:1000" in dockerfile
    assert 'ENTRYPOINT ["python3", "/opt/algorithm/inference.py"]' in dockerfile


def test_the_test_script_runs_the_image_with_the_portals_sandbox_flags(tmp_path: Path) -> None:
    starter_write(tmp_path)

    script = tmp_path / "test.sh"
    line = next(line for line in script.read_text().splitlines() if line.startswith("docker run "))
    flags = docker_run_command(
        image="IMAGE", limits=DEFAULT_SANDBOX, cpus=4, gpu=False, input_folder="IN", output_folder="OUT"
    )
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges"):
        assert flag in line
    assert f"--tmpfs {flags[flags.index('--tmpfs') + 1]}" in line
    assert f"--memory-swap {DEFAULT_SANDBOX.memory_bytes}" in line
    assert f"--pids-limit {DEFAULT_SANDBOX.pids}" in line
    assert '"$PWD/test/input:/input:ro"' in line
    assert script.stat().st_mode & 0o111


def test_init_algorithm_needs_no_token_and_never_overwrites_a_file(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()

    assert main(["init-algorithm", str(tmp_path / "mine")], out=out, err=err) == 0
    assert sorted(path.name for path in (tmp_path / "mine").iterdir()) == sorted(STARTER_FILES)
    (tmp_path / "mine" / "inference.py").write_text("# my model\n")

    assert main(["init-algorithm", str(tmp_path / "mine")], out=out, err=err) == 1
    assert "already has Dockerfile, inference.py" in err.getvalue()
    assert (tmp_path / "mine" / "inference.py").read_text() == "# my model\n"
