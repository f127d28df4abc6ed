"""Errors of the algorithms app, and the errors that mean the worker's infrastructure failed."""

import docker.errors
import requests.exceptions

from portal.errors import PortalError

# A job that raises one of these is retried (the task's ``retry_on``): the engine went away, the disk is
# full. An algorithm's own failure is never one of them; it is recorded as a sentence and not retried.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    OSError,
)


class UploadRefused(PortalError):
    """An upload (or one of its chunks) is refused; the message says what to do instead."""


class UploadOffsetMismatch(Exception):
    """A chunk does not start where the upload stands; the client resumes from ``received_bytes``."""

    def __init__(self, *, received_bytes: int, start: int) -> None:
        self.received_bytes = received_bytes
        super().__init__(
            f"This chunk starts at byte {start} but the server has {received_bytes} bytes of the upload; "
            f"send from byte {received_bytes}."
        )
