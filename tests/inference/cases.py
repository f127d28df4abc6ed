"""A synthetic ISLES'24 case as the runtime's inputs: slugs mapped to the release's files."""

import csv
from pathlib import Path

from inference.contract import JsonValue

PERFUSION_MAPS = ("tmax", "cbf", "cbv", "mtt")


def isles24_case_inputs(release: Path, case: str) -> dict[str, Path | JsonValue]:
    """The ISLES'24 inputs of ``case`` in a release written by ``releases.synthetic.write_release``."""
    raw = release / "raw_data" / case / "ses-01"
    derived = release / "derivatives" / case / "ses-01"
    with (
        release / "phenotype" / case / "ses-01" / f"{case}_ses-01_demographic_baseline.csv"
    ).open() as table:
        clinical: JsonValue = dict(next(csv.DictReader(table)))
    inputs: dict[str, Path | JsonValue] = {
        "non-contrast-ct": raw / f"{case}_ses-01_ncct.nii.gz",
        "ct-angiography": raw / f"{case}_ses-01_cta.nii.gz",
        "perfusion-ct": raw / f"{case}_ses-01_ctp.nii.gz",
        "preprocessed-CT-angiography": derived / f"{case}_ses-01_space-ncct_cta.nii.gz",
        "preprocessed-perfusion-ct": derived / f"{case}_ses-01_space-ncct_ctp.nii.gz",
        "acute-stroke-clinical-information": clinical,
    }
    for name in PERFUSION_MAPS:
        inputs[f"{name}-parameter-map"] = raw / "perfusion-maps" / f"{case}_ses-01_{name}.nii.gz"
        inputs[f"preprocessed-{name}-map"] = (
            derived / "perfusion-maps" / f"{case}_ses-01_space-ncct_{name}.nii.gz"
        )
    return inputs


def isles24_reference_image(release: Path, case: str) -> Path:
    """The image whose grid the segmentation must have: the non-contrast CT."""
    return release / "raw_data" / case / "ses-01" / f"{case}_ses-01_ncct.nii.gz"


def isles24_ground_truth(release: Path, case: str) -> Path:
    return release / "derivatives" / case / "ses-02" / f"{case}_ses-02_lesion-msk.nii.gz"
