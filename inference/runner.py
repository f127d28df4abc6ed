"""One job on a worker: stage a case, run the algorithm through a runtime, check and store its segmentation.

This is what a ``gpu`` queue task calls between claiming a job and recording it; it holds no database row and
no transaction. An algorithm's own failure (crash, time-out, out of memory, bad output) is returned as a
sentence in ``JobResult.failure``; only the infrastructure's failures (engine gone, disk full) raise.
"""

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from inference.contract import (
    InterfaceSet,
    JsonValue,
    OutputRejected,
    inputs_stage,
    output_collect,
    staged_inputs_digest,
)
from inference.conversions import ConversionCache
from inference.runtime import ContainerRuntime
from inference.sandbox import ContainerRefused, RunOutcome, SandboxLimits, run_failure_sentence

__all__ = ["JobResult", "job_run"]


@dataclass(frozen=True)
class JobResult:
    """How one (algorithm, case) job ended: the stored segmentation, or why there is none."""

    outcome: RunOutcome | None  # None when the container was refused before it ran
    segmentation_path: Path | None
    failure: str | None
    stage_s: float
    collect_s: float


def job_run(
    *,
    runtime: ContainerRuntime,
    image: str,
    case_inputs: Mapping[str, Path | JsonValue],
    interface_set: InterfaceSet,
    reference_image_path: Path,
    destination: Path,
    limits: SandboxLimits,
    gpu_device: str | None = None,
    conversion_cache: ConversionCache | None = None,
    image_digests: Mapping[str, str] | None = None,
    scratch_folder: Path | None = None,
    container_name: str | None = None,
) -> JobResult:
    """Run ``image`` (a reference from ``runtime.image_prepare``) on one case and store its checked
    segmentation at ``destination`` (a .nii.gz).

    ``conversion_cache`` keeps the worker's converted inputs, keyed by ``image_digests`` (the sha256 each
    image slug's file was stored with), so the next job on the same case converts nothing; the same
    digests name the staged case to ``runtime`` (``staged_inputs_digest``), which may keep it for the next
    job on the case (``DockerRuntime``'s input volumes).

    The staged inputs and the output ``runtime`` delivers live in a temporary folder under
    ``scratch_folder`` (the system's temporary folder by default), removed afterwards, what the container
    wrote as its own user included (``runtime.output_clear``). ``container_name`` names the run, so a
    worker that takes the job over can remove it (``runtime.leftover_remove``).
    """
    with tempfile.TemporaryDirectory(prefix="isles-job-", dir=scratch_folder) as scratch:
        started = time.monotonic()
        input_folder = Path(scratch) / "input"
        output_folder = Path(scratch) / "output"
        input_folder.mkdir()
        output_folder.mkdir()
        inputs_stage(
            case_inputs,
            input_folder,
            interface_set=interface_set,
            conversion_cache=conversion_cache,
            image_digests=image_digests,
        )
        input_digest = staged_inputs_digest(
            input_folder, interface_set=interface_set, image_digests=image_digests
        )
        stage_s = time.monotonic() - started
        try:
            outcome = runtime.run(
                image=image,
                input_folder=input_folder,
                output_folder=output_folder,
                limits=limits,
                gpu_device=gpu_device,
                name=container_name,
                input_digest=input_digest,
            )
            collected = _segmentation_collect(
                outcome,
                output_folder=output_folder,
                reference_image_path=reference_image_path,
                destination=destination,
                limits=limits,
                interface_set=interface_set,
            )
        except ContainerRefused as refused:
            return JobResult(
                outcome=None, segmentation_path=None, failure=str(refused), stage_s=stage_s, collect_s=0.0
            )
        finally:
            runtime.output_clear(image=image, output_folder=output_folder)
        return JobResult(
            outcome=outcome,
            segmentation_path=collected.segmentation_path,
            failure=collected.failure,
            stage_s=stage_s,
            collect_s=collected.collect_s,
        )


class _Collected(NamedTuple):
    segmentation_path: Path | None
    failure: str | None
    collect_s: float


def _segmentation_collect(
    outcome: RunOutcome,
    *,
    output_folder: Path,
    reference_image_path: Path,
    destination: Path,
    limits: SandboxLimits,
    interface_set: InterfaceSet,
) -> _Collected:
    """Store the run's checked segmentation, or say why there is none."""
    started = time.monotonic()
    failure = run_failure_sentence(outcome, limits=limits)
    if failure is not None:
        return _Collected(segmentation_path=None, failure=failure, collect_s=0.0)
    try:
        segmentation_path = output_collect(
            output_folder,
            reference_image_path=reference_image_path,
            max_bytes=limits.output_max_bytes,
            destination=destination,
            interface=interface_set.output,
        )
    except OutputRejected as rejected:
        return _Collected(segmentation_path=None, failure=str(rejected), collect_s=time.monotonic() - started)
    return _Collected(segmentation_path=segmentation_path, failure=None, collect_s=time.monotonic() - started)
