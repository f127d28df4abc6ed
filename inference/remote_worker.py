"""A GPU worker on any host: it needs the broker, the portal's URL and a worker key, never the database.

It consumes the portal's ``gpu`` queue with concurrency 1, as a worker beside the database does: each
message asks for one more job to be taken. For each, it claims the next job through the portal's worker API
(``POST /api/worker/jobs/next/``: the portal chooses, sharing the workers fairly between teams), fetches the
image's archive (only when its engine lacks the image: images are kept by digest) and the case's files by
the ticket's signed links, checking each against its sha256, runs the job with ``inference.tickets`` (the
code every worker runs), beats while it runs, and reports the outcome with the segmentation. When its own
infrastructure fails (engine gone, disk full, the portal unreachable) it gives the job back and the message
is retried; when the portal says the job is no longer its own (the sweeper gave it to another worker after
this one fell silent, or its submission was stopped) it removes the container.

Start it on the GPU host (``docker/entrypoint worker-gpu-remote`` does the same)::

    CELERY_BROKER_URL=redis://broker:6379/0 ISLES_PORTAL_URL=https://portal.example.org \\
    ISLES_WORKER_KEY=isles-worker-... ISLES_GPU_DEVICE=0 python -m inference.remote_worker

Settings (environment): ``CELERY_BROKER_URL``, ``ISLES_PORTAL_URL`` and ``ISLES_WORKER_KEY`` (required);
``ISLES_GPU_DEVICE`` (the GPU this worker owns; none when empty); ``ISLES_WORKER_CACHE_DIR`` and
``ISLES_WORKER_CACHE_MB`` (fetched inputs and converted inputs, each kept by sha256 up to that size);
``ISLES_CONTAINER_IO`` and ``ISLES_INPUT_VOLUMES_MB`` (how a job's files reach its container, as for any
worker); ``DOCKER_HOST`` (the engine; the environment's default when unset); ``LOG_LEVEL``.
"""

import hashlib
import json
import logging
import os
import secrets
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Final

import docker
from celery import Celery  # type: ignore[import-untyped]
from kombu.entity import Exchange, Queue

from inference.conversions import ConversionCache
from inference.runner import JobResult
from inference.runtime import ContainerRuntime, DockerRuntime
from inference.tickets import JobTicket, StoredFile, ticket_run

__all__ = ["PortalClient", "WorkerSettings", "job_next_remote", "main"]

logger = logging.getLogger(__name__)

_CHUNK_BYTES: Final = 1 << 20
_TIMEOUT_S: Final = 60
TASK_NAME: Final = "portal.algorithms.tasks.job_next_task"
"""The task the portal sends to the ``gpu`` queue: "take one more job"."""


class PortalRefused(Exception):
    """The portal answered a request with an error the worker cannot fix by asking again (a bad key)."""


class ClaimLost(Exception):
    """The portal says the job is no longer this worker's."""


class PortalBusy(OSError):
    """The portal asks to be asked again shortly (every waiting job was being claimed, or it is down)."""


class FetchFailed(OSError):
    """A file arrived other than the portal stored it (size or sha256): fetched again on the retry."""


@dataclass(frozen=True)
class WorkerSettings:
    """What a remote worker is told by its environment."""

    portal_url: str
    key: str
    gpu_device: str | None
    cache_folder: Path
    cache_max_bytes: int
    container_io: str = "auto"
    input_volumes_max_bytes: int = 20480 * 2**20

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "WorkerSettings":
        missing = [name for name in ("ISLES_PORTAL_URL", "ISLES_WORKER_KEY") if not environ.get(name)]
        if missing:
            raise SystemExit(
                f"Set {' and '.join(missing)}: the portal's URL and this worker's key (python manage.py"
                " remote_worker add NAME, on the portal, prints one)."
            )
        return cls(
            portal_url=environ["ISLES_PORTAL_URL"].rstrip("/"),
            key=environ["ISLES_WORKER_KEY"],
            gpu_device=environ.get("ISLES_GPU_DEVICE") or None,
            cache_folder=Path(
                environ.get("ISLES_WORKER_CACHE_DIR") or Path.home() / ".cache" / "isles-worker"
            ),
            cache_max_bytes=int(environ.get("ISLES_WORKER_CACHE_MB", "20000")) * 2**20,
            container_io=environ.get("ISLES_CONTAINER_IO") or "auto",
            input_volumes_max_bytes=int(environ.get("ISLES_INPUT_VOLUMES_MB") or "20480") * 2**20,
        )


class PortalClient:
    """The portal's worker API, over HTTP(S), as one worker."""

    def __init__(self, *, portal_url: str, key: str) -> None:
        self._base = portal_url.rstrip("/")
        self._key = key

    def job_next(self) -> JobTicket | None:
        """Claim the next waiting job; None when none waits."""
        answer = self._post("/api/worker/jobs/next/", body=b"", content_type="application/json")
        return None if answer is None else JobTicket.from_json(answer)

    def beat(self, ticket: JobTicket) -> None:
        """A sign of life for the job; ``ClaimLost`` when it is no longer this worker's."""
        self._post_claim(f"/api/worker/jobs/{ticket.job_id}/beat/", ticket)

    def let_go(self, ticket: JobTicket) -> None:
        """Give the job back unended."""
        self._post_claim(f"/api/worker/jobs/{ticket.job_id}/let-go/", ticket)

    def report(self, ticket: JobTicket, result: JobResult | None) -> None:
        """Send how the job ended (None: this worker failed unexpectedly), with its segmentation."""
        fields = {
            "outcome": None if result is None or result.outcome is None else asdict(result.outcome),
            "failure": None if result is None else result.failure,
            "stage_s": 0.0 if result is None else result.stage_s,
            "collect_s": 0.0 if result is None else result.collect_s,
            "unexpected": result is None,
        }
        segmentation = None if result is None else result.segmentation_path
        body, content_type = _multipart(
            {"claim": ticket.claim, "result": json.dumps(fields)},
            files={"segmentation": segmentation} if segmentation is not None else {},
        )
        self._post(f"/api/worker/jobs/{ticket.job_id}/report/", body=body, content_type=content_type)

    def download(self, stored: StoredFile, target: Path) -> None:
        """Download ``stored`` by its signed link to ``target``, checking its size and sha256."""
        digest, size = hashlib.sha256(), 0
        with urllib.request.urlopen(stored.source, timeout=_TIMEOUT_S) as answer, target.open("wb") as out:
            while chunk := answer.read(_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if size != stored.size_bytes or digest.hexdigest() != stored.sha256:
            raise FetchFailed(
                f"{stored.file_name} arrived with {size} bytes and sha256 {digest.hexdigest()[:12]}, not as"
                f" the portal stored it ({stored.size_bytes} bytes, {stored.sha256[:12]})."
            )

    def _post_claim(self, path: str, ticket: JobTicket) -> None:
        body = json.dumps({"claim": ticket.claim}).encode()
        self._post(path, body=body, content_type="application/json")

    def _post(self, path: str, *, body: bytes, content_type: str) -> Any:
        request = urllib.request.Request(
            self._base + path,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Worker {self._key}",
                "Content-Type": content_type,
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as answer:
                content = answer.read()
        except urllib.error.HTTPError as error:
            detail = _detail(error)
            if error.code == 409:
                raise ClaimLost(detail) from None
            if error.code in (429, 502, 503, 504):
                raise PortalBusy(detail) from None
            raise PortalRefused(f"The portal refused {path} with HTTP {error.code}: {detail}") from None
        return json.loads(content) if content else None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("detail", error.reason))
    except (ValueError, AttributeError):
        return str(error.reason)


def _multipart(fields: Mapping[str, str], *, files: Mapping[str, Path]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``fields`` and ``files`` (small: a segmentation), and its type."""
    boundary = f"isles-{secrets.token_hex(16)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, path in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + path.read_bytes()
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def job_next_remote(
    *, client: PortalClient, runtime: ContainerRuntime, settings: WorkerSettings
) -> int | None:
    """Claim the next job from the portal, run it and report it; its id, or None when none waited.

    The worker's own infrastructure errors (``OSError``, the engine's errors) give the job back and are
    raised for the task to retry; any other error is reported as unexpected (the job fails with the
    portal's general sentence; the traceback is in this worker's log) and raised.
    """
    asked = time.monotonic()
    ticket = client.job_next()
    if ticket is None:
        return None
    claimed = time.monotonic()
    logger.info("Running job %s (%s).", ticket.job_id, ticket.container_name)
    cache = ConversionCache(folder=settings.cache_folder / "conversions", max_bytes=settings.cache_max_bytes)
    downloads = ConversionCache(
        folder=settings.cache_folder / "downloads", max_bytes=settings.cache_max_bytes
    )
    try:
        with tempfile.TemporaryDirectory(prefix="isles-remote-job-") as scratch:
            with _beating(client, ticket, runtime):
                result = ticket_run(
                    ticket,
                    runtime=runtime,
                    fetch=partial(fetch_cached, client=client, downloads=downloads),
                    scratch=Path(scratch),
                    gpu_device=settings.gpu_device,
                    conversion_cache=cache,
                )
            ran = time.monotonic()
            client.report(ticket, result)  # the segmentation lies in the scratch folder until reported
        logger.info(
            "Job %s ended: claimed in %.2f s, run in %.2f s (staged in %.2f s, container %.2f s, collected"
            " in %.2f s), reported in %.2f s.",
            ticket.job_id,
            claimed - asked,
            ran - claimed,
            result.stage_s,
            result.outcome.duration_s if result.outcome else 0.0,
            result.collect_s,
            time.monotonic() - ran,
        )
    except ClaimLost:
        logger.warning("Job %s is no longer this worker's; its outcome was not recorded.", ticket.job_id)
    except (OSError, docker.errors.DockerException):
        logger.warning("Job %s met an infrastructure error; it is given back.", ticket.job_id, exc_info=True)
        _quietly(client.let_go, ticket)
        raise
    except Exception:
        logger.exception("Job %s failed unexpectedly.", ticket.job_id)
        _quietly(client.report, ticket, None)
        raise
    return ticket.job_id


def stored_file_name(stored: StoredFile) -> str:
    """The name the portal gave ``stored``, as a plain file name; ``FetchFailed`` for anything else."""
    name = PurePosixPath(stored.file_name).name
    if name.strip(".") == "":
        raise FetchFailed(f"The portal named a file {stored.file_name!r}, which is no file name.")
    return name


def fetch_cached(
    stored: StoredFile, folder: Path, *, client: PortalClient, downloads: ConversionCache
) -> Path:
    """``stored`` in ``folder``, downloaded once per worker: the next job on the same case (another team's
    submission) links the file ``downloads`` keeps by its sha256 instead of fetching it again."""
    name = stored_file_name(stored)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    downloads.stage(
        Path(name),
        target,
        sha256=stored.sha256,
        image_format=name.split(".", 1)[1] if "." in name else "bin",
        convert=lambda _, destination: client.download(stored, destination),
    )
    return target


def _quietly(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception:
        logger.warning("Could not tell the portal.", exc_info=True)


@contextmanager
def _beating(client: PortalClient, ticket: JobTicket, runtime: ContainerRuntime) -> Iterator[None]:
    """Beat for the ticket every ``heartbeat_s`` while the block runs; when the portal says the job is no
    longer this worker's, remove its container (the run then ends at once) and stop beating."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ticket.heartbeat_s):
            try:
                client.beat(ticket)
            except ClaimLost:
                logger.warning("Job %s was taken from this worker; stopping its container.", ticket.job_id)
                _quietly(lambda: runtime.leftover_remove(name=ticket.container_name))
                return
            except Exception:
                logger.warning("A beat for job %s was not delivered.", ticket.job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"beat of job {ticket.job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def celery_app(broker_url: str) -> Celery:
    """A Celery app that takes the portal's ``gpu`` messages, acks them late, one at a time."""
    app = Celery("isles-remote-worker", broker=broker_url)
    gpu = Queue("gpu", Exchange("gpu"), routing_key="gpu")  # type: ignore[no-untyped-call]
    app.conf.update(
        task_queues=(gpu,),
        task_default_queue="gpu",
        task_default_exchange="gpu",
        task_default_routing_key="gpu",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # As the portal's: a message whose worker died comes back only after this (the sweeper is faster).
        broker_transport_options={"visibility_timeout": 6 * 3600},
    )

    @app.task(  # type: ignore[untyped-decorator]
        name=TASK_NAME,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(OSError, docker.errors.DockerException),
        retry_backoff=True,
        retry_backoff_max=120,
        max_retries=3,
    )
    def job_next_task() -> None:
        settings = WorkerSettings.from_environment()
        runtime = DockerRuntime.with_container_io(
            docker.from_env(),
            container_io=settings.container_io,
            input_volumes_max_bytes=settings.input_volumes_max_bytes,
        )
        try:
            job_next_remote(
                client=PortalClient(portal_url=settings.portal_url, key=settings.key),
                runtime=runtime,
                settings=settings,
            )
        finally:
            runtime.close()

    return app


def main() -> None:
    """Run this host's worker until it is stopped (SIGTERM lets the running job finish)."""
    broker_url = os.environ.get("CELERY_BROKER_URL")
    if not broker_url:
        raise SystemExit("Set CELERY_BROKER_URL to the portal's broker (e.g. redis://broker:6379/0).")
    settings = WorkerSettings.from_environment()
    device = settings.gpu_device if settings.gpu_device is not None else "none"
    app = celery_app(broker_url)
    app.worker_main(
        [
            "worker",
            "--queues",
            "gpu",
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "--hostname",
            f"gpu{device}-remote@{socket.gethostname()}",
            "--loglevel",
            os.environ.get("LOG_LEVEL", "INFO"),
        ]
    )


if __name__ == "__main__":
    main()
