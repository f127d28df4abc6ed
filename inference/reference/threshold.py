"""Reference algorithm ``threshold``: the final infarct predicted as the tissue with Tmax > 6 s.

The classical perfusion rule of acute stroke imaging, as a baseline every ISLES'24 submission should beat:
hypoperfused tissue (Tmax over 6 s) on ``preprocessed-tmax-map``, optionally only where the relative CBF is
under 30 % (``--with-cbf``, on ``preprocessed-cbf-map``), the ischaemic core. It honours the container
contract: it reads ``/input/images/<slug>/`` and writes
``/output/images/stroke-lesion-segmentation/output.mha``.

Debian has no SimpleITK package and the base image is built offline from Debian's, so the algorithm reads
MetaImage (.mha) and NIfTI-1 (.nii, .nii.gz) with NumPy alone and writes an uncompressed MetaImage.

    python -m inference.reference.threshold [--input /input] [--output /output] [--with-cbf]
                                            [--tmax-threshold-s 6]
"""

import argparse
import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["image_read", "main", "mask_write_mha", "threshold_predict"]

FloatArray = npt.NDArray[np.floating]
BoolArray = npt.NDArray[np.bool_]

TMAX_THRESHOLD_S: Final = 6.0
RELATIVE_CBF_THRESHOLD: Final = 0.3
TMAX_SLUG: Final = "preprocessed-tmax-map"
CBF_SLUG: Final = "preprocessed-cbf-map"
OUTPUT_SLUG: Final = "stroke-lesion-segmentation"

_MHA_TYPES: Final = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "u2",
    "MET_SHORT": "i2",
    "MET_UINT": "u4",
    "MET_INT": "i4",
    "MET_ULONG_LONG": "u8",
    "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
_NIFTI_TYPES: Final = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


def threshold_predict(
    tmax: FloatArray,
    cbf: FloatArray | None = None,
    *,
    tmax_threshold_s: float = TMAX_THRESHOLD_S,
    relative_cbf_threshold: float = RELATIVE_CBF_THRESHOLD,
) -> BoolArray:
    """Predicted infarct: Tmax over ``tmax_threshold_s`` and, with ``cbf``, relative CBF under the threshold.

    Relative CBF is CBF divided by the mean CBF of normally perfused tissue (CBF > 0 and Tmax at most the
    threshold). With no normally perfused voxel there is nothing to compare with, and Tmax alone decides.

    >>> threshold_predict(np.array([2.0, 7.0, 9.0]), np.array([50.0, 40.0, 5.0])).tolist()
    [False, False, True]
    """
    hypoperfused = tmax > tmax_threshold_s
    if cbf is None:
        return hypoperfused
    if cbf.shape != tmax.shape:
        raise ValueError(f"The CBF map is {cbf.shape} and the Tmax map {tmax.shape}; they must share a grid.")
    normal = (cbf > 0) & ~hypoperfused
    if not normal.any():
        return hypoperfused
    relative_cbf = cbf / float(cbf[normal].mean())
    return hypoperfused & (relative_cbf < relative_cbf_threshold)


def image_read(path: Path) -> tuple[FloatArray, tuple[float, ...], tuple[float, ...]]:
    """Voxels ``[z, y, x]`` as float32, spacing and origin ``(x, y, z)`` of a .mha, .nii or .nii.gz file."""
    if path.name.endswith(".mha"):
        return _mha_read(path)
    if path.name.endswith((".nii", ".nii.gz")):
        return _nifti_read(path)
    raise ValueError(f"{path.name} is neither .mha nor .nii(.gz).")


def mask_write_mha(path: Path, mask: BoolArray, *, spacing: Sequence[float], origin: Sequence[float]) -> None:
    """Write a binary mask ``[z, y, x]`` as an uncompressed uint8 MetaImage."""
    header = "\n".join(
        [
            "ObjectType = Image",
            f"NDims = {mask.ndim}",
            "BinaryData = True",
            "BinaryDataByteOrderMSB = False",
            "CompressedData = False",
            f"ElementSpacing = {' '.join(f'{value:g}' for value in spacing)}",
            f"Offset = {' '.join(f'{value:g}' for value in origin)}",
            f"DimSize = {' '.join(str(n) for n in mask.shape[::-1])}",
            "ElementType = MET_UCHAR",
            "ElementDataFile = LOCAL",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(header.encode() + b"\n")
        handle.write(np.ascontiguousarray(mask, dtype=np.uint8).tobytes())


def _mha_read(path: Path) -> tuple[FloatArray, tuple[float, ...], tuple[float, ...]]:
    data = path.read_bytes()
    fields: dict[str, str] = {}
    position = 0
    while "ElementDataFile" not in fields:
        end = data.index(b"\n", position)
        key, _, value = data[position:end].decode("ascii").partition("=")
        fields[key.strip()] = value.strip()
        position = end + 1
    if fields["ElementDataFile"] != "LOCAL":
        raise ValueError(f"{path.name} keeps its voxels in another file; only LOCAL data is read.")
    shape = tuple(int(n) for n in fields["DimSize"].split())[::-1]
    channels = int(fields.get("ElementNumberOfChannels", "1"))
    big_endian = fields.get("BinaryDataByteOrderMSB", fields.get("ElementByteOrderMSB", "False")) == "True"
    dtype = np.dtype(_MHA_TYPES[fields["ElementType"]]).newbyteorder(">" if big_endian else "<")
    payload = data[position:]
    if fields.get("CompressedData", "False") == "True":
        payload = zlib.decompress(payload)
    voxels = np.frombuffer(payload, dtype=dtype, count=int(np.prod(shape)) * channels)
    if channels > 1:
        shape = (*shape, channels)
    spacing = tuple(float(value) for value in fields.get("ElementSpacing", "1 1 1").split())
    origin = tuple(float(value) for value in fields.get("Offset", fields.get("Origin", "0 0 0")).split())
    return voxels.reshape(shape).astype(np.float32), spacing, origin


def _nifti_read(path: Path) -> tuple[FloatArray, tuple[float, ...], tuple[float, ...]]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    endian: Literal["<", ">"] = "<" if int.from_bytes(data[:4], "little") == 348 else ">"
    dims = np.frombuffer(data, dtype=f"{endian}i2", count=8, offset=40)
    datatype = int(np.frombuffer(data, dtype=f"{endian}i2", count=1, offset=70)[0])
    pixdim = np.frombuffer(data, dtype=f"{endian}f4", count=8, offset=76)
    vox_offset, slope, intercept = np.frombuffer(data, dtype=f"{endian}f4", count=3, offset=108)
    shape = tuple(int(n) for n in dims[1 : 1 + dims[0]])
    voxels = np.frombuffer(
        data,
        dtype=np.dtype(_NIFTI_TYPES[datatype]).newbyteorder(endian),
        count=int(np.prod(shape)),
        offset=int(vox_offset),
    )
    # NIfTI stores x fastest: read in Fortran order, then index [z, y, x] as the rest of the portal does.
    array = voxels.reshape(shape, order="F").T.astype(np.float32)
    if slope not in (0.0, 1.0) or intercept != 0.0:
        array = array * np.float32(slope or 1.0) + np.float32(intercept)
    qoffset = np.frombuffer(data, dtype=f"{endian}f4", count=3, offset=268)
    # NIfTI's origin is in RAS; MetaImage's, like ITK's, in LPS.
    origin = (-float(qoffset[0]), -float(qoffset[1]), float(qoffset[2]))
    return array, tuple(float(value) for value in pixdim[1 : 1 + dims[0]]), origin


def _single_image(folder: Path) -> Path:
    images = sorted(path for path in folder.glob("*") if path.name.endswith((".mha", ".nii", ".nii.gz")))
    if len(images) != 1:
        raise SystemExit(f"expected one image in {folder}, found {len(images)}")
    return images[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inference.reference.threshold", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--input", type=Path, default=Path("/input"))
    parser.add_argument("--output", type=Path, default=Path("/output"))
    parser.add_argument("--with-cbf", action="store_true", help="predict only where relative CBF < 30 %%")
    parser.add_argument(
        "--tmax-threshold-s",
        type=float,
        default=TMAX_THRESHOLD_S,
        help="predict where Tmax is over this many seconds (default %(default)s)",
    )
    arguments = parser.parse_args(argv)
    tmax, spacing, origin = image_read(_single_image(arguments.input / "images" / TMAX_SLUG))
    cbf = image_read(_single_image(arguments.input / "images" / CBF_SLUG))[0] if arguments.with_cbf else None
    mask = threshold_predict(tmax, cbf, tmax_threshold_s=arguments.tmax_threshold_s)
    output = arguments.output / "images" / OUTPUT_SLUG / "output.mha"
    mask_write_mha(output, mask, spacing=spacing, origin=origin)
    print(f"threshold: {int(mask.sum())} lesion voxels of {mask.size} written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
