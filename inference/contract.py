"""The algorithm container contract: which files a container finds in ``/input`` and leaves in ``/output``.

The contract is grand-challenge's, so containers written for ISLES'24 run here unchanged. Interfaces are
data (``inference.interfaces``, re-exported here): an ``InterfaceSet`` lists the input slugs of a phase,
their kinds and file formats, and the output. ``inputs_stage`` writes a case into a folder the runtime
mounts at ``/input``:

- an image input at ``images/<slug>/<name>.mha`` (converted from .nii.gz with SimpleITK when the
  interface says mha; a ``ConversionCache`` (``inference.conversions``) keeps converted files by the
  source's sha256, so the same hidden case staged for the next submission is linked, not converted again),
- a JSON input at ``<slug>.json``,
- ``inputs.json`` listing every input as grand-challenge does.

``staged_inputs_digest`` names what was staged without reading the images again (a runtime keeps a
case's inputs by it).

``output_collect`` reads the one segmentation the container wrote, checks it and stores it as a uint8
NIfTI with the geometry of the case's reference image: containers often write no spacing or origin.
"""

import gzip
import hashlib
import json
import os
import shutil
import stat
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import SimpleITK as sitk

from inference.conversions import ConversionCache, file_sha256
from inference.interfaces import (
    INTERFACE_SETS,
    ISLES22,
    ISLES24,
    SEGMENTATION,
    Interface,
    InterfaceKind,
    InterfaceSet,
)

__all__ = [
    "INTERFACE_SETS",
    "ISLES22",
    "ISLES24",
    "Interface",
    "InterfaceKind",
    "InterfaceSet",
    "OutputRejected",
    "folder_make_readable",
    "inputs_stage",
    "output_collect",
    "staged_inputs_digest",
]

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
IMAGE_SUFFIXES: Final = (".mha", ".nii.gz", ".nii")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_NIFTI_HEADER_BYTES: Final = 348
_METAIMAGE_HEADER_MAX_BYTES: Final = 64 * 1024
# Changes when staging writes other files for the same inputs, so no runtime keeps the old ones.
_STAGING_VERSION: Final = b"isles-portal staged inputs 1\n"


class OutputRejected(Exception):
    """The container's output is not a segmentation we can score; the message says what to fix."""


def inputs_stage(
    case_inputs: Mapping[str, Path | JsonValue],
    folder: Path,
    *,
    interface_set: InterfaceSet,
    conversion_cache: ConversionCache | None = None,
    image_digests: Mapping[str, str] | None = None,
) -> Path:
    """Write one case's inputs into ``folder`` (the future ``/input``) and return ``folder``.

    ``case_inputs`` maps every required input slug of ``interface_set`` to a file (images) or a value
    (JSON); an input that is not required may be absent. ``image_digests`` maps image slugs to the sha256
    their files were stored with, the key of ``conversion_cache`` (a file without one is hashed). A
    required slug missing or an unknown one raises ``ValueError``: staging a case the phase does not
    describe is our bug, not the participant's.
    """
    missing = [
        interface.slug
        for interface in interface_set.inputs
        if interface.required and interface.slug not in case_inputs
    ]
    if missing:
        raise ValueError(f"The case lacks the inputs {', '.join(missing)} that {interface_set.name} needs.")
    listing = []
    for slug, value in case_inputs.items():
        interface = interface_set.input_named(slug)
        if interface.kind is InterfaceKind.IMAGE:
            if not isinstance(value, Path):
                raise ValueError(f"Input {slug!r} is an image; it needs a file, not {type(value).__name__}.")
            name = _image_stage(
                value,
                folder / interface.relative_path,
                interface,
                conversion_cache=conversion_cache,
                sha256=(image_digests or {}).get(slug),
            )
            listing.append(_listing_entry(interface, image_name=name, value=None))
        else:
            if isinstance(value, Path):
                raise ValueError(f"Input {slug!r} is JSON; it needs a value, not the file {value}.")
            (folder / interface.relative_path).write_text(json.dumps(value))
            listing.append(_listing_entry(interface, image_name=None, value=value))
    (folder / "inputs.json").write_text(json.dumps(listing, indent=2))
    folder_make_readable(folder)
    return folder


def staged_inputs_digest(
    folder: Path, *, interface_set: InterfaceSet, image_digests: Mapping[str, str] | None
) -> str | None:
    """A sha256 naming what ``inputs_stage`` wrote into ``folder``: every file's path and size, an image
    by the sha256 its source was stored with (``image_digests``; the staged file is that source, copied or
    converted, so its content follows), any other file (JSON, ``inputs.json``) by its own content. None
    when an image's stored digest is unknown (reading a full-size case again would cost seconds)."""
    digests = image_digests or {}
    image_slugs = {
        interface.relative_path: interface.slug
        for interface in interface_set.inputs
        if interface.kind is InterfaceKind.IMAGE
    }
    digest = hashlib.sha256(_STAGING_VERSION)
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(folder).as_posix()
        slug = image_slugs.get(path.parent.relative_to(folder).as_posix())
        if slug is None:
            content = f"sha256 {file_sha256(path)}"
        elif slug in digests:
            content = f"source sha256 {digests[slug]}"
        else:
            return None
        digest.update(f"{relative}\0{path.stat().st_size}\0{content}\n".encode())
    return digest.hexdigest()


def folder_make_readable(folder: Path) -> None:
    """Make ``folder`` and everything in it readable by any user (0755 folders, 0644 files): a container
    reads ``/input`` as its image's user, whatever uid that is, and the worker writes with umask 077."""
    for directory, _, files in os.walk(folder):
        os.chmod(directory, 0o755)
        for file_name in files:
            os.chmod(os.path.join(directory, file_name), 0o644)


def output_collect(
    output_folder: Path,
    *,
    reference_image_path: Path,
    max_bytes: int,
    destination: Path,
    interface: Interface = SEGMENTATION,
) -> Path:
    """Check the one segmentation under ``output_folder`` and store it at ``destination`` (a .nii.gz).

    The segmentation must be one regular file (links are refused, never followed) of at most ``max_bytes``
    that holds its own voxels (a NIfTI-1 single file or a MetaImage with ``ElementDataFile = LOCAL``, the
    format read from its content whatever its name), readable as an image with the reference's size, every
    value finite. Values are binarised with ``> 0``,
    as ground truth is, so {0, 255} or probabilities above zero count as lesion; NaN or infinity is refused
    because it means the algorithm broke, not that it chose. The stored mask is uint8 {0, 1} with the
    reference's spacing, origin and direction. Raises ``OutputRejected`` with a sentence naming the path.
    """
    path = _output_file_find(output_folder, interface)
    shown = f"/output/{interface.relative_path}/{path.name}"
    size = path.lstat().st_size
    if size > max_bytes:
        raise OutputRejected(f"{shown} is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:g} MB.")
    image_io, suffix = _self_contained_format(path, shown)
    reference = _image_information(reference_image_path)
    with tempfile.TemporaryDirectory(prefix="output-collect-") as folder:
        # ITK's NIfTI reader goes by the name's suffix: give it one that matches the content.
        named = Path(folder) / f"segmentation{suffix}"
        named.symlink_to(path.resolve())
        # Header first: a header claiming a huge grid must not make the worker allocate it.
        try:
            reader = _image_information(named, image_io=image_io)
        except RuntimeError:
            raise OutputRejected(f"{shown} could not be read as an image (.mha or .nii.gz).") from None
        if reader.GetSize() != reference.GetSize() or reader.GetNumberOfComponents() != 1:
            raise OutputRejected(
                f"{shown} is {_size_text(reader.GetSize())} voxels; the case's images are"
                f" {_size_text(reference.GetSize())}: write the segmentation on the input grid."
            )
        try:
            segmentation: Any = reader.Execute()
        except RuntimeError:
            raise OutputRejected(f"{shown} could not be read as an image (.mha or .nii.gz).") from None
    values = sitk.GetArrayViewFromImage(segmentation)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise OutputRejected(
            f"{shown} holds NaN or infinite values; write 0 for background and 1 for lesion."
        )
    mask: Any = sitk.GetImageFromArray((values > 0).astype(np.uint8))
    mask.SetSpacing(reference.GetSpacing())
    mask.SetOrigin(reference.GetOrigin())
    mask.SetDirection(reference.GetDirection())
    destination.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(mask, str(destination), useCompression=True, compressionLevel=1)
    return destination


def _image_information(path: Path, *, image_io: str | None = None) -> Any:  # Any: SimpleITK is untyped
    """A reader of ``path`` (with ``image_io``, SimpleITK's ImageIO of that name) that has read the header
    only (size, spacing, origin, direction)."""
    reader: Any = sitk.ImageFileReader()  # type: ignore[no-untyped-call]  # SimpleITK has no annotations
    if image_io is not None:
        reader.SetImageIO(image_io)
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def _image_stage(
    source: Path,
    directory: Path,
    interface: Interface,
    *,
    conversion_cache: ConversionCache | None,
    sha256: str | None,
) -> str:
    """Put ``source`` into ``directory`` in the interface's format; return the file name it got there."""
    stem = _image_stem(source.name)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{stem}.{interface.image_format}"
    if source.name.endswith(f".{interface.image_format}"):
        shutil.copyfile(
            source, target
        )  # a copy, not a link: staging makes it readable, not the dataset's file
    elif conversion_cache is None:
        _mha_convert(source, target)
    else:
        conversion_cache.stage(
            source, target, sha256=sha256, image_format=interface.image_format, convert=_mha_convert
        )
    return target.name


def _mha_convert(source: Path, target: Path) -> None:
    """Rewrite an image as an uncompressed MetaImage (fastest for the container to read)."""
    image: Any = sitk.ReadImage(str(source))
    for key in image.GetMetaDataKeys():
        image.EraseMetaData(key)  # NIfTI header notes have no MetaImage field; ITK would warn for each
    sitk.WriteImage(image, str(target), useCompression=False, imageIO="MetaImageIO")


def _image_stem(name: str) -> str:
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return Path(name).stem


def _listing_entry(interface: Interface, *, image_name: str | None, value: JsonValue) -> dict[str, JsonValue]:
    return {
        "interface": {
            "slug": interface.slug,
            "kind": interface.kind.value,
            "relative_path": interface.relative_path,
        },
        "value": value,
        "file": None,
        "image": None if image_name is None else {"name": image_name},
    }


def _output_file_find(output_folder: Path, interface: Interface) -> Path:
    """The one image file in the output interface's folder; links anywhere on the way are refused."""
    expected = f"/output/{interface.relative_path}/"
    folder = output_folder
    for part in Path(interface.relative_path).parts:
        folder = folder / part
        try:
            mode = folder.lstat().st_mode
        except FileNotFoundError:
            raise OutputRejected(
                f"The algorithm wrote no segmentation: expected one .mha or .nii.gz file in {expected}."
            ) from None
        if not stat.S_ISDIR(mode):
            raise OutputRejected(
                f"/output/{folder.relative_to(output_folder)} must be a folder, not a link or file."
            )
    images = sorted(entry for entry in folder.iterdir() if entry.name.endswith(IMAGE_SUFFIXES))
    if not images:
        raise OutputRejected(
            f"The algorithm wrote no segmentation: expected one .mha or .nii.gz file in {expected}."
        )
    if len(images) > 1:
        names = ", ".join(image.name for image in images)
        raise OutputRejected(f"{expected} holds {len(images)} images ({names}); write exactly one.")
    if not stat.S_ISREG(images[0].lstat().st_mode):
        raise OutputRejected(f"{expected}{images[0].name} is a link or special file; write the image itself.")
    return images[0]


def _self_contained_format(path: Path, shown: str) -> tuple[str, str]:
    """The SimpleITK ImageIO and file suffix the output's content (not its name) calls for.

    Only a file that holds its own voxels is read: a NIfTI-1 single file (magic ``n+1``), gzipped or not,
    or a MetaImage whose header ends with ``ElementDataFile = LOCAL``. A NIfTI header whose voxels are in
    another file (``ni1``), a MetaImage naming another file, a list or a pattern of files could point at
    the worker's files. This is inference/'s own copy of the rule ``evaluation.io.image_header_read``
    applies in the portal (inference/ imports nothing from evaluation/), kept to what the output needs.
    """
    with path.open("rb") as handle:
        head = handle.read(_METAIMAGE_HEADER_MAX_BYTES)
    if head[:2] == _GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as stream:
                head = stream.read(_NIFTI_HEADER_BYTES)
        except (OSError, EOFError, zlib.error):
            raise OutputRejected(f"{shown} is gzipped but could not be decompressed.") from None
        if _nifti_magic(head) != b"n+1":
            raise OutputRejected(f"{shown} is gzipped but holds no NIfTI-1 image; write .mha or .nii.gz.")
        return "NiftiImageIO", ".nii.gz"
    magic = _nifti_magic(head)
    if magic == b"n+1":
        return "NiftiImageIO", ".nii"
    if magic is not None:
        raise OutputRejected(
            f"{shown} is a NIfTI header whose voxels are in another file; write one .mha or .nii.gz file."
        )
    _metaimage_check_data_is_local(head, shown)
    return "MetaImageIO", ".mha"


def _nifti_magic(head: bytes) -> bytes | None:
    """A NIfTI-1 header's magic (``n+1`` single file, ``ni1`` pair), or None when ``head`` is not one."""
    if len(head) < _NIFTI_HEADER_BYTES or _NIFTI_HEADER_BYTES not in (
        int.from_bytes(head[:4], "little"),
        int.from_bytes(head[:4], "big"),
    ):
        return None
    return head[344:347] if head[344:347] in (b"n+1", b"ni1") else b"?"


def _metaimage_check_data_is_local(head: bytes, shown: str) -> None:
    """Refuse a MetaImage header whose voxels live in another file: it could point at the worker's files.

    Lines end at ``\\n`` as MetaIO's do; one holding a ``\\r`` is refused (a reader splitting lines there
    would see a different ElementDataFile line than MetaIO), and the key is matched in any case.
    """
    for line in head.split(b"\n"):
        line = line.removesuffix(b"\r")
        if b"\r" in line:
            raise OutputRejected(f"{shown} must hold its voxels itself (ElementDataFile = LOCAL).")
        key, separator, value = line.partition(b"=")
        if separator and key.strip().lower() == b"elementdatafile":
            if value.strip() not in (b"LOCAL", b"Local", b"local"):
                raise OutputRejected(f"{shown} must hold its voxels itself (ElementDataFile = LOCAL).")
            return
    raise OutputRejected(f"{shown} could not be read as an image (.mha or .nii.gz).")


def _size_text(size: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in size)
