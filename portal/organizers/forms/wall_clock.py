"""Times an organizer types as wall-clock times in a time zone they chose (a challenge's dates, a phase's
opening, closing and team freeze): read in that zone, and refused with a sentence when the clocks skip
them there (the hour lost in spring)."""

import datetime
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils import timezone


def wall_clock_times_read(
    form: forms.Form, cleaned: dict[str, Any], *, names: Iterable[str], zone: zoneinfo.ZoneInfo
) -> None:
    """Replace each of ``names`` in ``cleaned`` (a time as typed, which Django read as UTC) by the same
    wall-clock time in ``zone``; a time that does not exist there gets the sentence on its field instead."""
    for name in names:
        typed = cleaned.get(name)
        if not isinstance(typed, datetime.datetime):
            continue
        wall_clock = timezone.make_naive(typed, datetime.UTC)
        local = wall_clock.replace(tzinfo=zone)
        if local.astimezone(datetime.UTC).astimezone(zone).replace(tzinfo=None) != wall_clock:
            form.add_error(
                name,
                f"{wall_clock:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip that hour. "
                "Pick another time.",
            )
            continue
        cleaned[name] = local
