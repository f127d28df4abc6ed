"""The ISLES'24 release layout: which file of a case is which interface, found or missing, and its contents.

A release folder holds ``raw_data/``, ``derivatives/`` and ``phenotype/``, one sub-folder per subject
(``sub-stroke0001`` ...; numbers are not contiguous). Any file may be missing for a case. ``LAYOUT`` maps
each relative path to the interface slug of the container contract (or the clinical table name); it is
data, so a later release with other names is another row, not another branch in code. Image slots are
named exactly as the official ISLES'24 contract's inputs (``inference.contract.ISLES24``: the raw maps
are ``tmax-parameter-map`` ..., the registered ones ``preprocessed-tmax-map`` ...), so what the importer
stores is what a container reads; a test holds the two tables together.

This module imports no Django: it reads a folder and returns frozen dataclasses, so scripts and the
benchmark can use it alone. The portal's importer (``portal.datasets.services``) stores what it finds.
"""

import enum
import hashlib
import math
import re
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from releases.tables import TableUnreadable, table_rows_read

__all__ = [
    "LAYOUT",
    "BinaryMask",
    "CaseFiles",
    "ImageHeader",
    "ReleaseFile",
    "ReleaseFileError",
    "Slot",
    "SlotKind",
    "clinical_table_read",
    "image_header_read",
    "mask_binarise",
    "mask_image_binarise",
    "release_scan",
]

SUBJECT_PATTERN = re.compile(r"^sub-stroke\d{4}$")
SUBJECT_FOLDERS = ("raw_data", "derivatives", "phenotype")
ClinicalValue = str | int | float | bool | None


class SlotKind(enum.Enum):
    """What a file of a case is. Clinical tables come in two kinds: what is known at admission (the
    acute session, ses-01), which algorithms may read, and follow-up outcomes (ses-02), which are ground
    truth."""

    IMAGE = "image"
    MASK = "mask"
    ADMISSION_TABLE = "admission table"
    OUTCOME_TABLE = "outcome table"


@dataclass(frozen=True)
class Slot:
    """One file of a case: its alternative relative paths (``{case}`` is the subject), first found wins.

    ``expected`` is False for files only later releases carry; their absence is not reported as missing.
    """

    name: str
    kind: SlotKind
    paths: tuple[str, ...]
    expected: bool = True


RAW = "raw_data/{case}/ses-01"
DERIVED = "derivatives/{case}"
PHENOTYPE = "phenotype/{case}"

LAYOUT: tuple[Slot, ...] = (
    Slot("non-contrast-ct", SlotKind.IMAGE, (f"{RAW}/{{case}}_ses-01_ncct.nii.gz",)),
    Slot("ct-angiography", SlotKind.IMAGE, (f"{RAW}/{{case}}_ses-01_cta.nii.gz",)),
    Slot("perfusion-ct", SlotKind.IMAGE, (f"{RAW}/{{case}}_ses-01_ctp.nii.gz",)),
    Slot("tmax-parameter-map", SlotKind.IMAGE, (f"{RAW}/perfusion-maps/{{case}}_ses-01_tmax.nii.gz",)),
    Slot("mtt-parameter-map", SlotKind.IMAGE, (f"{RAW}/perfusion-maps/{{case}}_ses-01_mtt.nii.gz",)),
    Slot("cbf-parameter-map", SlotKind.IMAGE, (f"{RAW}/perfusion-maps/{{case}}_ses-01_cbf.nii.gz",)),
    Slot("cbv-parameter-map", SlotKind.IMAGE, (f"{RAW}/perfusion-maps/{{case}}_ses-01_cbv.nii.gz",)),
    Slot(
        "preprocessed-CT-angiography",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-01/{{case}}_ses-01_space-ncct_cta.nii.gz",),
    ),
    Slot(
        "preprocessed-perfusion-ct",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-01/{{case}}_ses-01_space-ncct_ctp.nii.gz",),
    ),
    Slot(
        "preprocessed-tmax-map",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_tmax.nii.gz",),
    ),
    Slot(
        "preprocessed-mtt-map",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_mtt.nii.gz",),
    ),
    Slot(
        "preprocessed-cbf-map",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_cbf.nii.gz",),
    ),
    Slot(
        "preprocessed-cbv-map",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_cbv.nii.gz",),
    ),
    # Follow-up DWI and ADC come only with releases after 2024: not listed as missing when absent.
    Slot(
        "follow-up-dwi",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-02/{{case}}_ses-02_space-ncct_dwi.nii.gz",),
        expected=False,
    ),
    Slot(
        "follow-up-adc",
        SlotKind.IMAGE,
        (f"{DERIVED}/ses-02/{{case}}_ses-02_space-ncct_adc.nii.gz",),
        expected=False,
    ),
    # The 2024 release name first, then the name of later releases.
    Slot(
        "stroke-lesion-segmentation",
        SlotKind.MASK,
        (
            f"{DERIVED}/ses-02/{{case}}_ses-02_lesion-msk.nii.gz",
            f"{DERIVED}/ses-02/{{case}}_ses-02_space-ncct_lesion-msk.nii.gz",
        ),
    ),
    Slot(
        "demographic_baseline",
        SlotKind.ADMISSION_TABLE,
        (
            f"{PHENOTYPE}/ses-01/{{case}}_ses-01_demographic_baseline.csv",
            f"{PHENOTYPE}/ses-01/{{case}}_ses-01_demographic_baseline.xlsx",
        ),
    ),
    Slot(
        "outcome",
        SlotKind.OUTCOME_TABLE,
        (
            f"{PHENOTYPE}/ses-02/{{case}}_ses-02_outcome.csv",
            f"{PHENOTYPE}/ses-02/{{case}}_ses-02_outcome.xlsx",
        ),
    ),
)

PIXEL_TYPES: Mapping[int, str] = {
    sitk.sitkUInt8: "uint8",
    sitk.sitkInt8: "int8",
    sitk.sitkUInt16: "uint16",
    sitk.sitkInt16: "int16",
    sitk.sitkUInt32: "uint32",
    sitk.sitkInt32: "int32",
    sitk.sitkUInt64: "uint64",
    sitk.sitkInt64: "int64",
    sitk.sitkFloat32: "float32",
    sitk.sitkFloat64: "float64",
}
CHUNK_BYTES = 1 << 20


class ReleaseFileError(ValueError):
    """A file of the release cannot be read; the message names it by its path in the release."""


@dataclass(frozen=True)
class ReleaseFile:
    """One file found for a case: the slot it fills and where it is."""

    slot: Slot
    root: Path
    relative_path: str

    @property
    def path(self) -> Path:
        return self.root / self.relative_path


@dataclass(frozen=True)
class CaseFiles:
    """What the release holds for one case, and the expected files it lacks (relative paths)."""

    name: str
    found: tuple[ReleaseFile, ...]
    missing: tuple[str, ...]

    def of_kind(self, kind: SlotKind) -> tuple[ReleaseFile, ...]:
        return tuple(file for file in self.found if file.slot.kind is kind)


@dataclass(frozen=True)
class ImageHeader:
    """What the portal records of an image without loading its voxels, and the hash of its bytes."""

    shape: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    pixel_type: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class BinaryMask:
    """A lesion mask binarised with ``> 0``, as uint8 NIfTI bytes on the source geometry."""

    nifti_bytes: bytes
    shape: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    source_encoding: str
    lesion_voxels: int
    lesion_volume_ml: float


def _subjects(root: Path) -> list[str]:
    names: set[str] = set()
    for folder in SUBJECT_FOLDERS:
        if (root / folder).is_dir():
            names.update(
                child.name for child in (root / folder).iterdir() if SUBJECT_PATTERN.match(child.name)
            )
    return sorted(names)


def _case_scan(root: Path, case: str, layout: Sequence[Slot]) -> CaseFiles:
    found: list[ReleaseFile] = []
    missing: list[str] = []
    for slot in layout:
        relative_paths = [path.format(case=case) for path in slot.paths]
        existing = [path for path in relative_paths if (root / path).is_file()]
        if existing:
            found.append(ReleaseFile(slot=slot, root=root, relative_path=existing[0]))
        elif slot.expected:
            missing.append(relative_paths[0])
    return CaseFiles(name=case, found=tuple(found), missing=tuple(missing))


def release_scan(root: Path, *, layout: Sequence[Slot] = LAYOUT) -> list[CaseFiles]:
    """List every subject of the release folder ``root`` in order, with its files found and missing.

    A subject is any ``sub-strokeNNNN`` folder under ``raw_data/``, ``derivatives/`` or ``phenotype/``.
    Nothing is opened: ``image_header_read``, ``mask_binarise`` and ``clinical_table_read`` do that.
    """
    return [_case_scan(root, case, layout) for case in _subjects(root)]


def _gzip_hash(file: ReleaseFile) -> tuple[str, int]:
    """Hash the file's bytes and check that its gzip stream is whole (a truncated copy fails here)."""
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    size = 0
    try:
        with file.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                inflater.decompress(chunk, 0)
    except zlib.error as error:
        raise ReleaseFileError(f"{file.relative_path} is not a valid gzip file ({error}).") from error
    if not inflater.eof:
        raise ReleaseFileError(f"{file.relative_path} is truncated: its gzip stream ends early.")
    return digest.hexdigest(), size


def _unreadable(file: ReleaseFile, error: Exception) -> ReleaseFileError:
    reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return ReleaseFileError(f"{file.relative_path} is not a readable NIfTI image ({reason}).")


def image_header_read(file: ReleaseFile) -> ImageHeader:
    """Read shape, spacing and voxel type from the header only, and hash and check the whole file."""
    sha256, size_bytes = _gzip_hash(file)
    reader: Any = sitk.ImageFileReader()  # type: ignore[no-untyped-call]  # SimpleITK has no annotations
    reader.SetFileName(str(file.path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise _unreadable(file, error) from error
    pixel_id = reader.GetPixelID()
    # The ignore: SimpleITK has no annotations.
    pixel_name: str = sitk.GetPixelIDValueAsString(pixel_id)  # type: ignore[no-untyped-call]
    return ImageHeader(
        shape=tuple(int(n) for n in reader.GetSize()),
        spacing_mm=tuple(float(s) for s in reader.GetSpacing()),
        pixel_type=PIXEL_TYPES.get(pixel_id, pixel_name),
        sha256=sha256,
        size_bytes=size_bytes,
    )


def _encoding(values: np.ndarray, dtype: np.dtype) -> str:
    """Describe a mask's stored values as the field notes do, e.g. ``uint16 {0, 65535}``."""
    shown = [str(value.item()) for value in values[:4]]
    if values.size > 4:
        shown.append(f"... {values.size} values")
    return f"{dtype.name} {{{', '.join(shown)}}}"


def mask_binarise(file: ReleaseFile) -> BinaryMask:
    """Read a lesion mask in any official encoding and return it binarised with ``> 0`` as uint8."""
    _gzip_hash(file)
    try:
        source = sitk.ReadImage(str(file.path))
    except RuntimeError as error:
        raise _unreadable(file, error) from error
    return mask_image_binarise(source)


def mask_image_binarise(source: sitk.Image) -> BinaryMask:
    """Binarise a lesion mask image already read with ``> 0``, as uint8 NIfTI bytes on its own geometry."""
    voxels = sitk.GetArrayViewFromImage(source)
    lesion = voxels > 0
    mask: Any = sitk.GetImageFromArray(lesion.astype(np.uint8))  # Any: SimpleITK's Image methods are untyped
    mask.CopyInformation(source)
    with tempfile.TemporaryDirectory(prefix="isles24-mask-") as folder:
        out_path = Path(folder) / "mask.nii.gz"
        sitk.WriteImage(mask, str(out_path), useCompression=True)
        nifti_bytes = out_path.read_bytes()
    geometry: Any = source  # Any: SimpleITK's Image methods are untyped
    spacing_mm = tuple(float(s) for s in geometry.GetSpacing())
    lesion_voxels = int(np.count_nonzero(lesion))
    return BinaryMask(
        nifti_bytes=nifti_bytes,
        shape=tuple(int(n) for n in geometry.GetSize()),
        spacing_mm=spacing_mm,
        source_encoding=_encoding(np.unique(voxels), voxels.dtype),
        lesion_voxels=lesion_voxels,
        lesion_volume_ml=lesion_voxels * math.prod(spacing_mm[:3]) / 1000.0,
    )


def _number(text: str) -> ClinicalValue:
    """A CSV cell as a number when it is one, None when empty, else the text."""
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    # "nan" and "inf" parse as floats but JSON (and so PostgreSQL's jsonb) cannot hold them.
    return number if math.isfinite(number) else text


CLINICAL_TABLE_MAX_ROWS = 100
CLINICAL_TABLE_MAX_COLUMNS = 1000
"""Bounds on what is read of a case's clinical table, which holds a header and one row (``releases.tables``
says why the bounds)."""


def _table_records(path: Path) -> list[dict[str, ClinicalValue]]:
    """The table's non-blank rows as column -> value, by the header's names (blank names dropped)."""
    rows = table_rows_read(
        path,
        max_rows=CLINICAL_TABLE_MAX_ROWS,
        max_columns=CLINICAL_TABLE_MAX_COLUMNS,
        kind="xlsx" if path.suffix == ".xlsx" else "csv",
    )
    if not rows:
        return []
    header = [str(cell).strip() if cell is not None else "" for cell in rows[0]]
    return [
        {key: _cell(value) for key, value in zip(header, (*row, *[None] * len(header)), strict=False) if key}
        for row in rows[1:]
        if any(value not in (None, "") for value in row)
    ]


def _cell(value: object) -> ClinicalValue:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _number(value)
    return str(value)


def clinical_table_read(file: ReleaseFile) -> dict[str, ClinicalValue]:
    """Read a case's one-row clinical table (CSV or XLSX) as column -> value, numbers as numbers."""
    try:
        rows = _table_records(file.path)
    except (OSError, TableUnreadable) as error:
        raise ReleaseFileError(f"{file.relative_path} is not a readable clinical table: {error}.") from error
    if len(rows) != 1:
        raise ReleaseFileError(f"{file.relative_path} should hold one row of data; it holds {len(rows)}.")
    return rows[0]
