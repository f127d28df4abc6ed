"""Every perfusion map slug of the ISLES'24 contract finds its meaning, unit and range."""

from inference.interfaces import ISLES24
from inference.parameter_maps import PARAMETER_MAPS, parameter_map_of


def test_every_map_of_the_isles24_contract_has_its_unit_and_range() -> None:
    maps = {
        interface.slug: parameter_map_of(interface.slug)
        for interface in ISLES24.inputs
        if interface.slug.endswith("-map")
    }

    assert len(maps) == 8
    assert maps["tmax-parameter-map"] == maps["preprocessed-tmax-map"] == PARAMETER_MAPS["tmax"]
    units = {slug: (found.unit if found else None) for slug, found in maps.items() if "preprocessed" in slug}
    assert units == {
        "preprocessed-tmax-map": "s",
        "preprocessed-cbf-map": "ml/100 g/min",
        "preprocessed-cbv-map": "ml/100 g",
        "preprocessed-mtt-map": "s",
    }
    assert all(found is not None and found.low < found.high for found in maps.values())


def test_images_that_are_no_map_have_none() -> None:
    assert parameter_map_of("non-contrast-ct") is None
    assert parameter_map_of("preprocessed-perfusion-ct") is None
    assert parameter_map_of("stroke-lesion-segmentation") is None
