"""What a row needs to be a resumable upload: the upload's size, how much of it arrived, and its parts.

A model of an app whose people upload large files in chunks (an algorithm image, a release archive)
inherits ``ChunkedUpload``; ``portal.uploads.services`` appends to it and puts it together.
"""

import uuid

from django.db import models
from django.db.models import Value


class ChunkedUpload(models.Model):
    """An upload sent chunk by chunk; each chunk is stored as one part until the upload is whole, when
    the parts are joined into ``file_name`` (see ``portal.uploads.services``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file_name = models.CharField(
        max_length=255, help_text="Name of the whole file in private storage, once every chunk arrived."
    )
    total_bytes = models.PositiveBigIntegerField()
    received_bytes = models.PositiveBigIntegerField(default=0)
    part_names = models.JSONField(
        default=list,
        db_default=Value([], output_field=models.JSONField()),
        blank=True,
        help_text="The stored parts holding the bytes received so far, in order (joined once whole).",
    )
    sha256 = models.CharField(
        max_length=64, blank=True, db_default="", help_text="Of the whole file, once it arrived."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.received_bytes} of {self.total_bytes} bytes)"

    @property
    def is_complete(self) -> bool:
        return self.received_bytes == self.total_bytes
