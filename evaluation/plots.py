"""Leaderboard plots as server-side SVG: no chart library, no script, no CDN.

Each function takes plain numbers and returns a standalone ``<svg>`` document with a title, labelled
axes and one mark per data item (a circle per point, a box per group, a cell per pair), so a page can
inline it and a test can count its marks. Text is escaped; nothing from the data becomes markup.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from evaluation.biomarkers import bland_altman
from evaluation.subgroups import SubgroupMean

WIDTH = 640
MARGIN_LEFT = 150
MARGIN_RIGHT = 20
MARGIN_TOP = 36
MARGIN_BOTTOM = 48
ROW_HEIGHT = 22
PLOT_HEIGHT = 300
INK = "#1f2937"
ACCENT = "#2563eb"
MUTED = "#9ca3af"


@dataclass(frozen=True)
class _Scale:
    """A linear map from data values onto a pixel range."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.high - self.low
        return self.start + (value - self.low) / span * (self.end - self.start)

    def ticks(self, count: int = 5) -> list[float]:
        step = _nice_step((self.high - self.low) / max(count, 1))
        first = math.ceil(self.low / step) * step
        return [round(first + i * step, 10) for i in range(int((self.high - first) / step + 1e-9) + 1)]


def _nice_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _bounds(values: Sequence[float], *, include_zero: bool = False) -> tuple[float, float]:
    finite = [value for value in values if math.isfinite(value)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _document(*, title: str, height: float, body: list[str]) -> str:
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label={quoteattr(title)} '
        f'font-family="sans-serif" font-size="12" fill="{INK}">'
        f"<title>{label}</title>"
        f'<text x="{WIDTH / 2:.0f}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
        f"{label}</text>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, content: str, *, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def _format(value: float) -> str:
    return f"{value:.3g}"


def _x_axis(scale: _Scale, *, y: float, label: str) -> list[str]:
    parts = [f'<line x1="{scale.start:.1f}" y1="{y:.1f}" x2="{scale.end:.1f}" y2="{y:.1f}" stroke="{INK}"/>']
    for tick in scale.ticks():
        x = scale(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}" stroke="{INK}"/>')
        parts.append(_text(x, y + 16, _format(tick)))
    parts.append(_text((scale.start + scale.end) / 2, y + 36, label))
    return parts


def _y_axis(scale: _Scale, *, x: float, label: str) -> list[str]:
    parts = [f'<line x1="{x:.1f}" y1="{scale.start:.1f}" x2="{x:.1f}" y2="{scale.end:.1f}" stroke="{INK}"/>']
    for tick in scale.ticks():
        y = scale(tick)
        parts.append(f'<line x1="{x - 4:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="{INK}"/>')
        parts.append(_text(x - 6, y + 4, _format(tick), anchor="end"))
    middle = (scale.start + scale.end) / 2
    parts.append(_text(x - 56, middle, label, extra=f' transform="rotate(-90 {x - 56:.1f} {middle:.1f})"'))
    return parts


def _xy_frame(
    *, x_values: Sequence[float], y_values: Sequence[float], x_label: str, y_label: str, include_zero: bool
) -> tuple[_Scale, _Scale, list[str]]:
    bottom = MARGIN_TOP + PLOT_HEIGHT
    x = _Scale(*_bounds(x_values, include_zero=include_zero), MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    y = _Scale(*_bounds(y_values, include_zero=include_zero), bottom, MARGIN_TOP)
    return x, y, [*_x_axis(x, y=bottom, label=x_label), *_y_axis(y, x=MARGIN_LEFT, label=y_label)]


def rank_distribution_svg(
    *, names: Sequence[str], rank_counts: Sequence[Mapping[int, int]], samples: int
) -> str:
    """Bootstrap rank distribution: one row per team, one circle per rank it took, area by frequency.

    ``rank_counts[i]`` maps a rank to the number of bootstrap samples in which team ``names[i]`` took it.
    The rank axis reaches the worst rank any shown team took, which may pass the number of teams shown
    when only the best of a long leaderboard are plotted.
    """
    rows = len(names)
    ranks = max([rows, *(max(counts) for counts in rank_counts if counts)])
    height = MARGIN_TOP + ROW_HEIGHT * max(rows, 1) + MARGIN_BOTTOM
    x = _Scale(0.5, ranks + 0.5, MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    bottom = MARGIN_TOP + ROW_HEIGHT * rows
    body = [*_x_axis(x, y=bottom, label=f"Rank over {samples} bootstrap samples of the cases")]
    largest = min(ROW_HEIGHT / 2 - 1, (x.end - x.start) / max(ranks, 1) / 2)
    for row, (name, counts) in enumerate(zip(names, rank_counts, strict=True)):
        y = MARGIN_TOP + ROW_HEIGHT * (row + 0.5)
        body.append(_text(MARGIN_LEFT - 8, y + 4, name, anchor="end"))
        for rank, count in sorted(counts.items()):
            radius = max(1.0, largest * math.sqrt(count / max(samples, 1)))
            share = f"{name}: rank {rank} in {count} of {samples} samples"
            body.append(
                f'<circle class="mark" cx="{x(rank):.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{ACCENT}">'
                f"<title>{escape(share)}</title></circle>"
            )
    return _document(title="Rank stability", height=height, body=body)


def significance_matrix_svg(
    *,
    names: Sequence[str],
    better: Sequence[Sequence[bool]],
    p_adjusted: Sequence[Sequence[float]],
    metric: str,
) -> str:
    """Pairwise significance heat map: cell (row i, column j) is filled when team i beats team j.

    ``better`` and ``p_adjusted`` are square, in the order of ``names`` (Holm-adjusted Wilcoxon tests).
    """
    size = len(names)
    cell = min(28.0, (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / max(size, 1))
    height = MARGIN_TOP + 20 + cell * size + MARGIN_BOTTOM
    top = MARGIN_TOP + 20
    body = [_text(MARGIN_LEFT, top - 6, "columns: ranks 1 to n, as the rows", anchor="start")]
    for i, name in enumerate(names):
        body.append(_text(MARGIN_LEFT - 8, top + cell * (i + 0.5) + 4, name, anchor="end"))
        for j in range(size):
            fill = ACCENT if better[i][j] else ("#ffffff" if i != j else MUTED)
            tip = "same team" if i == j else f"{name} vs {names[j]}: adjusted p = {_format(p_adjusted[i][j])}"
            body.append(
                f'<rect class="mark" x="{MARGIN_LEFT + cell * j:.1f}" y="{top + cell * i:.1f}" '
                f'width="{cell:.1f}" height="{cell:.1f}" fill="{fill}" stroke="{MUTED}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    body.append(
        _text(WIDTH / 2, height - 16, f"Filled: row significantly better than column on {metric} (Holm, 5%)")
    )
    return _document(title=f"Pairwise significance: {metric}", height=height, body=body)


def box_plot_svg(*, title: str, groups: Sequence[tuple[str, Sequence[float]]], value_label: str) -> str:
    """One horizontal box per group: quartiles, median, whiskers at 1.5 IQR, and the values beyond them."""
    finite_groups = [(name, [v for v in values if math.isfinite(v)]) for name, values in groups]
    everything = [value for _, values in finite_groups for value in values]
    height = MARGIN_TOP + ROW_HEIGHT * 1.5 * max(len(groups), 1) + MARGIN_BOTTOM
    x = _Scale(*_bounds(everything), MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    bottom = height - MARGIN_BOTTOM
    body = _x_axis(x, y=bottom, label=value_label)
    for row, (name, values) in enumerate(finite_groups):
        y = MARGIN_TOP + ROW_HEIGHT * 1.5 * (row + 0.5)
        body.append(_text(MARGIN_LEFT - 8, y + 4, name, anchor="end"))
        if values:
            body.extend(_box(x, y, name, values))
    return _document(title=title, height=height, body=body)


def _box(x: _Scale, y: float, name: str, values: Sequence[float]) -> list[str]:
    q1, median, q3 = (float(q) for q in np.percentile(values, [25, 50, 75]))
    reach = 1.5 * (q3 - q1)
    inside = [value for value in values if q1 - reach <= value <= q3 + reach]
    low, high = min(inside), max(inside)
    half = ROW_HEIGHT / 2 - 2
    summary = f"{name}: median {_format(median)}, quartiles {_format(q1)} to {_format(q3)}, n = {len(values)}"
    parts = [
        f'<line x1="{x(low):.1f}" y1="{y:.1f}" x2="{x(high):.1f}" y2="{y:.1f}" stroke="{INK}"/>',
        f'<rect class="mark" x="{x(q1):.1f}" y="{y - half:.1f}" width="{max(x(q3) - x(q1), 1):.1f}" '
        f'height="{2 * half:.1f}" fill="#dbeafe" stroke="{INK}"><title>{escape(summary)}</title></rect>',
        f'<line x1="{x(median):.1f}" y1="{y - half:.1f}" x2="{x(median):.1f}" y2="{y + half:.1f}" '
        f'stroke="{INK}" stroke-width="2"/>',
    ]
    parts.extend(
        f'<circle cx="{x(value):.1f}" cy="{y:.1f}" r="2" fill="none" stroke="{INK}"/>'
        for value in values
        if value < low or value > high
    )
    return parts


def volume_scatter_svg(*, points: Sequence[tuple[str, float, float]]) -> str:
    """Predicted against reference lesion volume, one circle per case, with the line of identity.

    ``points`` holds (case name, reference volume in ml, predicted volume in ml).
    """
    references = [reference for _, reference, _ in points]
    predictions = [predicted for _, _, predicted in points]
    both = references + predictions
    x, y, body = _xy_frame(
        x_values=both,
        y_values=both,
        x_label="Reference volume (ml)",
        y_label="Predicted volume (ml)",
        include_zero=True,
    )
    low, high = max(x.low, y.low), min(x.high, y.high)
    body.append(
        f'<line x1="{x(low):.1f}" y1="{y(low):.1f}" x2="{x(high):.1f}" y2="{y(high):.1f}" '
        f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
    )
    for case, reference, predicted in points:
        tip = f"{case}: reference {_format(reference)} ml, predicted {_format(predicted)} ml"
        body.append(
            f'<circle class="mark" cx="{x(reference):.1f}" cy="{y(predicted):.1f}" r="3.5" fill="{ACCENT}" '
            f'fill-opacity="0.7"><title>{escape(tip)}</title></circle>'
        )
    return _document(
        title="Predicted vs reference volume", height=MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM, body=body
    )


def bland_altman_svg(*, points: Sequence[tuple[str, float, float]]) -> str:
    """Bland-Altman plot: (predicted - reference) against their mean, with the bias and 95% limits.

    ``points`` holds (case name, reference volume in ml, predicted volume in ml); the bias and limits are
    :func:`evaluation.biomarkers.bland_altman`'s (bias +- 1.96 sd of the differences). With one point only
    the bias is drawn, as the limits are undefined.
    """
    means = [(reference + predicted) / 2 for _, reference, predicted in points]
    differences = [predicted - reference for _, reference, predicted in points]
    lines: list[tuple[float, str]] = []
    if points:
        agreement = bland_altman(
            [reference for _, reference, _ in points], [predicted for _, _, predicted in points]
        )
        lines = [
            (agreement.bias, "bias"),
            (agreement.upper_limit, "+1.96 sd"),
            (agreement.lower_limit, "-1.96 sd"),
        ]
        lines = [(value, name) for value, name in lines if math.isfinite(value)]
    x, y, body = _xy_frame(
        x_values=means,
        y_values=[*differences, *(value for value, _ in lines)],
        x_label="Mean of predicted and reference volume (ml)",
        y_label="Predicted - reference (ml)",
        include_zero=False,
    )
    for value, name in lines:
        body.append(
            f'<line x1="{x.start:.1f}" y1="{y(value):.1f}" x2="{x.end:.1f}" y2="{y(value):.1f}" '
            f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
        )
        body.append(_text(x.end - 4, y(value) - 4, f"{name} {_format(value)} ml", anchor="end"))
    for (case, _, _), mean, difference in zip(points, means, differences, strict=True):
        tip = f"{case}: mean {_format(mean)} ml, difference {_format(difference)} ml"
        body.append(
            f'<circle class="mark" cx="{x(mean):.1f}" cy="{y(difference):.1f}" r="3.5" fill="{ACCENT}" '
            f'fill-opacity="0.7"><title>{escape(tip)}</title></circle>'
        )
    return _document(
        title="Bland-Altman: predicted vs reference volume",
        height=MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM,
        body=body,
    )


def forest_plot_svg(
    *, title: str, subgroups: Sequence[SubgroupMean], overall_mean: float | None, value_label: str
) -> str:
    """Forest plot: one row per subgroup, its mean as a square and its interval as a line, with a dashed
    line at the mean over all cases.

    ``subgroups`` are :func:`evaluation.subgroups.subgroup_means`'s; each row is labelled with the
    subgroup's name and its number of cases.
    """
    return _interval_rows_svg(
        title=title,
        rows=[
            IntervalRow(
                label=f"{group.subgroup} (n = {group.cases})",
                value=group.mean,
                interval=group.interval,
                tip=(
                    f"{group.subgroup}: mean {_format(group.mean)} ({_format(group.interval[0])} to "
                    f"{_format(group.interval[1])}), n = {group.cases}"
                ),
            )
            for group in subgroups
        ],
        line=None if overall_mean is None else (overall_mean, f"all cases: {_format(overall_mean)}"),
        value_label=value_label,
    )


@dataclass(frozen=True)
class IntervalRow:
    """One row of a dot plot: its label, the estimate, its interval and the mark's tooltip; a row marked
    ``is_reference`` is drawn in the reference's colour."""

    label: str
    value: float
    interval: tuple[float, float]
    tip: str
    is_reference: bool = False


def correlation_dot_plot_svg(*, title: str, rows: Sequence[IntervalRow], value_label: str) -> str:
    """Dot plot of correlations with their intervals, one row each, on a -1 to 1 axis, with a dashed line
    at the reference row's estimate (the first marked ``is_reference``), so that a row whose interval
    crosses it reads at a glance as not shown to differ from the reference. An undefined (NaN) estimate
    has its label and no mark."""
    reference = next((row for row in rows if row.is_reference and math.isfinite(row.value)), None)
    return _interval_rows_svg(
        title=title,
        rows=rows,
        line=None
        if reference is None
        else (reference.value, f"{reference.label}: {_format(reference.value)}"),
        value_label=value_label,
        reach=(-1.0, 1.0),
    )


def _interval_rows_svg(
    *,
    title: str,
    rows: Sequence[IntervalRow],
    line: tuple[float, str] | None,
    value_label: str,
    reach: tuple[float, ...] = (),
) -> str:
    """Rows of an estimate (a square) and its interval (a line), with an optional dashed vertical line."""
    height = MARGIN_TOP + ROW_HEIGHT * max(len(rows), 1) + MARGIN_BOTTOM
    bottom = MARGIN_TOP + ROW_HEIGHT * max(len(rows), 1)
    values = [*reach, *(value for row in rows for value in (row.value, *row.interval))]
    if line is not None:
        values.append(line[0])
    x = _Scale(*_bounds(values), MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    body = _x_axis(x, y=bottom, label=value_label)
    if line is not None and math.isfinite(line[0]):
        body.append(
            f'<line x1="{x(line[0]):.1f}" y1="{MARGIN_TOP:.1f}" x2="{x(line[0]):.1f}" '
            f'y2="{bottom:.1f}" stroke="{MUTED}" stroke-dasharray="4 3"><title>'
            f"{escape(line[1])}</title></line>"
        )
    for number, row in enumerate(rows):
        y = MARGIN_TOP + ROW_HEIGHT * (number + 0.5)
        body.append(_text(MARGIN_LEFT - 8, y + 4, row.label, anchor="end"))
        if not math.isfinite(row.value):
            continue
        low, high = row.interval
        if math.isfinite(low) and math.isfinite(high):
            body.append(
                f'<line x1="{x(low):.1f}" y1="{y:.1f}" x2="{x(high):.1f}" y2="{y:.1f}" stroke="{INK}"/>'
            )
        colour = INK if row.is_reference else ACCENT
        body.append(
            f'<rect class="mark" x="{x(row.value) - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
            f'fill="{colour}"><title>{escape(row.tip)}</title></rect>'
        )
    return _document(title=title, height=height, body=body)
