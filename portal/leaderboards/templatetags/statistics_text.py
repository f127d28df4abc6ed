"""How the results pages write a statistic: ``{{ value|estimate:3 }}`` gives 3 decimals, and a dash for a
value that is undefined (NaN, e.g. an ICC of constant counts, or missing where too few cases give one),
where Django's ``floatformat`` would write "nan"."""

import math

from django import template

register = template.Library()

UNDEFINED = "\u2013"
"""An en dash."""


@register.filter
def estimate(value: object, digits: int = 3) -> str:
    """The value with ``digits`` decimals, or a dash when it is no finite number (a template gives ""
    for an attribute of a missing statistic, e.g. the ICC of fewer than two cases)."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return UNDEFINED
    return f"{value:.{digits}f}"
