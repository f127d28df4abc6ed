"""Reading lesion masks from NIfTI (.nii, .nii.gz) and MetaImage (.mha) files as binary arrays.

Evaluation spends most of its time reading files, so .nii and .nii.gz are parsed here: the 348-byte NIfTI-1
header with NumPy and the voxels streamed through the fastest gzip decompressor installed (ISA-L's igzip
when the ``isal`` package is there, the standard library's otherwise), binarised chunk by chunk with
``> 0`` so the decompressed volume is never held whole. Every other format goes through SimpleITK.

Arrays are indexed ``[z, y, x]`` (as SimpleITK's ``GetArrayFromImage``); spacing and origin are given in
millimetres in ``(x, y, z)`` order, origin in ITK's LPS convention, so files read by either path compare.
"""

import gzip
import importlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "GZIP_DECOMPRESSOR",
    "GZIP_MAGIC",
    "MASK_SUFFIXES",
    "Mask",
    "gzip_decompress",
    "gzip_open",
    "read_mask",
    "same_spacing",
    "size_text",
    "spacing_text",
]

MASK_SUFFIXES: Final = (".nii.gz", ".nii", ".mha")
GZIP_MAGIC: Final = b"\x1f\x8b"
"""The first two bytes of every gzip stream, a ``.nii.gz`` file's included."""

BoolArray = npt.NDArray[np.bool_]

_NIFTI_HEADER_BYTES: Final = 348
# Chunks that stay in the CPU cache between decompressing and binarising: 1 MiB measured fastest here.
_CHUNK_BYTES: Final = 1024 * 1024
_NIFTI_DTYPES: Final[dict[int, str]] = {
    2: "u1",
    4: "i2",
    8: "i4",
    16: "f4",
    64: "f8",
    256: "i1",
    512: "u2",
    768: "u4",
    1024: "i8",
    1280: "u8",
}


@dataclass(frozen=True)
class Mask:
    """A binary lesion mask and the geometry of the file it came from."""

    array: BoolArray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    @property
    def shape_text(self) -> str:
        """The size as a reader would say it (see ``size_text``)."""
        return size_text(self.array.shape[::-1])

    @property
    def voxel_volume_ml(self) -> float:
        return math.prod(self.spacing_mm) / 1000.0


def size_text(size: Sequence[int]) -> str:
    """A size in voxels, ``(x, y, z)``, as a reader would say it: ``512x512x80``."""
    return "x".join(str(n) for n in size)


def spacing_text(spacing_mm: Sequence[float]) -> str:
    """A voxel spacing in mm, ``(x, y, z)``, as a reader would say it: ``0.4492 x 0.4492 x 2``."""
    return " x ".join(f"{value:.4g}" for value in spacing_mm)


def same_spacing(spacing_mm: Sequence[float], other_mm: Sequence[float]) -> bool:
    """Whether two voxel spacings are the same to one part in 10^4: headers store float32, and tools that
    write a mask on an image's grid round its spacing differently.

    >>> same_spacing((0.44921875, 0.44921875, 2.0), (0.449219, 0.449219, 2.0))
    True
    >>> same_spacing((0.45, 0.45, 2.0), (0.45, 0.45, 2.5))
    False
    """
    return len(spacing_mm) == len(other_mm) and all(
        math.isclose(value, other, rel_tol=1e-4) for value, other in zip(spacing_mm, other_mm, strict=True)
    )


def _fastest_gzip() -> ModuleType:
    """ISA-L's ``isal.igzip`` (several times faster) if installed, else ``gzip``: the same open() and
    decompress(). isal ships wheels for common platforms only; the standard library always works."""
    try:
        return importlib.import_module("isal.igzip")
    except ImportError:
        return gzip


_GZIP: Final = _fastest_gzip()
GZIP_DECOMPRESSOR: Final = _GZIP.__name__


def gzip_decompress(data: bytes) -> bytes:
    """Decompress gzip bytes with the same decompressor ``read_mask`` uses (for the benchmark)."""
    decompressed: bytes = _GZIP.decompress(data)
    return decompressed


def gzip_open(path: Path) -> io.BufferedIOBase:
    """Open a gzip file for streamed reading with the decompressor ``read_mask`` uses."""
    stream: io.BufferedIOBase = _GZIP.open(path, "rb")
    return stream


def read_mask(path: Path) -> Mask:
    """Read a mask file and binarise it with ``> 0`` (after the NIfTI scaling, if the header sets one).

    Raises ``ValueError`` with a sentence naming the file when it is not a readable 3D image.
    """
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        with gzip_open(path) as stream:
            return _read_nifti(stream, path=path)
    if name.endswith(".nii"):
        with path.open("rb") as stream:
            return _read_nifti(stream, path=path)
    return _read_with_simpleitk(path)


def _read_with_simpleitk(path: Path) -> Mask:
    import SimpleITK as sitk  # imported here: it is slow to import, and NIfTI, the common case, skips it

    try:
        image: Any = sitk.ReadImage(str(path))  # Any: SimpleITK's Image methods carry no annotations
    except RuntimeError as error:
        raise ValueError(
            f"{path.name} is not a readable image: {str(error).strip().splitlines()[-1]}"
        ) from error
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{path.name} is not a 3D single-channel image.")
    spacing = image.GetSpacing()
    origin = image.GetOrigin()
    return Mask(
        array=sitk.GetArrayViewFromImage(image) > 0,
        spacing_mm=(spacing[0], spacing[1], spacing[2]),
        origin_mm=(origin[0], origin[1], origin[2]),
    )


@dataclass(frozen=True)
class _NiftiHeader:
    shape_zyx: tuple[int, int, int]
    dtype: np.dtype
    voxel_offset: int
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    is_above_zero: Callable[[np.ndarray, BoolArray], None]


def _read_nifti(stream: io.BufferedIOBase, *, path: Path) -> Mask:
    try:
        raw_header = stream.read(_NIFTI_HEADER_BYTES)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path.name} could not be decompressed: {error}") from error
    header = _parse_nifti_header(raw_header, path=path)
    try:
        stream.read(header.voxel_offset - _NIFTI_HEADER_BYTES)
        array = _read_binarised(stream, header=header, path=path)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path.name} could not be decompressed: {error}") from error
    return Mask(array=array, spacing_mm=header.spacing_mm, origin_mm=header.origin_mm)


def _read_binarised(stream: io.BufferedIOBase, *, header: _NiftiHeader, path: Path) -> BoolArray:
    """Stream the voxels in chunks into a preallocated boolean array, binarising each chunk."""
    voxels = math.prod(header.shape_zyx)
    itemsize = header.dtype.itemsize
    out = np.empty(voxels, dtype=bool)
    chunk_voxels = max(_CHUNK_BYTES // itemsize, 1)
    buffer = bytearray(chunk_voxels * itemsize)
    view = memoryview(buffer)
    done = 0
    while done < voxels:
        count = min(chunk_voxels, voxels - done)
        wanted = count * itemsize
        got = 0
        while got < wanted:
            read = stream.readinto(view[got:wanted])
            if not read:
                raise ValueError(f"{path.name} ends before its {header.shape_zyx[::-1]} voxels do.")
            got += read
        values = np.frombuffer(buffer, dtype=header.dtype, count=count)
        header.is_above_zero(values, out[done : done + count])
        done += count
    return out.reshape(header.shape_zyx)


def _parse_nifti_header(raw: bytes, *, path: Path) -> _NiftiHeader:
    if len(raw) < _NIFTI_HEADER_BYTES:
        raise ValueError(f"{path.name} is too short to be a NIfTI file.")
    endian = "<" if np.frombuffer(raw, "<i4", 1, 0)[0] == _NIFTI_HEADER_BYTES else ">"
    if np.frombuffer(raw, f"{endian}i4", 1, 0)[0] != _NIFTI_HEADER_BYTES or raw[344:347] not in (
        b"n+1",
        b"ni1",
    ):
        raise ValueError(f"{path.name} is not a NIfTI-1 file.")
    dim = np.frombuffer(raw, f"{endian}i2", 8, 40)
    ndim = int(dim[0])
    if not 3 <= ndim <= 7 or any(int(n) != 1 for n in dim[4 : ndim + 1]):
        raise ValueError(f"{path.name} is not a 3D image (it has {ndim} dimensions).")
    code = int(np.frombuffer(raw, f"{endian}i2", 1, 70)[0])
    if code not in _NIFTI_DTYPES:
        raise ValueError(f"{path.name} stores voxels as NIfTI data type {code}, which masks do not use.")
    pixdim = np.frombuffer(raw, f"{endian}f4", 8, 76).astype(float)
    vox_offset, slope, intercept = (float(v) for v in np.frombuffer(raw, f"{endian}f4", 3, 108))
    return _NiftiHeader(
        shape_zyx=(int(dim[3]), int(dim[2]), int(dim[1])),
        dtype=np.dtype(f"{endian}{_NIFTI_DTYPES[code]}"),
        voxel_offset=max(int(vox_offset), _NIFTI_HEADER_BYTES),
        spacing_mm=(abs(float(pixdim[1])), abs(float(pixdim[2])), abs(float(pixdim[3]))),
        origin_mm=_nifti_origin_lps(raw, endian=endian),
        is_above_zero=_above_zero_rule(slope=slope, intercept=intercept),
    )


def _nifti_origin_lps(raw: bytes, *, endian: str) -> tuple[float, float, float]:
    """The first voxel's position from the sform (if set) or qform, turned from RAS into ITK's LPS."""
    qform_code, sform_code = (int(v) for v in np.frombuffer(raw, f"{endian}i2", 2, 252))
    if sform_code > 0:
        x, y, z = (float(row[3]) for row in np.frombuffer(raw, f"{endian}f4", 12, 280).reshape(3, 4))
    elif qform_code > 0:
        x, y, z = (float(v) for v in np.frombuffer(raw, f"{endian}f4", 3, 268))
    else:
        x, y, z = 0.0, 0.0, 0.0
    return (-x, -y, z)


def _above_zero_rule(*, slope: float, intercept: float) -> Callable[[np.ndarray, BoolArray], None]:
    """``value > 0`` on the scaled values ``slope * stored + intercept``; slope 0 means unscaled (NIfTI)."""
    if slope == 0.0 or (slope == 1.0 and intercept == 0.0) or not math.isfinite(slope):

        def unscaled(values: np.ndarray, out: BoolArray) -> None:
            np.greater(values, 0, out=out)

        return unscaled

    def scaled(values: np.ndarray, out: BoolArray) -> None:
        np.greater(values.astype(np.float64) * slope + intercept, 0, out=out)

    return scaled
