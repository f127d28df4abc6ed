"""Synthetic ISLES'24 releases: head phantoms in the real release layout, deterministic by seed.

The portal's demo, its tests and the evaluation benchmark need data shaped like an ISLES'24 release
without shipping patient data. Each case is a head phantom on the NCCT grid (air, skull, brain, CSF in
Hounsfield units), a CTA with bright vessels and an occluded middle cerebral artery, a short 4D CTP,
perfusion maps in which one MCA-like territory is hypoperfused (Tmax > 6 s, CBF low), a follow-up lesion
mask inside that territory, and clinical tables whose NIHSS and 90-day mRS rise with lesion volume.

This module imports no Django, so benchmarks and scripts can call ``write_release`` on their own.
"""

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

__all__ = ["MASK_ENCODINGS", "write_release"]

ReleaseSize = Literal["small", "full"]
FloatVolume = npt.NDArray[np.float32]  # indexed [z, y, x]
BoolVolume = npt.NDArray[np.bool_]  # indexed [z, y, x]

# The three ways official ISLES'24 files store the lesion mask; cases cycle through them in order.
MASK_ENCODINGS: tuple[tuple[str, type, float], ...] = (
    ("uint16 {0, 1}", np.uint16, 1.0),
    ("uint16 {0, 65535}", np.uint16, 65535.0),
    ("float64 {0.0, 1.0}", np.float64, 1.0),
)

CTP_FRAMES = 8
CTP_FRAME_INTERVAL_S = 4.0
TMAX_THRESHOLD_S = 6.0


@dataclass(frozen=True)
class _Grid:
    """The NCCT voxel grid: array shape as (z, y, x), spacing in mm as (x, y, z), centred on the origin."""

    shape_zyx: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]

    @property
    def origin_mm(self) -> tuple[float, float, float]:
        size_z, size_y, size_x = self.shape_zyx
        spacing_x, spacing_y, spacing_z = self.spacing_mm
        return (-(size_x - 1) * spacing_x / 2, -(size_y - 1) * spacing_y / 2, -(size_z - 1) * spacing_z / 2)

    @property
    def voxel_volume_ml(self) -> float:
        return math.prod(self.spacing_mm) / 1000.0

    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Physical coordinates of voxel centres as broadcastable (z, y, x) axes."""
        z, y, x = (
            (np.arange(n, dtype=np.float32) * s + o).astype(np.float32)
            for n, s, o in zip(self.shape_zyx, self.spacing_mm[::-1], self.origin_mm[::-1], strict=True)
        )
        return z[:, None, None], y[None, :, None], x[None, None, :]


GRIDS: Mapping[str, _Grid] = {
    "small": _Grid(shape_zyx=(24, 64, 64), spacing_mm=(3.2, 3.2, 6.0)),
    "full": _Grid(shape_zyx=(80, 512, 512), spacing_mm=(0.4, 0.4, 2.0)),
}


@dataclass(frozen=True)
class _Anatomy:
    """Tissue classes of one phantom, and the hypoperfused territory with the final infarct inside it."""

    grid: _Grid
    radius: FloatVolume  # normalised head radius: 1.0 on the outer skull surface
    brain: BoolVolume
    ventricles: BoolVolume
    territory: BoolVolume
    lesion: BoolVolume
    affected_side: int  # +1 or -1: the sign of x on the affected hemisphere


def _subject_numbers(*, cases: int, seed: int, first_subject: int) -> list[int]:
    """Increasing subject numbers with gaps, as in the real releases (sub-stroke0001 ... 0189, not all)."""
    gaps = np.random.default_rng(seed).integers(1, 4, size=cases - 1)
    if gaps.size > 0:
        gaps[0] = max(int(gaps[0]), 2)
    return [first_subject + int(offset) for offset in np.concatenate([[0], np.cumsum(gaps)])]


def _ellipsoid(grid: _Grid, *, centre_mm: np.ndarray, radii_mm: np.ndarray) -> BoolVolume:
    """An ellipsoid, evaluated only in its bounding box so full-size grids stay fast."""
    mask = np.zeros(grid.shape_zyx, dtype=bool)
    spacing_zyx = np.array(grid.spacing_mm[::-1])
    origin_zyx = np.array(grid.origin_mm[::-1])
    centre_zyx, radii_zyx = centre_mm[::-1], radii_mm[::-1]
    low = np.maximum(np.floor((centre_zyx - radii_zyx - origin_zyx) / spacing_zyx).astype(int), 0)
    high = np.minimum(
        np.ceil((centre_zyx + radii_zyx - origin_zyx) / spacing_zyx).astype(int) + 1, grid.shape_zyx
    )
    if np.any(high <= low):
        return mask
    axes = [
        ((np.arange(lo, hi) * s + o - c) / r).astype(np.float32)
        for lo, hi, s, o, c, r in zip(low, high, spacing_zyx, origin_zyx, centre_zyx, radii_zyx, strict=True)
    ]
    inside = axes[0][:, None, None] ** 2 + axes[1][None, :, None] ** 2 + axes[2][None, None, :] ** 2 <= 1.0
    mask[low[0] : high[0], low[1] : high[1], low[2] : high[2]] = inside
    return mask


def _vessel(grid: _Grid, *, start_mm: np.ndarray, end_mm: np.ndarray, radius_mm: float) -> BoolVolume:
    """A straight tube between two points (x, y, z in mm), as a union of small overlapping balls."""
    radius_mm = max(radius_mm, 0.6 * max(grid.spacing_mm[:2]))
    steps = max(2, int(np.linalg.norm(end_mm - start_mm) / (0.5 * radius_mm)))
    tube = np.zeros(grid.shape_zyx, dtype=bool)
    radii = np.array([radius_mm, radius_mm, max(radius_mm, 0.5 * grid.spacing_mm[2])])
    for fraction in np.linspace(0.0, 1.0, steps):
        tube |= _ellipsoid(grid, centre_mm=start_mm + fraction * (end_mm - start_mm), radii_mm=radii)
    return tube


def _anatomy(grid: _Grid, rng: np.random.Generator) -> _Anatomy:
    """Draw one head: an ellipsoidal skull and brain, two ventricles, an MCA-like wedge and its infarct."""
    z, y, x = grid.axes_mm()
    semi_axes_mm = np.array([72.0, 88.0, 62.0]) * rng.uniform(0.94, 1.04)
    radius = np.sqrt((x / semi_axes_mm[0]) ** 2 + (y / semi_axes_mm[1]) ** 2 + (z / semi_axes_mm[2]) ** 2)
    ventricles = np.zeros(grid.shape_zyx, dtype=bool)
    for side in (-1.0, 1.0):
        ventricles |= _ellipsoid(
            grid, centre_mm=np.array([side * 9.0, 5.0, 8.0]), radii_mm=np.array([6.0, 22.0, 12.0])
        )
    brain = (radius < 0.9) & ~ventricles
    affected_side = int(rng.choice([-1, 1]))
    wedge_centre = rng.uniform(-0.15, 0.15)  # radians off the lateral axis
    angle = np.arctan2(y, affected_side * x)  # 0 on the lateral axis of the affected hemisphere
    wedge = (np.abs(angle - wedge_centre) < 0.9) & (affected_side * x > 0)
    levels = (z > -0.3 * semi_axes_mm[2]) & (z < 0.6 * semi_axes_mm[2])
    territory = brain & wedge & levels & (radius > 0.3)
    lesion = _lesion(grid, rng, territory=territory)
    return _Anatomy(grid, radius, brain, ventricles, territory, lesion, affected_side)


def _lesion(grid: _Grid, rng: np.random.Generator, *, territory: BoolVolume) -> BoolVolume:
    """One to four ellipsoidal infarcts centred in the territory and clipped to it (never empty)."""
    candidates = np.flatnonzero(territory)
    severity = rng.uniform(0.25, 1.0)
    lesion = np.zeros(grid.shape_zyx, dtype=bool)
    spacing_zyx = np.array(grid.spacing_mm[::-1])
    origin_zyx = np.array(grid.origin_mm[::-1])
    for _ in range(int(rng.choice([1, 2, 3, 4, 6]))):
        index_zyx = np.array(np.unravel_index(int(rng.choice(candidates)), grid.shape_zyx))
        centre_mm = (origin_zyx + index_zyx * spacing_zyx)[::-1]
        radii_mm = severity * rng.uniform(10.0, 30.0, size=3) + np.array([0.0, 0.0, grid.spacing_mm[2] / 2])
        lesion |= _ellipsoid(grid, centre_mm=centre_mm, radii_mm=radii_mm)
        lesion[tuple(index_zyx)] = True
    return lesion & territory


def _noise(rng: np.random.Generator, grid: _Grid, *, sigma: float) -> FloatVolume:
    return rng.standard_normal(grid.shape_zyx, dtype=np.float32) * np.float32(sigma)


def _ncct(anatomy: _Anatomy, rng: np.random.Generator) -> FloatVolume:
    """Non-contrast CT in HU: air -1000, scalp 40, skull ~1200, grey 38, white 28, CSF 5, faint infarct."""
    radius = anatomy.radius
    hu = np.full(anatomy.grid.shape_zyx, -1000.0, dtype=np.float32)
    hu[radius < 1.05] = 40.0
    hu[radius < 1.0] = 1200.0
    hu[radius < 0.9] = 38.0
    hu[radius < 0.8] = 28.0
    hu[anatomy.ventricles & (radius < 0.9)] = 5.0
    hu[anatomy.lesion] -= 3.0
    return hu + _noise(rng, anatomy.grid, sigma=3.0)


def _vessels(anatomy: _Anatomy) -> BoolVolume:
    """Circle-of-Willis branches on one axial level; the affected side's MCA stops short (occlusion)."""
    grid, side = anatomy.grid, anatomy.affected_side
    level = -10.0
    branches = [
        ((0.0, 10.0), (0.0, 70.0)),  # anterior cerebral arteries, midline
        ((0.0, 0.0), (-side * 62.0, 4.0)),  # healthy middle cerebral artery
        ((0.0, 0.0), (side * 16.0, 2.0)),  # occluded middle cerebral artery: a proximal stump
        ((-6.0, -8.0), (-40.0, -60.0)),  # posterior cerebral arteries
        ((6.0, -8.0), (40.0, -60.0)),
    ]
    tubes = np.zeros(grid.shape_zyx, dtype=bool)
    for (x0, y0), (x1, y1) in branches:
        tubes |= _vessel(
            grid, start_mm=np.array([x0, y0, level]), end_mm=np.array([x1, y1, level]), radius_mm=1.6
        )
    return tubes & anatomy.brain


def _cta(anatomy: _Anatomy, ncct: FloatVolume) -> FloatVolume:
    """CT angiography: contrast in the vessels (~320 HU) and a little in perfused brain."""
    cta = ncct.copy()
    cta[anatomy.brain] += 6.0
    cta[anatomy.territory] -= 4.0
    cta[_vessels(anatomy)] = 320.0
    return cta


def _perfusion_maps(anatomy: _Anatomy, rng: np.random.Generator) -> dict[str, FloatVolume]:
    """Tmax (s), CBF (ml/100 g/min), CBV (ml/100 g) and MTT = 60 CBV / CBF (s), zero outside the brain."""
    tissue = anatomy.brain
    penumbra = anatomy.territory & ~anatomy.lesion
    values = {
        "tmax": {"normal": 1.5, "penumbra": 8.5, "core": 12.0, "noise": 0.3},
        "cbf": {"normal": 50.0, "penumbra": 20.0, "core": 8.0, "noise": 2.0},
        "cbv": {"normal": 4.0, "penumbra": 4.4, "core": 1.6, "noise": 0.2},
    }
    maps: dict[str, FloatVolume] = {}
    for name, value in values.items():
        volume = np.zeros(anatomy.grid.shape_zyx, dtype=np.float32)
        volume[tissue] = value["normal"]
        volume[penumbra] = value["penumbra"]
        volume[anatomy.lesion] = value["core"]
        volume += _noise(rng, anatomy.grid, sigma=value["noise"]) * tissue
        maps[name] = np.maximum(volume, 0.0, dtype=np.float32) * tissue
    maps["cbf"] = np.maximum(maps["cbf"], 1.0) * tissue
    maps["mtt"] = np.divide(60.0 * maps["cbv"], maps["cbf"], out=np.zeros_like(maps["cbf"]), where=tissue)
    return maps


def _ctp(ncct: FloatVolume, maps: Mapping[str, FloatVolume]) -> np.ndarray:
    """A 4D CTP (t, z, y, x) in HU: each voxel's bolus arrives Tmax late, peaks with CBV, lasts ~MTT.

    Stored, and so sent to the viewer, as int16 ``.nii.gz``: HU are whole numbers within int16, and the
    portal sends a file as it is stored (gzipped with Content-Encoding gzip, inflated by the browser off
    the page's thread). For the full-size CTP in NCCT space (512x512x80, 8 frames) ``make bench-viewer``
    measured 104 MiB sent as int16 ``.nii.gz``, 122 MiB as float32 ``.nii.gz`` (the same values; its
    first frame came 3-5 s later) and 320 MiB as int16 ``.nii``: uncompressed is faster only over the
    loopback, where inflating costs more than the transfer; over a real network three times the bytes
    cost more than the inflation saves.
    """
    frames = np.empty((CTP_FRAMES, *ncct.shape), dtype=np.int16)
    arrival_s = 6.0 + maps["tmax"]
    width_s = np.maximum(maps["mtt"], 2.0)
    amplitude_hu = 6.0 * maps["cbv"]
    for index in range(CTP_FRAMES):
        elapsed = np.maximum(index * CTP_FRAME_INTERVAL_S - arrival_s, 0.0) / width_s
        frames[index] = np.clip(ncct + amplitude_hu * elapsed * np.exp(1.0 - elapsed), -1024, 3071)
    return frames


def _image(
    array: np.ndarray, grid: _Grid, *, shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> sitk.Image:
    """A SimpleITK image on the grid (shifted, for the scanner frame of raw files); 4D gets a time axis."""
    image = sitk.GetImageFromArray(array, isVector=False)
    geometry: Any = image  # Any: SimpleITK's Image methods are untyped
    origin = tuple(o + s for o, s in zip(grid.origin_mm, shift_mm, strict=True))
    if array.ndim == 4:
        geometry.SetSpacing((*grid.spacing_mm, CTP_FRAME_INTERVAL_S))
        geometry.SetOrigin((*origin, 0.0))
    else:
        geometry.SetSpacing(grid.spacing_mm)
        geometry.SetOrigin(origin)
    return image


def _downsampled(grid: _Grid) -> _Grid:
    """The coarser in-plane grid of raw CTP and its maps, as scanners reconstruct them."""
    z, y, x = grid.shape_zyx
    sx, sy, sz = grid.spacing_mm
    return _Grid(shape_zyx=(z, (y + 1) // 2, (x + 1) // 2), spacing_mm=(2 * sx, 2 * sy, sz))


def _write(image: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


def _write_images(root: Path, case: str, anatomy: _Anatomy, rng: np.random.Generator) -> None:
    """Write every raw and derivative image of one case (all but the mask) in the release layout."""
    grid = anatomy.grid
    raw = root / "raw_data" / case / "ses-01"
    derived = root / "derivatives" / case / "ses-01"
    ncct = _ncct(anatomy, rng)
    cta = _cta(anatomy, ncct)
    maps = _perfusion_maps(anatomy, rng)
    ctp = _ctp(ncct, maps)
    scanner_shift = (3.0, -2.0, 4.0)
    coarse = _downsampled(grid)
    _write(_image(ncct.astype(np.int16), grid), raw / f"{case}_ses-01_ncct.nii.gz")
    _write(_image(cta.astype(np.int16), grid, shift_mm=scanner_shift), raw / f"{case}_ses-01_cta.nii.gz")
    _write(_image(ctp[:, :, ::2, ::2], coarse, shift_mm=scanner_shift), raw / f"{case}_ses-01_ctp.nii.gz")
    _write(_image(cta.astype(np.int16), grid), derived / f"{case}_ses-01_space-ncct_cta.nii.gz")
    _write(_image(ctp, grid), derived / f"{case}_ses-01_space-ncct_ctp.nii.gz")
    for name, volume in maps.items():
        raw_map = _image(volume[:, ::2, ::2], coarse, shift_mm=scanner_shift)
        _write(raw_map, raw / "perfusion-maps" / f"{case}_ses-01_{name}.nii.gz")
        _write(_image(volume, grid), derived / "perfusion-maps" / f"{case}_ses-01_space-ncct_{name}.nii.gz")


def _write_mask(root: Path, case: str, anatomy: _Anatomy, *, encoding_index: int) -> None:
    """Write the follow-up lesion mask under its 2024 name, in one of the three official encodings."""
    _, dtype, foreground = MASK_ENCODINGS[encoding_index % len(MASK_ENCODINGS)]
    mask = anatomy.lesion.astype(dtype) * dtype(foreground)
    path = root / "derivatives" / case / "ses-02" / f"{case}_ses-02_lesion-msk.nii.gz"
    _write(_image(mask, anatomy.grid), path)


def _write_table(path: Path, row: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)


def _write_phenotype(root: Path, case: str, *, lesion_volume_ml: float, rng: np.random.Generator) -> None:
    """Clinical tables: admission NIHSS (0-42) and 90-day mRS (0-6), both rising with lesion volume."""
    nihss = int(np.clip(round(2 + 20 * (1 - math.exp(-lesion_volume_ml / 60)) + rng.normal(0, 1)), 0, 42))
    mrs = int(np.clip(round(lesion_volume_ml / 30 + rng.normal(0, 0.3)), 0, 6))
    phenotype = root / "phenotype" / case
    baseline = {
        "subject": case,
        "age": int(rng.integers(45, 90)),
        "sex": str(rng.choice(["F", "M"])),
        "atrial_fibrillation": int(rng.integers(0, 2)),
        "hypertension": int(rng.integers(0, 2)),
        "nihss_admission": nihss,
        "mrs_premorbid": int(rng.integers(0, 2)),
    }
    _write_table(phenotype / "ses-01" / f"{case}_ses-01_demographic_baseline.csv", baseline)
    _write_table(phenotype / "ses-02" / f"{case}_ses-02_outcome.csv", {"subject": case, "mrs_90d": mrs})


def write_release(
    out_dir: Path,
    *,
    cases: int,
    seed: int,
    size: ReleaseSize,
    first_subject: int = 1,
    include_images: bool = True,
) -> list[str]:
    """Write a synthetic ISLES'24 release under ``out_dir`` and return its case names in order.

    Subject numbers start at ``first_subject`` and skip some numbers, as the real releases do. Every case
    is drawn from its own generator seeded by (seed, subject number), so the same seed writes the same
    arrays, and a release of N cases starts with the cases of a shorter one. Mask encodings cycle through
    ``MASK_ENCODINGS``. With ``include_images=False`` only masks and clinical tables are written: the
    evaluation benchmark needs full-size masks quickly.
    """
    if cases < 1:
        raise ValueError(f"A release needs at least one case; {cases} were asked for.")
    grid = GRIDS[size]
    names = []
    for index, number in enumerate(_subject_numbers(cases=cases, seed=seed, first_subject=first_subject)):
        case = f"sub-stroke{number:04d}"
        rng = np.random.default_rng([seed, number])
        anatomy = _anatomy(grid, rng)
        if include_images:
            _write_images(out_dir, case, anatomy, rng)
        _write_mask(out_dir, case, anatomy, encoding_index=index)
        volume_ml = float(anatomy.lesion.sum()) * grid.voxel_volume_ml
        _write_phenotype(out_dir, case, lesion_volume_ml=volume_ml, rng=rng)
        names.append(case)
    return names
