"""Re-encoding of lesion masks so that two sources of a case differ only in their voxels.

Whatever a source stored (uint16 {0, 65535}, float64, an .mha without geometry, a NIfTI header naming
the tool that wrote it), its blinded mask is the same thing: voxels binarised with ``> 0`` as uint8
{0, 1}, the geometry (spacing, origin, direction, so qform and sform) of the case's reference image, a
NIfTI-1 header with ``db_name``, ``descrip``, ``aux_file``, ``intent_name`` and the display range cleared
and no extensions, gzipped at one level with no file name and mtime 0. Two identical masks give
identical bytes. The reader-study service calls it with local paths; campaigns raise ``MaskMismatch``
for a starting mask that does not fit its case.
"""

import gzip
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from evaluation.io import ImageRefused, image_header_read, image_read, size_text

__all__ = ["GZIP_LEVEL", "MaskMismatch", "mask_blind"]

GZIP_LEVEL = 6
_HEADER_BYTES = 348
_DATA_OFFSET = 352
# (offset, length) of every free-text or display field of the NIfTI-1 header, cleared to zeros.
_CLEARED_FIELDS = ((4, 10), (14, 18), (124, 8), (148, 80), (228, 24), (328, 16))
_VOX_OFFSET_AT = 108


class MaskMismatch(ValueError):
    """A mask cannot be shown on its case: a sentence naming both grids."""


def _reference_geometry(reference_image: Path) -> Any:  # Any: SimpleITK's ImageFileReader is untyped
    reader: Any = sitk.ImageFileReader()  # type: ignore[no-untyped-call]  # SimpleITK has no annotations
    reader.SetFileName(str(reference_image))
    reader.ReadImageInformation()
    if reader.GetDimension() != 3:
        raise MaskMismatch(f"The reference image has {reader.GetDimension()} dimensions; it needs 3.")
    return reader


def _voxels(mask: Path | None, size_xyz: tuple[int, ...]) -> npt.NDArray[np.uint8]:
    """The mask's voxels binarised, read as ``evaluation.io`` reads participant files: self-contained
    files only, the format from the content, the declared grid compared before a voxel is read."""
    grid_zyx = tuple(reversed(size_xyz))
    if mask is None:
        return np.zeros(grid_zyx, dtype=np.uint8)
    try:
        header = image_header_read(mask, max_voxels=None)
        if header.size != tuple(size_xyz):
            raise MaskMismatch(
                f"The mask is {size_text(header.size)} voxels but the case's reference image is "
                f"{size_text(size_xyz)}."
            )
        image = image_read(mask, max_voxels=header.voxels)
    except ImageRefused as refusal:
        raise MaskMismatch(str(refusal)) from None
    return (sitk.GetArrayViewFromImage(image) > 0).astype(np.uint8)


def _header_cleared(nifti: bytes) -> bytes:
    header = bytearray(nifti[:_HEADER_BYTES])
    if struct.unpack_from("<i", header, 0)[0] != _HEADER_BYTES:
        raise MaskMismatch("The mask was not written as a little-endian NIfTI-1 file.")
    (vox_offset,) = struct.unpack_from("<f", header, _VOX_OFFSET_AT)
    for offset, length in _CLEARED_FIELDS:
        header[offset : offset + length] = bytes(length)
    struct.pack_into("<f", header, _VOX_OFFSET_AT, float(_DATA_OFFSET))
    return bytes(header) + bytes(_DATA_OFFSET - _HEADER_BYTES) + nifti[int(vox_offset) :]


def mask_blind(*, mask: Path | None, reference_image: Path) -> bytes:
    """The blinded ``.nii.gz`` bytes of ``mask`` (None: an empty mask) on the grid of ``reference_image``.

    Raises ``MaskMismatch`` when the mask's grid differs from the reference image's.
    """
    reader = _reference_geometry(reference_image)
    image: Any = sitk.GetImageFromArray(_voxels(mask, reader.GetSize()))  # Any: its methods are untyped
    image.SetSpacing(reader.GetSpacing())
    image.SetOrigin(reader.GetOrigin())
    image.SetDirection(reader.GetDirection())
    with tempfile.TemporaryDirectory(prefix="blind-") as folder:
        path = Path(folder) / "mask.nii"
        sitk.WriteImage(image, str(path), useCompression=False)
        nifti = path.read_bytes()
    return gzip.compress(_header_cleared(nifti), compresslevel=GZIP_LEVEL, mtime=0)
