"""Errors of a chunked upload: a refused chunk (with a sentence), and a chunk that starts elsewhere."""

from portal.errors import PortalError


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
