"""A job as a worker receives it: everything needed to run one algorithm on one case, and nothing else.

The portal hands a claimed job to a worker as a ``JobTicket``: the image (its digest and where to fetch
its archive), the case's inputs by slug (stored files with their sha256, or JSON values), the interface
set, the sandbox limits and whether it may have a GPU. A worker beside the database gets files by their
storage names; a worker on another host gets short-lived signed URLs and never opens the database
(``inference.remote_worker``). Either way ``ticket_run`` runs it, so both kinds of worker stage, run and
check a case with the same code: only ``Fetch``, how a stored file becomes a local one, differs.

A ticket names what the container may read: the case's acquisitions and what was known at admission,
never its reference mask or outcomes, which stay on the server.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inference.contract import INTERFACE_SETS, JsonValue
from inference.conversions import ConversionCache
from inference.runner import JobResult, job_run
from inference.runtime import ContainerRuntime
from inference.sandbox import ContainerRefused, SandboxLimits

__all__ = ["Fetch", "JobTicket", "StoredFile", "ticket_run"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredFile:
    """A file the portal stored: ``source`` is its storage name or a signed URL, as the worker's ``Fetch``
    reads it; ``sha256`` and ``size_bytes`` are what it was stored with."""

    source: str
    sha256: str
    size_bytes: int
    file_name: str


# Puts a stored file into a local folder of the worker's (made if need be), or finds it already local, and
# returns its path.
Fetch = Callable[[StoredFile, Path], Path]


@dataclass(frozen=True)
class JobTicket:
    """One claimed job: run ``image`` on the case's ``inputs`` in the sandbox, then report to the portal
    with ``claim`` (only the holder of the claim may report; the portal gives a job up when its holder
    stops beating for ``heartbeat_s`` several times over)."""

    job_id: int
    claim: str
    container_name: str
    image_id: str
    image_archive: StoredFile
    interface_set: str
    inputs: Mapping[str, StoredFile | JsonValue]
    limits: SandboxLimits
    gpu: bool
    heartbeat_s: float

    def to_json(self) -> dict[str, Any]:
        """The ticket as JSON, as the portal's worker API sends it."""
        fields = asdict(self)
        fields["inputs"] = {
            slug: {"file": asdict(value)} if isinstance(value, StoredFile) else {"value": value}
            for slug, value in self.inputs.items()
        }
        return fields

    @classmethod
    def from_json(cls, fields: Mapping[str, Any]) -> "JobTicket":
        """The ticket ``to_json`` wrote; ``KeyError`` or ``TypeError`` when a field is missing or wrong."""
        inputs: dict[str, StoredFile | JsonValue] = {
            slug: StoredFile(**entry["file"]) if "file" in entry else entry["value"]
            for slug, entry in fields["inputs"].items()
        }
        return cls(
            job_id=int(fields["job_id"]),
            claim=str(fields["claim"]),
            container_name=str(fields["container_name"]),
            image_id=str(fields["image_id"]),
            image_archive=StoredFile(**fields["image_archive"]),
            interface_set=str(fields["interface_set"]),
            inputs=inputs,
            limits=SandboxLimits(**fields["limits"]),
            gpu=bool(fields["gpu"]),
            heartbeat_s=float(fields["heartbeat_s"]),
        )


def ticket_run(
    ticket: JobTicket,
    *,
    runtime: ContainerRuntime,
    fetch: Fetch,
    scratch: Path,
    gpu_device: str | None,
    conversion_cache: ConversionCache | None,
) -> JobResult:
    """Run the ticket's job in ``runtime``: prepare its image (fetching the archive only when the runtime
    lacks the image), fetch and stage the case, run it, and check its segmentation, which lies in
    ``scratch`` until the caller has reported it.

    A container of the same name that a dead worker left is removed first. ``gpu_device`` is this
    worker's GPU, given to the container only when the ticket allows one. An
    image the engine refuses ends the job with the sentence (``JobResult.failure``); infrastructure
    errors (engine gone, disk full, a fetch that failed) raise.
    """
    interface_set = INTERFACE_SETS[ticket.interface_set]
    if runtime.leftover_remove(name=ticket.container_name):
        logger.warning("Removed the container a worker left running for job %s.", ticket.job_id)
    try:
        image = runtime.image_prepare(
            image_id=ticket.image_id, archive=lambda: fetch(ticket.image_archive, scratch / "image")
        )
    except ContainerRefused as refused:
        return JobResult(
            outcome=None, segmentation_path=None, failure=str(refused), stage_s=0.0, collect_s=0.0
        )
    case_inputs: dict[str, Path | JsonValue] = {}
    image_digests: dict[str, str] = {}
    for slug, value in ticket.inputs.items():
        if isinstance(value, StoredFile):
            case_inputs[slug] = fetch(value, scratch / "case" / slug)
            image_digests[slug] = value.sha256
        else:
            case_inputs[slug] = value
    reference = case_inputs[interface_set.inputs[0].slug]
    assert isinstance(reference, Path)  # the first input of every interface set is an image
    return job_run(
        runtime=runtime,
        image=image,
        case_inputs=case_inputs,
        interface_set=interface_set,
        reference_image_path=reference,
        destination=scratch / "segmentation.nii.gz",
        limits=ticket.limits,
        gpu_device=gpu_device if ticket.gpu else None,
        conversion_cache=conversion_cache,
        image_digests=image_digests,
        scratch_folder=scratch,
        container_name=ticket.container_name,
    )
