"""What each CT perfusion parameter map means: its quantity, its unit, the range a reader looks at and the
colour map it is shown in.

The one table of them: the portal's viewer pages receive it (as JSON) and colour a map, draw its colour bar
and label the bar from it. ISLES'24 maps and the synthetic release's (``releases.synthetic``) are
absolute (seconds, ml/100 g/min, ml/100 g), not relative to the healthy side, so the ranges are fixed
values, not fractions of a map's own extremes: the same colour means the same value in every case. Zero is
the background outside the brain, shown transparent with anything below the range.
"""

from dataclasses import dataclass
from typing import Final

__all__ = ["PARAMETER_MAPS", "ParameterMap", "parameter_map_of"]


@dataclass(frozen=True)
class ParameterMap:
    """One perfusion map: ``label`` as a reader names it, its ``unit``, the values from ``low`` (transparent
    below) to ``high`` (the colour map's last colour from there on) and NiiVue's ``colormap``."""

    label: str
    quantity: str
    unit: str
    low: float
    high: float
    colormap: str


# Keyed by the map's name in its interface slug: the contract's raw maps are "<name>-parameter-map" and
# the registered ones "preprocessed-<name>-map" (inference.interfaces.ISLES24).
PARAMETER_MAPS: Final = {
    # Tmax above 6 s is the usual threshold of hypoperfused tissue; 10 s marks severe delay.
    "tmax": ParameterMap("Tmax", "time to the maximum of the residue function", "s", 0.0, 10.0, "warm"),
    # Grey matter about 50-60 ml/100 g/min; below about 20 the tissue is at risk.
    "cbf": ParameterMap("CBF", "cerebral blood flow", "ml/100 g/min", 0.0, 80.0, "plasma"),
    # Grey matter about 4-5 ml/100 g; below about 2 the core.
    "cbv": ParameterMap("CBV", "cerebral blood volume", "ml/100 g", 0.0, 8.0, "viridis"),
    # MTT = 60 CBV / CBF: about 4-5 s in healthy tissue.
    "mtt": ParameterMap("MTT", "mean transit time", "s", 0.0, 15.0, "inferno"),
}


def parameter_map_of(slug: str) -> ParameterMap | None:
    """The map an interface slug holds (``tmax-parameter-map``, ``preprocessed-tmax-map``), or None."""
    name = slug.lower().removeprefix("preprocessed-").removesuffix("-parameter-map").removesuffix("-map")
    return PARAMETER_MAPS.get(name) if slug.lower().endswith("-map") else None
