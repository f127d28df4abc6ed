"""Reading lesion masks from NIfTI-1 (.nii, .nii.gz) and MetaImage (.mha) files, and deciding whether a
file may be read at all.

Mask files come from participants, so every reader of one (the evaluation, the portal's archive checks,
annotation and ground-truth uploads, blinding, the review) passes ``image_header_read`` first. It takes
only a self-contained file and checks what the header declares before a voxel is read:

- the format comes from the first bytes, never from the name: a NIfTI-1 single file (magic ``n+1``),
  gzipped or not, or a MetaImage whose header ends with ``ElementDataFile = LOCAL``. A NIfTI header whose
  voxels are in another file (magic ``ni1``: an .hdr/.img pair), a MetaImage that names another file, a
  list or a pattern of files (a detached .mhd/.raw), and anything else are refused, so no reader ever
  opens a second file;
- the header must declare a 3D grid of at most ``max_voxels`` voxels holding one plain integer or float
  each (no complex numbers, colours or vectors), its voxels where the file can hold them (a NIfTI voxel
  offset at most 1 MiB past the header) and a scaling that can be applied.

Each refusal is an ``ImageRefused`` (a ``ValueError``) whose sentence names the file.

NIfTI voxels are then read here: the 348-byte header with NumPy and the voxels streamed through the
fastest gzip decompressor installed (ISA-L's igzip when the ``isal`` package is there, the standard
library's otherwise), binarised chunk by chunk with ``> 0`` so the decompressed volume is never held
whole. MetaImage voxels (and images the portal needs whole, ``image_read``) are read by SimpleITK, told
which ImageIO to use on a name whose suffix matches the content, so it can never pick a reader that
follows another file.

Arrays are indexed ``[z, y, x]`` (as SimpleITK's ``GetArrayFromImage``); spacing and origin are given in
millimetres in ``(x, y, z)`` order, origin in ITK's LPS convention, so files read by either path compare.
"""

import gzip
import importlib
import io
import math
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "GZIP_DECOMPRESSOR",
    "GZIP_MAGIC",
    "MASK_SUFFIXES",
    "MAX_NIFTI_EXTENSION_BYTES",
    "MAX_VOXELS",
    "ImageHeader",
    "ImageRefused",
    "Mask",
    "gzip_decompress",
    "gzip_open",
    "image_header_read",
    "image_read",
    "read_mask",
    "same_spacing",
    "size_text",
    "spacing_text",
]

MASK_SUFFIXES: Final = (".nii.gz", ".nii", ".mha")
GZIP_MAGIC: Final = b"\x1f\x8b"
"""The first two bytes of every gzip stream, a ``.nii.gz`` file's included."""
MAX_VOXELS: Final = 2**28
"""The most voxels a mask may declare where no grid is expected: 268 million, 1024x1024x256 (ISLES'24
grids hold 20 to 30 million)."""
MAX_NIFTI_EXTENSION_BYTES: Final = 1024 * 1024
"""How far past its 348-byte header a NIfTI file may start its voxels (extensions hold notes, not voxels)."""

BoolArray = npt.NDArray[np.bool_]
ImageFormat = Literal["NIfTI-1", "MetaImage"]

_NIFTI_HEADER_BYTES: Final = 348
# A MetaImage header must end (with its ElementDataFile line) within this many bytes.
_METAIMAGE_HEADER_MAX_BYTES: Final = 64 * 1024
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
_NIFTI_REFUSED_DTYPES: Final[dict[int, str]] = {
    1: "single bits",
    32: "complex numbers",
    128: "RGB colours",
    1536: "128-bit floats",
    1792: "complex numbers",
    2048: "complex numbers",
    2304: "RGBA colours",
}
# MetaIO's element types and their NumPy types (MetaIO's LONG is 4 bytes on every platform).
_METAIMAGE_DTYPES: Final[dict[str, str]] = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
# The spellings of ElementDataFile that MetaIO reads as "the voxels follow this header".
_METAIMAGE_LOCAL: Final = ("LOCAL", "Local", "local")
_METAIMAGE_KEY: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_LINE_BREAK: Final = re.compile(rb"\n")


class ImageRefused(ValueError):
    """A file that is not a self-contained, readable 3D image of single values; the message names it."""


@dataclass(frozen=True)
class ImageHeader:
    """What a self-contained image file declares, read without its voxels."""

    format: ImageFormat
    gzipped: bool
    size: tuple[int, int, int]
    """Voxels along x, y and z."""
    dtype: np.dtype[Any]

    @property
    def voxels(self) -> int:
        return math.prod(self.size)

    @property
    def suffix(self) -> str:
        """The file name suffix of this format: SimpleITK's readers go by it."""
        if self.format == "MetaImage":
            return ".mha"
        return ".nii.gz" if self.gzipped else ".nii"

    @property
    def image_io(self) -> str:
        """The SimpleITK ImageIO that reads this format and nothing else."""
        return "MetaImageIO" if self.format == "MetaImage" else "NiftiImageIO"


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


def _decompression_errors() -> tuple[type[Exception], ...]:
    """What a damaged gzip stream raises: the standard library's errors, and ISA-L's own if it is used."""
    errors: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)
    try:
        isal_error: type[Exception] = importlib.import_module("isal.igzip_lib").IsalError
    except ImportError:
        return errors
    return (*errors, isal_error)


_DECOMPRESSION_ERRORS: Final = _decompression_errors()


def image_header_read(path: Path, *, max_voxels: int | None = MAX_VOXELS) -> ImageHeader:
    """What the image file at ``path`` declares, after checking that it may be read at all.

    The format is decided by the file's first bytes (see the module's docstring). Raises ``ImageRefused``
    with a sentence naming the file when it is not a self-contained NIfTI-1 or MetaImage file, or when
    its header declares something a mask cannot be: more than ``max_voxels`` voxels (None: any number,
    for a caller that compares the size with a grid of its own before reading), not 3D, complex numbers,
    colours or vectors, voxels beyond the end of the file, or a scaling that cannot be applied.
    """
    head, file_bytes = _head(path)
    if head.startswith(GZIP_MAGIC):
        with gzip_open(path) as stream:
            nifti = _nifti_header_parse(_gzip_read(stream, _NIFTI_HEADER_BYTES, path=path), path=path)
        header = ImageHeader("NIfTI-1", gzipped=True, size=nifti.size, dtype=nifti.dtype)
    elif _looks_like_nifti(head):
        nifti = _nifti_header_parse(head[:_NIFTI_HEADER_BYTES], path=path, file_bytes=file_bytes)
        header = ImageHeader("NIfTI-1", gzipped=False, size=nifti.size, dtype=nifti.dtype)
    else:
        header = _metaimage_header_parse(head, path=path, file_bytes=file_bytes)
    if max_voxels is not None:
        _voxel_count_check(header.size, path=path, max_voxels=max_voxels)
    return header


def image_read(path: Path, *, max_voxels: int = MAX_VOXELS) -> Any:  # Any: SimpleITK's Image is untyped
    """The image at ``path`` as a SimpleITK image, read by the one ImageIO its content calls for.

    ``image_header_read`` checks the file first (``ImageRefused`` as it says); a file whose voxels turn
    out damaged or cut short is refused too. For the portal's readers that need the whole image (its
    direction, its values as stored); ``read_mask`` is faster for a binary mask.
    """
    import SimpleITK as sitk  # imported here: it is slow to import, and NIfTI masks, the common case, skip it

    header = image_header_read(path, max_voxels=max_voxels)
    with tempfile.TemporaryDirectory(prefix="image-read-") as folder:
        # ITK's NIfTI reader goes by the name's suffix: give it one that matches the content.
        named = Path(folder) / f"image{header.suffix}"
        named.symlink_to(path.resolve())
        reader: Any = sitk.ImageFileReader()  # type: ignore[no-untyped-call]  # SimpleITK has no annotations
        reader.SetImageIO(header.image_io)
        reader.SetFileName(str(named))
        try:
            image: Any = reader.Execute()
        except RuntimeError as error:
            if "bad_alloc" in str(error):
                raise MemoryError(f"Reading {path.name} ran out of memory.") from error
            raise ImageRefused(
                f"{path.name} could not be read as a {header.format} image: its voxels are damaged or cut "
                "short."
            ) from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageRefused(f"{path.name} is not a 3D single-channel image.")
    return image


def read_mask(path: Path, *, max_voxels: int = MAX_VOXELS) -> Mask:
    """Read a mask file and binarise it with ``> 0`` (after the NIfTI scaling, if the header sets one).

    Raises ``ImageRefused`` (a ``ValueError``) with a sentence naming the file when it is not a
    self-contained, readable 3D image of at most ``max_voxels`` voxels (see ``image_header_read``).
    """
    head, file_bytes = _head(path)
    if head.startswith(GZIP_MAGIC):
        with gzip_open(path) as stream:
            return _read_nifti(stream, path=path, file_bytes=None, max_voxels=max_voxels)
    if _looks_like_nifti(head):
        with path.open("rb") as stream:
            return _read_nifti(stream, path=path, file_bytes=file_bytes, max_voxels=max_voxels)
    import SimpleITK as sitk

    image = image_read(path, max_voxels=max_voxels)
    spacing = image.GetSpacing()
    origin = image.GetOrigin()
    return Mask(
        array=sitk.GetArrayViewFromImage(image) > 0,
        spacing_mm=(spacing[0], spacing[1], spacing[2]),
        origin_mm=(origin[0], origin[1], origin[2]),
    )


def _head(path: Path) -> tuple[bytes, int]:
    """The first bytes of the file (enough for any header this module reads) and the file's size."""
    with path.open("rb") as stream:
        return stream.read(_METAIMAGE_HEADER_MAX_BYTES), os.fstat(stream.fileno()).st_size


def _looks_like_nifti(head: bytes) -> bool:
    """Whether the file starts as a NIfTI-1 (or Analyze) header does: ``sizeof_hdr`` 348 in either order."""
    return len(head) >= 4 and _NIFTI_HEADER_BYTES in (
        int.from_bytes(head[:4], "little"),
        int.from_bytes(head[:4], "big"),
    )


def _gzip_read(stream: io.BufferedIOBase, count: int, *, path: Path) -> bytes:
    try:
        return stream.read(count)
    except _DECOMPRESSION_ERRORS as error:
        raise ImageRefused(f"{path.name} could not be decompressed: {_reason(error)}.") from None


def _reason(error: Exception) -> str:
    """A decompressor's complaint as a clause: it is cut short, or its data are damaged."""
    if isinstance(error, EOFError):
        return "it is cut short"
    return "its compressed data are damaged"


def _voxel_count_check(size: tuple[int, int, int], *, path: Path, max_voxels: int) -> None:
    if math.prod(size) > max_voxels:
        raise ImageRefused(
            f"{path.name} is {size_text(size)} voxels, more than the {max_voxels:,} voxels a mask may have "
            "here."
        )


@dataclass(frozen=True)
class _NiftiHeader:
    size: tuple[int, int, int]
    dtype: np.dtype[Any]
    voxel_offset: int
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    is_above_zero: Callable[[np.ndarray, BoolArray], None]

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return (self.size[2], self.size[1], self.size[0])


def _read_nifti(stream: io.BufferedIOBase, *, path: Path, file_bytes: int | None, max_voxels: int) -> Mask:
    raw_header = _gzip_read(stream, _NIFTI_HEADER_BYTES, path=path)
    header = _nifti_header_parse(raw_header, path=path, file_bytes=file_bytes)
    _voxel_count_check(header.size, path=path, max_voxels=max_voxels)
    try:
        _skip(stream, header.voxel_offset - _NIFTI_HEADER_BYTES, header=header, path=path)
        array = _read_binarised(stream, header=header, path=path)
    except _DECOMPRESSION_ERRORS as error:
        raise ImageRefused(f"{path.name} could not be decompressed: {_reason(error)}.") from None
    return Mask(array=array, spacing_mm=header.spacing_mm, origin_mm=header.origin_mm)


def _skip(stream: io.BufferedIOBase, count: int, *, header: _NiftiHeader, path: Path) -> None:
    """Read past the header's extensions (at most ``MAX_NIFTI_EXTENSION_BYTES``, checked by the parser)."""
    if count > 0 and len(stream.read(count)) < count:
        raise ImageRefused(f"{path.name} ends before its {size_text(header.size)} voxels do.")


def _read_binarised(stream: io.BufferedIOBase, *, header: _NiftiHeader, path: Path) -> BoolArray:
    """Stream the voxels in chunks into a preallocated boolean array, binarising each chunk."""
    voxels = math.prod(header.size)
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
                raise ImageRefused(f"{path.name} ends before its {size_text(header.size)} voxels do.")
            got += read
        values = np.frombuffer(buffer, dtype=header.dtype, count=count)
        header.is_above_zero(values, out[done : done + count])
        done += count
    return out.reshape(header.shape_zyx)


def _nifti_header_parse(raw: bytes, *, path: Path, file_bytes: int | None = None) -> _NiftiHeader:
    """Parse and check a NIfTI-1 single-file header; ``file_bytes`` (uncompressed files) bounds the voxels."""
    if len(raw) < _NIFTI_HEADER_BYTES:
        raise ImageRefused(f"{path.name} is too short to be a NIfTI file.")
    endian = "<" if np.frombuffer(raw, "<i4", 1, 0)[0] == _NIFTI_HEADER_BYTES else ">"
    magic = raw[344:348]
    if np.frombuffer(raw, f"{endian}i4", 1, 0)[0] != _NIFTI_HEADER_BYTES or magic[:3] not in (b"n+1", b"ni1"):
        raise ImageRefused(f"{path.name} is not a NIfTI-1 file.")
    if magic[:3] == b"ni1":
        raise ImageRefused(
            f"{path.name} is a NIfTI header whose voxels are in another file (an .hdr/.img pair); "
            "save the mask as one .nii or .nii.gz file."
        )
    size = _nifti_size(raw, endian=endian, path=path)
    dtype = _nifti_dtype(raw, endian=endian, path=path)
    voxel_offset = _nifti_voxel_offset(raw, endian=endian, path=path)
    if file_bytes is not None and voxel_offset + math.prod(size) * dtype.itemsize > file_bytes:
        raise ImageRefused(f"{path.name} ends before its {size_text(size)} voxels do.")
    pixdim = np.frombuffer(raw, f"{endian}f4", 8, 76).astype(float)
    slope, intercept = (float(v) for v in np.frombuffer(raw, f"{endian}f4", 2, 112))
    return _NiftiHeader(
        size=size,
        dtype=dtype,
        voxel_offset=voxel_offset,
        spacing_mm=(abs(float(pixdim[1])), abs(float(pixdim[2])), abs(float(pixdim[3]))),
        origin_mm=_nifti_origin_lps(raw, endian=endian),
        is_above_zero=_above_zero_rule(slope=slope, intercept=intercept, path=path),
    )


def _nifti_size(raw: bytes, *, endian: str, path: Path) -> tuple[int, int, int]:
    dim = [int(n) for n in np.frombuffer(raw, f"{endian}i2", 8, 40)]
    ndim = dim[0]
    if not 3 <= ndim <= 7 or any(n != 1 for n in dim[4 : ndim + 1]):
        raise ImageRefused(f"{path.name} is not a 3D image (it has {ndim} dimensions).")
    size = (dim[1], dim[2], dim[3])
    if min(size) < 1:
        raise ImageRefused(f"{path.name} declares a size of {size_text(size)} voxels, which no image has.")
    return size


def _nifti_dtype(raw: bytes, *, endian: str, path: Path) -> np.dtype[Any]:
    code = int(np.frombuffer(raw, f"{endian}i2", 1, 70)[0])
    if code in _NIFTI_REFUSED_DTYPES:
        raise ImageRefused(
            f"{path.name} stores {_NIFTI_REFUSED_DTYPES[code]} (NIfTI data type {code}); a mask stores one "
            "integer or float per voxel."
        )
    if code not in _NIFTI_DTYPES:
        raise ImageRefused(f"{path.name} stores voxels as NIfTI data type {code}, which masks do not use.")
    return np.dtype(f"{endian}{_NIFTI_DTYPES[code]}")


def _nifti_voxel_offset(raw: bytes, *, endian: str, path: Path) -> int:
    vox_offset = float(np.frombuffer(raw, f"{endian}f4", 1, 108)[0])
    if not math.isfinite(vox_offset) or vox_offset < 0:
        raise ImageRefused(f"{path.name} declares its voxels at byte {vox_offset}, which no file has.")
    if vox_offset > _NIFTI_HEADER_BYTES + MAX_NIFTI_EXTENSION_BYTES:
        raise ImageRefused(
            f"{path.name} declares its voxels at byte {vox_offset:.0f}, more than "
            f"{MAX_NIFTI_EXTENSION_BYTES // 1024**2} MiB past its header; save the mask without header "
            "extensions."
        )
    return max(int(vox_offset), _NIFTI_HEADER_BYTES)


def _metaimage_header_parse(head: bytes, *, path: Path, file_bytes: int) -> ImageHeader:
    """Check a MetaImage header (the text up to its ElementDataFile line) and return what it declares."""
    fields, data_start = _metaimage_fields(head, path=path)
    fields_text = _MetaImageFields(fields, path=path)
    ndims = fields_text.integers("NDims", count=1)[0]
    if ndims != 3:
        raise ImageRefused(f"{path.name} is not a 3D image (it has {ndims} dimensions).")
    dims = fields_text.integers("DimSize", count=3)
    size = (dims[0], dims[1], dims[2])
    if min(size) < 1:
        raise ImageRefused(f"{path.name} declares a size of {size_text(size)} voxels, which no image has.")
    channels = fields_text.integers("ElementNumberOfChannels", count=1, default=1)[0]
    if channels != 1:
        raise ImageRefused(
            f"{path.name} holds {channels} values per voxel (a vector or colour image); a mask holds one."
        )
    element_type = fields.get("ElementType", "")
    if element_type not in _METAIMAGE_DTYPES:
        shown = element_type if _METAIMAGE_KEY.fullmatch(element_type) else "an unknown type"
        raise ImageRefused(f"{path.name} stores voxels as {shown}, which masks do not use.")
    dtype = np.dtype(f"<{_METAIMAGE_DTYPES[element_type]}")
    data_bytes = file_bytes - data_start
    if fields.get("CompressedData", "False").lower() == "true":
        declared = fields_text.integers("CompressedDataSize", count=1, default=0)[0]
        if declared > data_bytes:
            raise ImageRefused(f"{path.name} ends before its {size_text(size)} voxels do.")
    elif fields.get("BinaryData", "True").lower() == "true" and math.prod(size) * dtype.itemsize > data_bytes:
        raise ImageRefused(f"{path.name} ends before its {size_text(size)} voxels do.")
    return ImageHeader("MetaImage", gzipped=False, size=size, dtype=dtype)


def _metaimage_fields(head: bytes, *, path: Path) -> tuple[dict[str, str], int]:
    """The ``Key = Value`` lines of a MetaImage header and where its voxels start.

    The header must end with ``ElementDataFile = LOCAL`` (or ``Local``, ``local``: MetaIO reads all three as
    "the voxels follow") within its first 64 KiB: any other value (a file name, ``LIST``, a pattern, even
    ``LoCaL``) would make a reader open another file. MetaIO matches keys as written; an ElementDataFile
    key in any other case is refused too, and so is a key set twice, so this parser and MetaIO can never
    read a header differently. Lines end at ``\\n``, as MetaIO's do; a ``\\r`` inside one is refused.
    """
    fields: dict[str, str] = {}
    position = 0
    for line_break in _LINE_BREAK.finditer(head):
        line, position = head[position : line_break.start()].removesuffix(b"\r"), line_break.end()
        if b"\r" in line:  # MetaIO reads on past a carriage return: one line here, two for a reader of \r
            raise ImageRefused(
                f"{path.name} is not a readable image: its MetaImage header breaks a line with \\r."
            )
        key, separator, value = line.partition(b"=")
        name = key.strip().decode("ascii", errors="replace")
        if not separator or not _METAIMAGE_KEY.fullmatch(name):
            if not line.strip():
                continue
            if not fields:
                raise ImageRefused(
                    f"{path.name} is not a readable image: it is neither a NIfTI-1 file nor a MetaImage."
                )
            raise ImageRefused(
                f"{path.name} is not a readable image: its MetaImage header holds a line that is not "
                "Key = Value."
            )
        if name.lower() == "elementdatafile":
            if value.strip().decode("ascii", errors="replace") not in _METAIMAGE_LOCAL:
                raise ImageRefused(
                    f"{path.name} keeps its voxels in another file; save the mask as one .mha file that "
                    "holds them (ElementDataFile = LOCAL)."
                )
            return fields, position
        if name in fields:  # which of the two would a reader take?
            raise ImageRefused(
                f"{path.name} is not a readable image: its MetaImage header sets {name} twice."
            )
        fields[name] = value.strip().decode("ascii", errors="replace")
    if not fields:
        raise ImageRefused(
            f"{path.name} is not a readable image: it is neither a NIfTI-1 file nor a MetaImage."
        )
    raise ImageRefused(
        f"{path.name} is not a readable image: its MetaImage header does not end with "
        "ElementDataFile = LOCAL."
    )


@dataclass(frozen=True)
class _MetaImageFields:
    """Numbers read from a MetaImage header's fields, each refusal a sentence naming the file."""

    fields: Mapping[str, str]
    path: Path

    def integers(self, key: str, *, count: int, default: int | None = None) -> list[int]:
        text = self.fields.get(key)
        if text is None and default is not None:
            return [default]
        try:
            values = [int(value) for value in (text or "").split()]
        except ValueError:
            values = []
        if len(values) != count:
            raise ImageRefused(
                f"{self.path.name} is not a readable image: its MetaImage {key} is not {count} whole "
                "number(s)."
            )
        return values


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


def _above_zero_rule(
    *, slope: float, intercept: float, path: Path
) -> Callable[[np.ndarray, BoolArray], None]:
    """``value > 0`` on the scaled values ``slope * stored + intercept``.

    A slope of 0 or one that is not finite means unscaled (the NIfTI standard, nibabel and ITK agree); a
    real slope with an intercept that is not finite cannot be applied (nibabel refuses it, ITK reads 0),
    so it is refused rather than guessed.
    """
    if slope == 0.0 or not math.isfinite(slope) or (slope == 1.0 and intercept == 0.0):

        def unscaled(values: np.ndarray, out: BoolArray) -> None:
            np.greater(values, 0, out=out)

        return unscaled
    if not math.isfinite(intercept):
        raise ImageRefused(
            f"{path.name} scales its voxels by {slope:g} with an intercept that is not a number; write an "
            "intercept of 0 or no scaling."
        )

    def scaled(values: np.ndarray, out: BoolArray) -> None:
        np.greater(values.astype(np.float64) * slope + intercept, 0, out=out)

    return scaled
