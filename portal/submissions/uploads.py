"""The predictions upload's guard on the request body: the phase's size cap, applied while it streams.

Django parses a multipart body the first time ``request.POST`` or ``request.FILES`` is read (its CSRF
check does so too), writing files to memory or a temporary file as they arrive. The views check the
request's Content-Length first and install ``UploadCapHandler`` before anything reads the body, so a body
over the cap (one whose length was not said, or was said wrongly) stops at the cap, not at its end.
"""

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest

from portal.challenges.models import Phase
from portal.submissions import services


class UploadCapHandler(FileUploadHandler):
    """Count the bytes of the files of a multipart body; ``UploadTooLarge`` as soon as they pass the cap."""

    def __init__(self, request: HttpRequest, *, phase: Phase) -> None:
        super().__init__(request)
        self.phase = phase
        self.received_bytes = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],  # Django's name for the argument
        content_length: int,
        boundary: bytes,
        encoding: str | None = None,
    ) -> None:
        services.submission_upload_size_check(phase=self.phase, size_bytes=content_length or None)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received_bytes += len(raw_data)
        services.submission_upload_size_check(phase=self.phase, size_bytes=self.received_bytes)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def upload_guard_install(request: HttpRequest, *, phase: Phase) -> None:
    """Refuse the request now if its Content-Length is over the phase's cap (``UploadTooLarge``), else
    make its body stop at the cap as it is read. Call before anything reads ``request.POST``/``FILES``."""
    length = request.META.get("CONTENT_LENGTH") or ""
    services.submission_upload_size_check(phase=phase, size_bytes=int(length) if length.isdigit() else None)
    request.upload_handlers.insert(0, UploadCapHandler(request, phase=phase))
