"""Small real mask files for the evaluation tests, written with SimpleITK as the challenge's tools do."""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

ANISOTROPIC_MM = (0.4, 0.4, 2.0)
ORIGIN_MM = (-12.0, -8.0, 30.0)


def write_mask(
    path: Path,
    array: np.ndarray,
    *,
    spacing_mm: tuple[float, float, float] | None = ANISOTROPIC_MM,
    origin_mm: tuple[float, float, float] | None = ORIGIN_MM,
) -> Path:
    """Write ``array`` (indexed [z, y, x], any dtype) with the given geometry; None leaves ITK's default."""
    image = sitk.GetImageFromArray(array)
    if spacing_mm is not None:
        image.SetSpacing(spacing_mm)
    if origin_mm is not None:
        image.SetOrigin(origin_mm)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=path.name.endswith((".gz", ".mha")))
    return path


def two_lesions(shape: tuple[int, int, int] = (6, 10, 12)) -> np.ndarray:
    """A boolean volume with two separate boxy lesions: 2x3x3 = 18 voxels and 1x2x2 = 4 voxels."""
    mask = np.zeros(shape, dtype=bool)
    mask[1:3, 2:5, 2:5] = True
    mask[4, 6:8, 8:10] = True
    return mask
