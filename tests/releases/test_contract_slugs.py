"""The release table and the container contract name images alike: what the importer stores under a slug
is what a container written from the official ISLES'24 template reads at ``/input/images/<slug>/``."""

from pathlib import Path

from inference.contract import ISLES24
from releases.isles24 import LAYOUT, SlotKind, release_scan

IMAGE_SLOTS = {slot.name: slot for slot in LAYOUT if slot.kind is SlotKind.IMAGE}


def test_every_image_of_the_isles24_contract_is_a_slot_of_the_release_the_importer_expects() -> None:
    assert [interface.slug for interface in ISLES24.image_inputs] == [
        "non-contrast-ct",
        "ct-angiography",
        "perfusion-ct",
        "tmax-parameter-map",
        "cbf-parameter-map",
        "cbv-parameter-map",
        "mtt-parameter-map",
        "preprocessed-CT-angiography",
        "preprocessed-perfusion-ct",
        "preprocessed-tmax-map",
        "preprocessed-cbf-map",
        "preprocessed-cbv-map",
        "preprocessed-mtt-map",
    ]
    for interface in ISLES24.image_inputs:
        assert IMAGE_SLOTS[interface.slug].expected, interface.slug


def test_a_synthetic_case_holds_every_input_the_contract_requires(release: Path) -> None:
    for case in release_scan(release):
        found = {file.slot.name for file in case.of_kind(SlotKind.IMAGE)}
        assert {interface.slug for interface in ISLES24.required_images} <= found, case.name
