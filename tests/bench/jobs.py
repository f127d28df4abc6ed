"""Benchmark of the platform's own time per algorithm job, and of loading a 1 GB image (make bench-jobs).

A no-op busybox container copies the case's staged lesion mask to its output, so what is timed is the
platform, not an algorithm: staging the full ISLES'24 inputs of one full-size synthetic case (512x512x80,
every .nii.gz converted to .mha), starting the sandboxed container, waiting for it, collecting and checking
its output and storing it as NIfTI with the reference geometry. It prints the median over ``--runs`` jobs:
- the first job of a case, which converts every input (once per case and worker),
- every further job on that case, which links the converted files from the cache (goal: at most 1 s),
with the container I/O ``--container-io`` names (default ``ISLES_CONTAINER_IO``, else auto; volumes: the
first job fills the case's input volume, the further ones mount it; bind: the job's folders are mounted),
and the time ``image_load`` takes for a 1 GB image saved with ``docker save``, then for the same image again
(cached by digest). The full-size case is written once into ``--cache`` (about a minute) and kept.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import docker

from inference.contract import ISLES24, Interface, InterfaceKind, InterfaceSet, JsonValue
from inference.conversions import ConversionCache, file_sha256
from inference.image_checks import image_tar_inspect
from inference.runner import JobResult, job_run
from inference.runtime import DockerRuntime
from inference.sandbox import SandboxLimits, image_load
from releases.synthetic import write_release
from tests.inference.cases import isles24_case_inputs, isles24_ground_truth, isles24_reference_image
from tests.inference.images import BUSYBOX, algorithm_images, engine_input_volumes, image_save

CASE = "sub-stroke0001"
MASK_SLUG = "bench-lesion-mask"
# The ISLES'24 inputs plus the lesion mask the no-op container hands back as its segmentation.
BENCH_INTERFACES = InterfaceSet(
    name="isles24-bench",
    inputs=(*ISLES24.inputs, Interface(slug=MASK_SLUG, kind=InterfaceKind.IMAGE)),
    output=ISLES24.output,
)
COPY_MASK = (
    "mkdir -p /output/images/stroke-lesion-segmentation"
    f" && cp /input/images/{MASK_SLUG}/*.mha /output/images/stroke-lesion-segmentation/output.mha"
)
LIMITS = SandboxLimits(
    memory_bytes=2 * 10**9,
    cpus=1.0,
    pids=64,
    time_limit_s=120.0,
    tmpfs_bytes=64 * 2**20,
    output_max_bytes=10**9,
)
GIGABYTE = 10**9


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.jobs", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("VAR_DIR", "var")) / "bench-jobs",
        help="where the full-size case is kept between runs (default: $VAR_DIR/bench-jobs)",
    )
    parser.add_argument(
        "--container-io",
        choices=("auto", "volumes", "bind"),
        default=os.environ.get("ISLES_CONTAINER_IO") or "auto",
        help="how /input and /output reach the container (default: $ISLES_CONTAINER_IO, else auto)",
    )
    parser.add_argument("--skip-image-load", action="store_true", help="do not time loading a 1 GB image")
    arguments = parser.parse_args(argv)
    client = docker.from_env(timeout=600)
    release = release_full_size(arguments.cache)
    with (
        tempfile.TemporaryDirectory(prefix="bench-jobs-") as scratch,
        algorithm_images(client, Path(scratch)) as build,
    ):
        first, further = jobs_time(
            client,
            build(COPY_MASK),
            release,
            Path(scratch),
            runs=arguments.runs,
            container_io=arguments.container_io,
        )
        chosen = DockerRuntime.with_container_io(
            client, container_io=arguments.container_io, input_volumes_max_bytes=0
        )
        print(f"container I/O: {arguments.container_io} ({chosen.container_io})")
        print(
            f"job, first on a case (converts every input): median {statistics.median(first):.2f} s"
            f" over {len(first)}"
        )
        print(
            f"job, further on the same case: median {statistics.median(further):.2f} s"
            f" (min {min(further):.2f}, max {max(further):.2f}) over {len(further)}; goal <= 1 s"
        )
        if not arguments.skip_image_load:
            load_s, cached_s = image_load_time(client, Path(scratch))
            print(
                f"image_load of a 1 GB image: {load_s:.1f} s;"
                f" again, cached by digest: {cached_s * 1000:.0f} ms"
            )
    client.close()
    return 0


def release_full_size(cache: Path) -> Path:
    """The one-case full-size release under ``cache``, written the first time."""
    release = cache / "full-release"
    if not release.exists():
        partial = cache / "full-release.partial"
        shutil.rmtree(partial, ignore_errors=True)
        print(f"writing a full-size synthetic case into {release} (about a minute, once)")
        write_release(partial, cases=1, seed=7, size="full")
        partial.rename(release)
    return release


def jobs_time(
    client: docker.DockerClient, image: str, release: Path, scratch: Path, *, runs: int, container_io: str
) -> tuple[list[float], list[float]]:
    """Seconds per whole job: ``first`` with an empty conversion cache (and no input volume of the case),
    ``further`` with both warm."""
    case_inputs = isles24_case_inputs(release, CASE)
    case_inputs[MASK_SLUG] = isles24_ground_truth(release, CASE)
    # The sha256 the portal stored with each image at import, which it passes with the job.
    digests = {slug: file_sha256(path) for slug, path in case_inputs.items() if isinstance(path, Path)}
    first, further = [], []
    for run in range(runs):
        cache = scratch / f"conversions-{run}"
        # The case's input volume made by this run's first job goes on leaving, so each first job fills it.
        with engine_input_volumes(client):
            runtime = DockerRuntime.with_container_io(
                client, container_io=container_io, input_volumes_max_bytes=10 * GIGABYTE
            )
            first.append(job_time(runtime, image, case_inputs, release, scratch, cache, digests))
            further.append(job_time(runtime, image, case_inputs, release, scratch, cache, digests))
        shutil.rmtree(cache)
    return first, further


def job_time(
    runtime: DockerRuntime,
    image: str,
    case_inputs: Mapping[str, Path | JsonValue],
    release: Path,
    scratch: Path,
    cache: Path,
    digests: Mapping[str, str],
) -> float:
    started = time.monotonic()
    result: JobResult = job_run(
        runtime=runtime,
        image=image,
        case_inputs=case_inputs,
        interface_set=BENCH_INTERFACES,
        reference_image_path=isles24_reference_image(release, CASE),
        destination=scratch / "stored.nii.gz",
        limits=LIMITS,
        conversion_cache=ConversionCache(folder=cache, max_bytes=10 * GIGABYTE),
        image_digests=digests,
        scratch_folder=scratch,
    )
    elapsed = time.monotonic() - started
    if result.failure is not None:
        raise SystemExit(f"the no-op job failed: {result.failure}")
    container_s = result.outcome.duration_s if result.outcome is not None else 0.0
    print(
        f"  job {elapsed:.2f} s: staging {result.stage_s:.2f}, container {container_s:.2f},"
        f" collect and store {result.collect_s:.2f}"
    )
    return elapsed


def image_load_time(client: docker.DockerClient, scratch: Path) -> tuple[float, float]:
    """Build a FROM scratch image with a 1 GB random layer, save it, remove it, and time loading it twice."""
    context = scratch / "big-image"
    context.mkdir()
    shutil.copy2(BUSYBOX, context / "busybox")
    with (context / "weights.bin").open("wb") as weights:
        for _ in range(GIGABYTE // 2**24):
            weights.write(os.urandom(2**24))
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY weights.bin /weights.bin\n"
        'USER 1000:1000\nENTRYPOINT ["/bin/busybox", "true"]\n'
    )
    tag = "isles-portal-bench/big:1"
    client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    shutil.rmtree(context)
    archive = image_save(client, tag, scratch / "big.tar")
    image_id = image_tar_inspect(archive, max_size_bytes=2 * GIGABYTE).image_id
    client.images.remove(tag, force=True)
    try:
        started = time.monotonic()
        image_load(client=client, tar_path=archive, image_id=image_id)
        load_s = time.monotonic() - started
        started = time.monotonic()
        image_load(client=client, tar_path=archive, image_id=image_id)
        cached_s = time.monotonic() - started
    finally:
        client.images.remove(image_id, force=True)
        archive.unlink()
    return load_s, cached_s


if __name__ == "__main__":
    raise SystemExit(main())
