"""The demo's example predictions: a Tmax > 6 s threshold of each hidden test case's perfusion map.

A participant of the demo needs an archive to submit without training anything. The classic perfusion
rule (tissue whose Tmax exceeds 6 s is at risk) gives one from the inputs participants are shown; it never
reads the hidden ground truth. Each mask takes the geometry of its Tmax map, which lies on the case's
NCCT grid, so it passes the submission checks.
"""

import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from portal.challenges.models import Split
from portal.datasets.models import Dataset, Image

TMAX_INTERFACE = "preprocessed-tmax-map"
TMAX_THRESHOLD_S = 6.0
ARCHIVE_NAME = "demo-predictions.zip"


def demo_predictions_write(*, dataset: Dataset, data_dir: Path) -> Path:
    """Write ``data_dir/demo-predictions.zip`` with ``<case>.nii.gz`` per test case, unless it exists.

    Needs every test case of ``dataset`` to have a stored ``preprocessed-tmax-map`` image (raises
    ``LookupError`` naming a case without one). The archive is written under another name and renamed
    when complete, so an interrupted run leaves no half-written archive behind.
    """
    archive = data_dir / ARCHIVE_NAME
    if archive.is_file():
        return archive
    images = {image.case.name: image for image in _tmax_images(dataset=dataset)}
    missing = sorted(set(dataset.cases.filter(split=Split.TEST).values_list("name", flat=True)) - set(images))
    if missing:
        raise LookupError(f"Test cases without a Tmax map: {', '.join(missing)}.")
    partial = data_dir / f".{ARCHIVE_NAME}.partial"
    with tempfile.TemporaryDirectory(prefix="demo-predictions-") as name:
        folder = Path(name)
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as target:
            for case_name, image in sorted(images.items()):
                mask_path = _tmax_mask_write(image=image, folder=folder, case_name=case_name)
                target.write(mask_path, arcname=f"{case_name}.nii.gz")
    partial.rename(archive)
    return archive


def _tmax_images(*, dataset: Dataset) -> list[Image]:
    return list(
        Image.objects.filter(
            case__dataset=dataset, case__split=Split.TEST, interface=TMAX_INTERFACE
        ).select_related("case")
    )


def _tmax_mask_write(*, image: Image, folder: Path, case_name: str) -> Path:
    """Threshold the stored Tmax map at 6 s into a uint8 mask with the map's geometry."""
    source = folder / f"{case_name}_tmax.nii.gz"
    with image.file.open("rb") as stored, source.open("wb") as copy:
        shutil.copyfileobj(stored, copy)
    tmax = sitk.ReadImage(str(source))
    mask = sitk.GetImageFromArray((sitk.GetArrayViewFromImage(tmax) > TMAX_THRESHOLD_S).astype(np.uint8))
    mask.CopyInformation(tmax)
    path = folder / f"{case_name}.nii.gz"
    sitk.WriteImage(mask, str(path), useCompression=True)
    return path
