"""Hostile and corrupt mask files, made byte by byte, for every reader of participant files.

The evaluation's reader, the container contract's copy of its rule and the portal's checks are all
tested against these same files: MetaImage headers whose voxels are in another file (however the header
says so), detached NIfTI pairs, files whose name says one format and whose content another, and masks
whose header or data are broken.
"""

import gzip
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

# Every way a MetaImage header can put its voxels outside the file (``{secret}`` is replaced by the path,
# relative or absolute, of a file beside or above the mask), as SimpleITK's MetaIO reads headers: keys as
# written, values trimmed, lines ending at \n only, and LOCAL, Local or local for "the voxels follow".
ELSEWHERE = [
    pytest.param("ElementDataFile = {secret}\n", id="a-relative-or-absolute-file"),
    pytest.param("ElementDataFile = LIST\n{secret}\n", id="a-list-of-files"),
    pytest.param("ElementDataFile = slice%03d.raw 1 4 1\n", id="a-file-pattern"),
    pytest.param("ElementDataFile = LoCaL\n", id="a-file-named-like-local"),
    pytest.param(
        "Comment = x\rElementDataFile = LOCAL\nElementDataFile = {secret}\n",
        id="a-carriage-return-hiding-a-line",
    ),
]
ELSEWHERE_SAYS = (
    r"keeps its voxels in another file|is not a readable image: its MetaImage header breaks a line with \\r"
)
"""What the evaluation's reader says of them (a regular expression)."""


def metaimage_header(data_file_lines: str, *, size: Sequence[int] = (6, 5, 4), secret: str = "") -> bytes:
    """A MetaImage header of ``size`` (x, y, z) uint8 voxels ending with ``data_file_lines``."""
    dims = " ".join(str(n) for n in size)
    return (
        f"ObjectType = Image\nNDims = 3\nDimSize = {dims}\nElementType = MET_UCHAR\n"
        + data_file_lines.format(secret=secret)
    ).encode()


def metaimage_bytes(
    voxels: np.ndarray, *, element_type: str = "MET_UCHAR", channels: int = 1, data_file: str = "LOCAL"
) -> bytes:
    """A self-contained MetaImage of ``voxels`` ([z, y, x]), written as MetaIO writes one."""
    z, y, x = voxels.shape[:3]
    header = (
        f"ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        f"DimSize = {x} {y} {z}\nElementNumberOfChannels = {channels}\nElementType = {element_type}\n"
        f"ElementDataFile = {data_file}\n"
    )
    return header.encode() + np.ascontiguousarray(voxels).tobytes()


def nifti_bytes(
    voxels: np.ndarray,
    *,
    magic: bytes = b"n+1",
    datatype: int | None = None,
    vox_offset: float = 352.0,
    slope: float = 0.0,
    intercept: float = 0.0,
    dims: Sequence[int] | None = None,
    spacing_mm: Sequence[float] = (0.5, 0.5, 2.0),
) -> bytes:
    """An uncompressed little-endian NIfTI-1 file of ``voxels`` ([z, y, x]) with the header fields given.

    ``datatype`` defaults to the array's; ``dims`` to its (x, y, z); the voxels follow at ``vox_offset``
    (or right after the header when it is not a usable number).
    """
    codes = {"uint8": 2, "int16": 4, "int32": 8, "float32": 16, "float64": 64, "uint16": 512, "complex64": 32}
    z, y, x = voxels.shape[:3]
    size = list(dims) if dims is not None else [3, x, y, z]
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, *(size + [1] * (8 - len(size))))
    code = datatype if datatype is not None else codes[voxels.dtype.name]
    struct.pack_into("<hh", header, 70, code, voxels.dtype.itemsize * 8)
    struct.pack_into("<8f", header, 76, 1.0, *spacing_mm, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<fff", header, 108, vox_offset, slope, intercept)
    header[344:348] = magic + b"\0"
    start = int(vox_offset) if np.isfinite(vox_offset) and 352 <= vox_offset < 2**24 else 352
    return bytes(header) + bytes(start - 348) + np.ascontiguousarray(voxels).tobytes()


@dataclass(frozen=True)
class CorruptMask:
    """A mask file that cannot be scored: its name in the archive, its bytes and what the sentence says."""

    name: str
    content: bytes
    says: str


def corrupt_masks(case: str, *, size: Sequence[int] = (6, 5, 4)) -> list[object]:
    """One pytest.param per way a mask of ``case`` on a grid of ``size`` (x, y, z) can be broken."""
    x, y, z = size
    lesion = np.zeros((z, y, x), np.uint8)
    lesion[:2, :2, :2] = 1
    whole = nifti_bytes(lesion)
    gzipped = gzip.compress(whole, mtime=0)
    damaged = bytearray(
        gzip.compress(
            nifti_bytes(np.random.default_rng(1).integers(0, 2, (z, y, x), np.uint8) * 255), mtime=0
        )
    )
    damaged[30:60] = bytes(b ^ 0x5A for b in damaged[30:60])
    cases = [
        ("truncated-nii-gz", f"{case}.nii.gz", gzipped[: len(gzipped) // 2], "could not be decompressed"),
        ("truncated-nii", f"{case}.nii", whole[:400], "ends before its"),
        ("damaged-deflate", f"{case}.nii.gz", bytes(damaged), "could not be decompressed"),
        ("complex", f"{case}.nii", nifti_bytes(lesion.astype(np.complex64)), "stores complex numbers"),
        (
            "rgb",
            f"{case}.nii",
            nifti_bytes(np.repeat(lesion[..., None], 3, -1), datatype=128),
            "stores RGB colours",
        ),
        (
            "vector-mha",
            f"{case}.mha",
            metaimage_bytes(np.repeat(lesion[..., None], 3, -1), channels=3),
            "holds 3 values per voxel",
        ),
        (
            "nan-vox-offset",
            f"{case}.nii",
            nifti_bytes(lesion, vox_offset=float("nan")),
            "declares its voxels at byte nan",
        ),
        (
            "far-vox-offset",
            f"{case}.nii",
            nifti_bytes(lesion, vox_offset=float(2**21 + 352)),
            "past its header",
        ),
        (
            "nan-intercept",
            f"{case}.nii",
            nifti_bytes(lesion, slope=2.0, intercept=float("nan")),
            "intercept that is not a number",
        ),
        ("zero-size", f"{case}.nii", nifti_bytes(lesion, dims=[3, x, 0, z]), "which no image has"),
        ("detached-header", f"{case}.nii", nifti_bytes(lesion, magic=b"ni1"), "voxels are in another file"),
    ]
    return [pytest.param(CorruptMask(name, content, says), id=label) for label, name, content, says in cases]
