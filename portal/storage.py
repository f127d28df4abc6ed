"""The private storage root: dataset files and ground truth, never served by URL."""

from django.core.files.storage import Storage, storages


def private_storage() -> Storage:
    """Return the storage for files that leave the server only through permission-checked views."""
    return storages["private"]
