"""Private storage (dataset files, ground truth, uploads, job outputs): a local folder, or the ``private/``
prefix of an object store's bucket (``STORAGE_URL``). Its files leave only through permission-checked views
and through the signed links made here, which let anyone holding one fetch one private file for a while
without logging in (a remote GPU worker fetching a job's inputs, a download after its check)."""

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import cast

from django.conf import settings
from django.core import signing
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse
from django.utils.functional import LazyObject, empty
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage

from portal.errors import PortalError

# Only signed-file tokens verify under this salt: no other signature of the portal's secret opens a file.
_SIGNED_FILE_SALT = "portal.storage.private-file"


class _PrivateStorage(LazyObject):
    """``STORAGES["private"]``, looked up when first used and again after a test changes ``STORAGES`` (as
    Django's ``default_storage`` is): file fields take their storage once, when their model is defined."""

    def _setup(self) -> None:
        self._wrapped = storages["private"]


_private_storage = _PrivateStorage()


@receiver(setting_changed)
def _private_storage_forget(*, setting: str, **kwargs: object) -> None:
    if setting == "STORAGES":
        _private_storage._wrapped = empty


def private_storage() -> Storage:
    """Return the storage for files that leave the server only through permission-checked views."""
    return cast(Storage, _private_storage)


def private_storage_signs_urls() -> bool:
    """Whether private files live in an object store that hands them out itself, by presigned URL."""
    return isinstance(storages["private"], S3Storage)


class SignedLinkRefused(PortalError):
    """A signed link that is not one the portal made, or no longer holds."""

    http_status = 403


@dataclass(frozen=True)
class SignedPrivateFile:
    """What a valid signed link gives: the private storage's file and the name to download it as."""

    name: str
    filename: str | None


def private_file_signed_url(name: str, *, max_age_s: int, filename: str | None = None) -> str:
    """An absolute URL from which anyone holding it may GET the private storage's file ``name`` for
    ``max_age_s`` seconds, without logging in; ``filename`` names the download. The caller has checked
    that whoever receives the URL may read the file.

    In an object store (S3), it is the store's presigned URL, which names the download with
    Content-Disposition. On the file system, it is the portal's own (``ISLES_PORTAL_URL``), whose token is
    a signature of the name, the download's name and the link's lifetime, made with the portal's secret.
    """
    _storage_name_check(name)
    storage = storages["private"]
    if isinstance(storage, S3Storage):
        disposition = None if filename is None else content_disposition_header(True, filename)
        parameters = None if disposition is None else {"ResponseContentDisposition": disposition}
        return str(storage.url(name, parameters=parameters, expire=max_age_s))
    payload = {"name": name, "filename": filename, "max_age_s": max_age_s}
    token = signing.TimestampSigner(salt=_SIGNED_FILE_SALT).sign_object(payload)
    return settings.ISLES_PORTAL_URL.rstrip("/") + reverse("private-file-signed", args=[token])


def private_file_signed_read(*, token: str) -> SignedPrivateFile:
    """The file a token of ``private_file_signed_url`` names; ``SignedLinkRefused`` when the token was
    not signed by the portal for a file, was changed, or is older than the lifetime it was signed with."""
    signer = signing.TimestampSigner(salt=_SIGNED_FILE_SALT)
    try:
        payload = signer.unsign_object(token)
        signer.unsign_object(token, max_age=int(payload["max_age_s"]))
        name, filename = str(payload["name"]), payload["filename"]
        _storage_name_check(name)
    except signing.SignatureExpired:
        raise SignedLinkRefused(
            "This download link has expired: ask the portal for a new one.", code="signed_link_expired"
        ) from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise SignedLinkRefused(
            "This download link is not one the portal made: ask the portal for a new one.",
            code="signed_link_invalid",
        ) from None
    return SignedPrivateFile(name=name, filename=None if filename is None else str(filename))


def _storage_name_check(name: str) -> None:
    """Refuse a name that could lead out of the storage's root: absolute, with a ``..``, or empty."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise ValueError(f"{name!r} is not a name inside private storage.")
