"""The fake runtime runs a Python callable as the container, in this process, and ends it as Docker would.

The portal's job flow is tested on it without Docker, so each ending a participant can notice (the output
delivered, the logs, a crash, out of memory, too much output, too long) must read as the Docker runtime's
does; ``tests/integration/test_runtimes_agree.py`` runs the same algorithms on both and compares them.
"""

import dataclasses
import sys
import time
from pathlib import Path

import pytest
import SimpleITK as sitk

from inference.contract import ISLES24
from inference.runner import JobResult, job_run
from inference.runtime import Algorithm, FakeRun, FakeRuntime
from inference.sandbox import (
    LOG_TAIL_LINES,
    ContainerRefused,
    RunOutcome,
    SandboxLimits,
    run_failure_sentence,
)
from tests.inference.algorithms import COPY_TMAX, CRASH, SILENT
from tests.inference.cases import isles24_case_inputs, isles24_reference_image
from tests.inference.conftest import SMALL_CASE
from tests.inference.images import TEST_LIMITS

IMAGE = "sha256:fake-algorithm"


def fake_run(
    algorithm: Algorithm, folder: Path, *, limits: SandboxLimits = TEST_LIMITS, gpu_device: str | None = None
) -> RunOutcome:
    """Run ``algorithm`` on the fake runtime on a tiny staged input (``folder/input``), output in
    ``folder/output``."""
    (folder / "input" / "images" / "tiny").mkdir(parents=True, exist_ok=True)
    (folder / "input" / "inputs.json").write_text("[]")
    (folder / "output").mkdir(exist_ok=True)
    return FakeRuntime({IMAGE: algorithm}).run(
        image=IMAGE,
        input_folder=folder / "input",
        output_folder=folder / "output",
        limits=limits,
        gpu_device=gpu_device,
    )


def test_fake_run_gives_the_algorithm_its_input_and_delivers_its_output(tmp_path: Path) -> None:
    def algorithm(input_folder: Path, output_folder: Path) -> None:
        (output_folder / "listing.json").write_text((input_folder / "inputs.json").read_text())

    outcome = fake_run(algorithm, tmp_path)

    assert outcome.succeeded
    assert (tmp_path / "output" / "listing.json").read_text() == "[]"
    assert run_failure_sentence(outcome, limits=TEST_LIMITS) is None


def test_fake_run_keeps_the_last_500_lines_of_each_log(tmp_path: Path) -> None:
    def algorithm(input_folder: Path, output_folder: Path) -> None:
        for line in range(LOG_TAIL_LINES + 100):
            print(f"line {line}")
        print("a warning", file=sys.stderr)

    outcome = fake_run(algorithm, tmp_path)

    assert outcome.stdout_tail.splitlines() == [f"line {n}" for n in range(100, LOG_TAIL_LINES + 100)]
    assert outcome.stderr_tail == "a warning\n"


def test_fake_run_ends_an_exception_with_exit_code_1_and_its_traceback_in_stderr(tmp_path: Path) -> None:
    def algorithm(input_folder: Path, output_folder: Path) -> None:
        print("loading the model")
        raise FileNotFoundError("/opt/app/weights.pth")

    outcome = fake_run(algorithm, tmp_path)

    assert (outcome.exit_code, outcome.oom, outcome.timed_out) == (1, False, False)
    assert outcome.stdout_tail == "loading the model\n"
    assert outcome.stderr_tail.startswith("Traceback (most recent call last):\n")
    assert outcome.stderr_tail.endswith("FileNotFoundError: /opt/app/weights.pth\n")
    assert run_failure_sentence(outcome, limits=TEST_LIMITS) == (
        "The algorithm exited with code 1; its log shows what went wrong."
    )


@pytest.mark.parametrize(
    ("returned", "exit_code"),
    [(None, 0), (0, 0), (3, 3)],
    ids=["none", "zero", "three"],
)
def test_fake_run_takes_the_returned_exit_code_none_meaning_0(
    tmp_path: Path, returned: int | None, exit_code: int
) -> None:
    assert fake_run(lambda _input, _output: returned, tmp_path).exit_code == exit_code


def test_fake_run_takes_sys_exit_as_a_process_would(tmp_path: Path) -> None:
    def exits_with(code: int | str | None) -> Algorithm:
        def algorithm(input_folder: Path, output_folder: Path) -> None:
            raise SystemExit(code)

        return algorithm

    assert fake_run(exits_with(4), tmp_path).exit_code == 4
    assert fake_run(exits_with(None), tmp_path).exit_code == 0
    message = fake_run(exits_with("no GPU found"), tmp_path)
    assert (message.exit_code, message.stderr_tail) == (1, "no GPU found\n")


def test_fake_run_ends_a_memory_error_as_the_engine_kills_a_container_out_of_memory(tmp_path: Path) -> None:
    def algorithm(input_folder: Path, output_folder: Path) -> None:
        raise MemoryError

    outcome = fake_run(algorithm, tmp_path)

    assert (outcome.exit_code, outcome.oom, outcome.succeeded) == (137, True, False)
    assert run_failure_sentence(outcome, limits=TEST_LIMITS) == (
        "The algorithm ran out of memory (limit 0.0671 GB) and was stopped."
    )


def test_fake_run_reports_output_over_the_cap(tmp_path: Path) -> None:
    def algorithm(input_folder: Path, output_folder: Path) -> None:
        (output_folder / "flood.bin").write_bytes(b"\0" * (TEST_LIMITS.output_max_bytes + 1))

    outcome = fake_run(algorithm, tmp_path)

    assert (outcome.exit_code, outcome.output_over_cap, outcome.succeeded) == (0, True, False)
    assert run_failure_sentence(outcome, limits=TEST_LIMITS) == (
        "The algorithm wrote more than the output limit of 1.05 MB to /output and was stopped;"
        " write only the segmentation."
    )


def test_fake_run_counts_empty_files_toward_the_output_cap_as_docker_does(tmp_path: Path) -> None:
    def algorithm(input_folder: Path, output_folder: Path) -> None:
        for number in range(TEST_LIMITS.output_max_bytes // 4096 + 1):
            (output_folder / str(number)).touch()

    assert fake_run(algorithm, tmp_path).output_over_cap


def test_fake_run_says_a_run_over_the_time_limit_timed_out(tmp_path: Path) -> None:
    limits = dataclasses.replace(TEST_LIMITS, time_limit_s=0.05)

    def algorithm(input_folder: Path, output_folder: Path) -> None:
        time.sleep(0.1)

    outcome = fake_run(algorithm, tmp_path, limits=limits)

    assert (outcome.timed_out, outcome.exit_code, outcome.oom) == (True, 137, False)
    assert outcome.duration_s >= 0.1
    assert run_failure_sentence(outcome, limits=limits) == (
        "The algorithm did not finish within 0.05 s and was stopped."
    )


def test_fake_run_records_each_run_and_whether_it_had_a_gpu(tmp_path: Path) -> None:
    runtime = FakeRuntime({IMAGE: SILENT.function})
    input_folder, output_folder = tmp_path / "input", tmp_path / "output"
    input_folder.mkdir()
    output_folder.mkdir()

    with_gpu = runtime.run(
        image=IMAGE,
        input_folder=input_folder,
        output_folder=output_folder,
        limits=TEST_LIMITS,
        gpu_device="0",
        name="job-1",
    )
    without = runtime.run(
        image=IMAGE,
        input_folder=input_folder,
        output_folder=output_folder,
        limits=TEST_LIMITS,
        gpu_device=None,
    )

    assert (with_gpu.had_gpu, without.had_gpu) == (True, False)
    assert runtime.runs == [
        FakeRun(image=IMAGE, name="job-1", gpu_device="0", outcome=with_gpu),
        FakeRun(image=IMAGE, name=None, gpu_device=None, outcome=without),
    ]


def test_fake_runtime_refuses_an_image_it_does_not_know(tmp_path: Path) -> None:
    runtime = FakeRuntime({IMAGE: SILENT.function})

    assert runtime.image_prepare(image_id=IMAGE, archive=lambda: tmp_path / "image.tar") == IMAGE
    with pytest.raises(
        ContainerRefused, match=r"^The image sha256:other could not be loaded on this worker\.$"
    ):
        runtime.image_prepare(image_id="sha256:other", archive=lambda: tmp_path / "image.tar")
    with pytest.raises(ContainerRefused, match=r"^The image sha256:other is not loaded on this worker\.$"):
        runtime.run(
            image="sha256:other",
            input_folder=tmp_path,
            output_folder=tmp_path,
            limits=TEST_LIMITS,
            gpu_device=None,
        )
    assert runtime.runs == []


def test_fake_output_clear_removes_everything_even_what_the_algorithm_made_read_only(tmp_path: Path) -> None:
    def algorithm(input_folder: Path, output_folder: Path) -> None:
        notes = output_folder / "notes" / "deep"
        notes.mkdir(parents=True)
        (notes / "log.txt").write_text("notes")
        (output_folder / "elsewhere").symlink_to(input_folder)
        notes.chmod(0o500)
        notes.parent.chmod(0o500)

    fake_run(algorithm, tmp_path)
    FakeRuntime({}).output_clear(image=IMAGE, output_folder=tmp_path / "output")

    assert list((tmp_path / "output").iterdir()) == []
    assert (tmp_path / "input" / "inputs.json").exists()


def test_fake_leftover_remove_removes_the_run_a_dead_worker_left_once() -> None:
    runtime = FakeRuntime({})
    runtime.leftovers.add("job-7")

    assert runtime.leftover_remove(name="job-7") is True
    assert runtime.leftover_remove(name="job-7") is False


def fake_job(algorithm: Algorithm, release: Path, tmp_path: Path) -> JobResult:
    return job_run(
        runtime=FakeRuntime({IMAGE: algorithm}),
        image=IMAGE,
        case_inputs=isles24_case_inputs(release, SMALL_CASE),
        interface_set=ISLES24,
        reference_image_path=isles24_reference_image(release, SMALL_CASE),
        destination=tmp_path / "stored" / f"{SMALL_CASE}.nii.gz",
        limits=TEST_LIMITS,
        scratch_folder=tmp_path,
    )


def test_job_run_on_the_fake_runtime_stores_the_segmentation_on_the_reference_grid(
    small_release: Path, tmp_path: Path
) -> None:
    result = fake_job(COPY_TMAX.function, small_release, tmp_path)

    assert result.failure is None
    assert result.outcome is not None
    assert result.outcome.succeeded
    stored = sitk.ReadImage(str(result.segmentation_path))
    assert stored.GetSize() == (64, 64, 24)
    assert stored.GetPixelID() == sitk.sitkUInt8
    assert [path.name for path in tmp_path.iterdir()] == ["stored"]


def test_job_run_on_the_fake_runtime_says_why_an_algorithm_failed(
    small_release: Path, tmp_path: Path
) -> None:
    crashed = fake_job(CRASH.function, small_release, tmp_path)
    silent = fake_job(SILENT.function, small_release, tmp_path)

    assert crashed.failure == "The algorithm exited with code 2; its log shows what went wrong."
    assert crashed.outcome is not None
    assert crashed.outcome.stdout_tail == "starting\n"
    assert silent.failure is not None
    assert "expected one .mha or .nii.gz file in /output/images/stroke-lesion-segmentation/" in silent.failure
    assert None is crashed.segmentation_path is silent.segmentation_path
    assert [path.name for path in tmp_path.iterdir()] == []


def test_job_run_on_the_fake_runtime_says_an_unknown_image_is_not_loaded_and_leaves_nothing(
    small_release: Path, tmp_path: Path
) -> None:
    runtime = FakeRuntime({})

    result = job_run(
        runtime=runtime,
        image=IMAGE,
        case_inputs=isles24_case_inputs(small_release, SMALL_CASE),
        interface_set=ISLES24,
        reference_image_path=isles24_reference_image(small_release, SMALL_CASE),
        destination=tmp_path / "stored.nii.gz",
        limits=TEST_LIMITS,
        scratch_folder=tmp_path,
    )

    assert result == JobResult(
        outcome=None,
        segmentation_path=None,
        failure=f"The image {IMAGE} is not loaded on this worker.",
        stage_s=result.stage_s,
        collect_s=0.0,
    )
    assert list(tmp_path.iterdir()) == []
