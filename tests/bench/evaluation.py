"""Benchmark of ``python -m evaluation score`` on full-size synthetic ISLES'24 cases (make bench-evaluation).

It writes full-size masks (512x512x80 at 0.4x0.4x2 mm, the three official encodings), makes predictions by
perturbing them (shift, dilate or erode, cut slices out so lesions split, add and drop components: many
lesions), once per ``--cases`` and ``--seed`` into ``--cache-dir`` (32 cases by default: the real test set
has about 98), and prints, from one run, in total and per case:
- the command line's time (median of ``--runs``), with the default workers and with one, and the time to
  merely decompress the same files serially with the gzip decompressor the package uses, both streamed
  through a 1 MiB buffer (the goal's denominator: the fastest way) and whole-file, and the ratios (goal: at
  most 2x on two cores); and the CPU seconds of each, which the load of other programs inflates less;
- the peak memory of scoring one case (what one worker holds), against one decompressed ground-truth volume
  (goal: at most 4x), and the largest resident size of any command-line process;
- the time of panoptica 1.x set up as the official ISLES'24 evaluation does (one process, reading and
  scoring, without its interpreter's start-up, which the CLI's times include), on the same cases, median of
  ``--panoptica-runs``; its ratio to the CLI with the default workers and with one (goal: ours at least 25x
  faster); and the largest difference between its numbers and ours.

Panoptica needs other NumPy versions than ours, so it runs in its own interpreter: ``--panoptica-python``
(or ``ISLES_BENCH_PANOPTICA_PYTHON``) names a Python with ``panoptica`` 1.x and SimpleITK installed, e.g.
``python3.11 -m venv /tmp/pano && /tmp/pano/bin/pip install panoptica==1.3.4 SimpleITK`` (1.4 and 1.5 fail
to import without torch). Without one, the comparison is reported as not measured.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
NIFTI_HEADER_BYTES = 352
WORKER_RSS_SCRIPT = """
import sys
from pathlib import Path
from evaluation.profiles import PROFILES
from evaluation.scoring import case_id_from_path, score_case
def peak_resident_kib():  # VmHWM starts afresh at exec, unlike ru_maxrss, which keeps the parent's peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
before = peak_resident_kib()
ground_truth = Path(sys.argv[1])
case_id = case_id_from_path(ground_truth)
prediction = Path(sys.argv[2]) / f"{case_id}.nii.gz"
profile = PROFILES["isles24"]
score_case(profile=profile, case_id=case_id, ground_truth_path=ground_truth, prediction_path=prediction)
print(before, peak_resident_kib())
"""
METRICS = ("dice", "absolute_volume_difference_ml", "absolute_lesion_count_difference", "lesion_f1")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.evaluation", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--cases", type=int, default=32)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("VAR_DIR", REPOSITORY / "var")) / "bench-evaluation",
        help="folder keeping the generated cases between runs (default: VAR_DIR/bench-evaluation)",
    )
    parser.add_argument("--write-only", action="store_true", help="generate and cache the cases, then stop")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--panoptica-runs", type=int, default=3)
    parser.add_argument("--panoptica-python", default=os.environ.get("ISLES_BENCH_PANOPTICA_PYTHON"))
    parser.add_argument("--panoptica-reference", nargs=3, metavar=("GT_DIR", "PRED_DIR", "OUTPUT"))
    arguments = parser.parse_args(argv)
    if arguments.panoptica_reference is not None:
        _panoptica_reference(*(Path(part) for part in arguments.panoptica_reference))
        return 0
    ground_truth_dir, predictions_dir = _cached_cases(
        arguments.cache_dir, cases=arguments.cases, seed=arguments.seed
    )
    if arguments.write_only:
        return 0
    with tempfile.TemporaryDirectory(prefix="isles-bench-") as scratch:
        _benchmark(Path(scratch), ground_truth_dir, predictions_dir, arguments)
    return 0


def _cached_cases(cache_dir: Path, *, cases: int, seed: int) -> tuple[Path, Path]:
    """The ground-truth and prediction folders of ``cases`` cases, written once per (cases, seed)."""
    folder = cache_dir / f"{cases}-cases-seed-{seed}"
    if not folder.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix="writing-", dir=cache_dir))
        _write_cases(scratch, cases=cases, seed=seed)
        shutil.rmtree(scratch / "release")
        scratch.rename(folder)  # only a complete set of cases gets the folder's name
        print(f"Wrote {cases} full-size cases to {folder} in {time.perf_counter() - started:.1f} s.")
    return folder / "ground-truth", folder / "predictions"


def _benchmark(
    scratch: Path, ground_truth_dir: Path, predictions_dir: Path, arguments: argparse.Namespace
) -> None:
    from evaluation.io import GZIP_DECOMPRESSOR

    files = sorted(ground_truth_dir.iterdir()) + sorted(predictions_dir.iterdir())
    cases, runs = arguments.cases, arguments.runs
    workers = os.cpu_count() or 1
    output = scratch / "metrics.json"
    command = [sys.executable, "-m", "evaluation", "score", "--profile", "isles24",
               "--ground-truth", str(ground_truth_dir), "--predictions", str(predictions_dir),
               "--output", str(output)]  # fmt: skip
    cli = {
        f"{workers} workers (default)": statistics.median(_timed_run(command) for _ in range(runs)),
        "1 worker": statistics.median(_timed_run([*command, "--workers", "1"]) for _ in range(runs)),
    }
    whole_seconds = statistics.median(_decompress_whole(files) for _ in range(runs))
    streamed_seconds = statistics.median(_decompress_streamed(files) for _ in range(runs))
    print(f"Medians of {runs} runs on {cases} cases ({len(files)} files):")
    for label, seconds in cli.items():
        print(f"  CLI, {label}: {seconds:.2f} s, {1000 * seconds / cases:.0f} ms per case")
    for label, seconds in (("whole", whole_seconds), ("streamed", streamed_seconds)):
        print(
            f"  Decompressing serially with {GZIP_DECOMPRESSOR}, {label}: {seconds:.2f} s, "
            f"{1000 * seconds / cases:.0f} ms per case"
        )
    print(f"  Importing what the CLI imports (NumPy, SciPy): {_import_seconds():.2f} s")
    cpu = {
        label: statistics.median(_cpu_seconds(arguments) for _ in range(runs))
        for label, arguments in (
            (f"CLI, {workers} workers", command),
            ("CLI, 1 worker", [*command, "--workers", "1"]),
        )
    }
    streamed_cpu = statistics.median(
        _decompress_streamed(files, clock=time.process_time) for _ in range(runs)
    )
    print(
        "CPU time (user + system, all processes; other programs' load inflates it less than wall time): "
        + ", ".join(
            f"{label} {seconds:.2f} s ({seconds / streamed_cpu:.2f}x)" for label, seconds in cpu.items()
        )
        + f", streamed decompression {streamed_cpu:.2f} s"
    )
    default_seconds = next(iter(cli.values()))
    print(
        f"CLI ({workers} workers) / decompression: {default_seconds / streamed_seconds:.2f}x streamed "
        f"(the goal's denominator, goal <= 2x), {default_seconds / whole_seconds:.2f}x whole. "
        "Streamed is the fastest way to merely decompress these files; whole-file decompression also "
        "pays for allocating every volume, which the CLI never does, so dividing by it would flatter the CLI."
    )
    _report_memory(ground_truth_dir, predictions_dir)
    ours = json.loads(output.read_text())["cases"]
    _report_panoptica(arguments, ground_truth_dir, predictions_dir, ours, cli, scratch)


def _write_cases(scratch: Path, *, cases: int, seed: int) -> tuple[Path, Path]:
    import SimpleITK as sitk

    from releases.synthetic import write_release

    release = scratch / "release"
    ground_truth_dir = scratch / "ground-truth"
    predictions_dir = scratch / "predictions"
    ground_truth_dir.mkdir()
    predictions_dir.mkdir()
    rng = np.random.default_rng(seed)
    for case in write_release(release, cases=cases, seed=seed, size="full", include_images=False):
        source = release / "derivatives" / case / "ses-02" / f"{case}_ses-02_lesion-msk.nii.gz"
        target = ground_truth_dir / source.name
        source.rename(target)
        image = sitk.ReadImage(str(target))
        prediction = sitk.GetImageFromArray(
            _perturbed(sitk.GetArrayFromImage(image) > 0, rng).astype(np.uint8)
        )
        prediction.CopyInformation(image)
        sitk.WriteImage(prediction, str(predictions_dir / f"{case}.nii.gz"), useCompression=True)
    return ground_truth_dir, predictions_dir


def _perturbed(lesion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible imperfect prediction: shifted, grown or shrunk, split by cut slices, with extra blobs."""
    from scipy import ndimage

    prediction = np.roll(lesion, tuple(int(v) for v in rng.integers(-3, 4, size=3)), axis=(0, 1, 2))
    grow = ndimage.binary_dilation if rng.random() < 0.5 else ndimage.binary_erosion
    prediction = grow(prediction, iterations=int(rng.integers(1, 3)))
    zs, ys, xs = np.nonzero(lesion)
    if zs.size:  # cut two slices and one row plane through the lesion: it falls into several pieces
        prediction[rng.choice(np.unique(zs), size=2)] = False
        prediction[:, int(rng.choice(ys))] = False
    for _ in range(int(rng.integers(15, 40))):  # small blobs, near the lesion and elsewhere
        anchor = int(rng.integers(0, zs.size)) if zs.size else None
        centre = (
            (zs[anchor], ys[anchor] + rng.integers(-40, 41), xs[anchor] + rng.integers(-40, 41))
            if anchor is not None and rng.random() < 0.7
            else (rng.integers(5, 75), rng.integers(100, 412), rng.integers(100, 412))
        )
        z, y, x = (int(np.clip(c, 2, n - 3)) for c, n in zip(centre, lesion.shape, strict=True))
        radius = int(rng.integers(1, 3))
        prediction[z - 1 : z + 2, y - radius : y + radius + 1, x - radius : x + radius + 1] = True
    return prediction


def _timed_run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPOSITORY, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _import_seconds() -> float:
    """Median seconds for a fresh interpreter to import what the command line imports."""
    command = [sys.executable, "-c", "import evaluation.cli, evaluation.scoring"]
    return statistics.median(_timed_run(command) for _ in range(3))


def _cpu_seconds(command: list[str]) -> float:
    """User and system seconds of a command and the worker processes it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=REPOSITORY, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _decompress_whole(files: list[Path]) -> float:
    """Seconds to decompress every file into one buffer each."""
    from evaluation.io import gzip_decompress

    started = time.perf_counter()
    for path in files:
        gzip_decompress(path.read_bytes())
    return time.perf_counter() - started


def _decompress_streamed(files: list[Path], *, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds on ``clock`` to decompress every file through one reused 1 MiB buffer (no large allocation)."""
    from evaluation.io import gzip_open

    buffer = bytearray(1024 * 1024)
    started = clock()
    for path in files:
        with gzip_open(path) as stream:
            while stream.readinto(buffer):
                pass
    return clock() - started


def _report_memory(ground_truth_dir: Path, predictions_dir: Path) -> None:
    """Peak traced allocations (NumPy arrays and bytes) while one worker scores each case, and the resident
    size of a fresh worker process before and after scoring the largest case."""
    from evaluation.io import gzip_decompress
    from evaluation.profiles import PROFILES
    from evaluation.scoring import case_id_from_path, score_case

    worst_ratio, worst_case = 0.0, ""
    for path in sorted(ground_truth_dir.iterdir()):
        volume_bytes = len(gzip_decompress(path.read_bytes())) - NIFTI_HEADER_BYTES
        case_id = case_id_from_path(path)
        tracemalloc.start()
        score_case(
            profile=PROFILES["isles24"],
            case_id=case_id,
            ground_truth_path=path,
            prediction_path=predictions_dir / f"{case_id}.nii.gz",
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if peak / volume_bytes > worst_ratio:
            worst_ratio = peak / volume_bytes
            worst_case = f"{case_id}: {peak / 2**20:.1f} MiB peak, volume {volume_bytes / 2**20:.0f} MiB"
    print(
        f"Peak memory per worker / one decompressed volume: {worst_ratio:.2f}x at worst "
        f"({worst_case}; goal <= 4x)"
    )
    largest = max(ground_truth_dir.iterdir(), key=lambda path: path.stat().st_size)
    finished = subprocess.run(
        [sys.executable, "-c", WORKER_RSS_SCRIPT, str(largest), str(predictions_dir)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = (int(value) / 1024 for value in finished.stdout.split())
    print(
        f"Worker resident size: {before:.0f} MiB after imports, {after:.0f} MiB after scoring {largest.name}"
    )


def _report_panoptica(
    arguments: argparse.Namespace,
    ground_truth_dir: Path,
    predictions_dir: Path,
    ours: dict[str, dict[str, float]],
    cli: dict[str, float],
    scratch: Path,
) -> None:
    python = arguments.panoptica_python
    if python is None:
        print("panoptica: not measured (no --panoptica-python or ISLES_BENCH_PANOPTICA_PYTHON given).")
        return
    output = scratch / "panoptica.json"
    command = [python, "-m", "tests.bench.evaluation", "--panoptica-reference",
               str(ground_truth_dir), str(predictions_dir), str(output)]  # fmt: skip
    timings = []
    for _ in range(arguments.panoptica_runs):
        finished = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, check=False)
        if finished.returncode != 0:
            reason = (finished.stderr.strip().splitlines() or ["no message"])[-1]
            print(f"panoptica: not measured ({python} failed: {reason}).")
            return
        reference = json.loads(output.read_text())
        timings.append(reference.pop("seconds"))
    seconds = statistics.median(timings)
    version = reference.pop("version")
    largest = max(
        abs(float(reference[case][key]) - float(ours[case][key])) for case in ours for key in METRICS
    )
    print(
        f"panoptica {version} as the official ISLES'24 code sets it up (one process, IoU 0.2): "
        f"{seconds:.1f} s, {1000 * seconds / len(ours):.0f} ms per case "
        f"(median of {len(timings)}; reading and scoring only)"
    )
    for label, cli_seconds in cli.items():
        print(f"CLI speed-up over panoptica, {label}: {seconds / cli_seconds:.1f}x (goal >= 25x)")
    print(f"Largest difference between its {len(ours) * len(METRICS)} numbers and ours: {largest:.2e}")


def _panoptica_reference(ground_truth_dir: Path, predictions_dir: Path, output: Path) -> None:
    """Score every case as the official ISLES'24 evaluation does, with panoptica 1.x, timing the loop.

    SimpleITK reads both masks, a prediction off the ground truth's grid is resampled onto it, both are
    binarised with > 0, and panoptica's evaluator runs on semantic input with connected-component instances
    and naive threshold matching. The threshold is set to IoU 0.2 explicitly (the ISLES'24 definition;
    panoptica's default is 0.5). Dice from ``global_bin_dsc``, F1 from ``rq``, lesion count difference
    from the instance counts; both empty gives 1.0.
    """
    from importlib.metadata import version

    import SimpleITK as sitk
    from panoptica import (
        ConnectedComponentsInstanceApproximator,
        InputType,
        NaiveThresholdMatching,
        Panoptica_Evaluator,
    )

    evaluator = Panoptica_Evaluator(
        expected_input=InputType.SEMANTIC,
        instance_approximator=ConnectedComponentsInstanceApproximator(),
        instance_matcher=NaiveThresholdMatching(matching_threshold=0.2),
    )
    results: dict[str, object] = {"version": version("panoptica")}
    started = time.perf_counter()
    for ground_truth_path in sorted(ground_truth_dir.iterdir()):
        case_id = ground_truth_path.name.split("_", 1)[0]
        reference_image = sitk.ReadImage(str(ground_truth_path))
        prediction_image = sitk.ReadImage(str(predictions_dir / f"{case_id}.nii.gz"))
        if prediction_image.GetSpacing() != reference_image.GetSpacing():
            prediction_image = sitk.Resample(
                prediction_image, reference_image, sitk.Transform(), sitk.sitkNearestNeighbor
            )
        reference = (sitk.GetArrayFromImage(reference_image) > 0).astype(int)
        prediction = (sitk.GetArrayFromImage(prediction_image) > 0).astype(int)
        result = evaluator.evaluate(prediction, reference, verbose=False)["ungrouped"]
        both_empty = result.num_ref_instances == 0 and result.num_pred_instances == 0
        voxel_ml = float(np.prod(reference_image.GetSpacing())) / 1000
        results[case_id] = {
            "dice": 1.0 if both_empty else float(result.global_bin_dsc),
            "absolute_volume_difference_ml": abs(int(reference.sum()) - int(prediction.sum())) * voxel_ml,
            "absolute_lesion_count_difference": abs(result.num_ref_instances - result.num_pred_instances),
            "lesion_f1": 1.0 if both_empty else float(result.rq),
        }
    results["seconds"] = time.perf_counter() - started
    output.write_text(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
