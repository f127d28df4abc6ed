"""The server-side SVG plots: well-formed XML, labelled, one mark per data item, text escaped."""

import math
import xml.etree.ElementTree as ElementTree

import pytest

from evaluation.plots import (
    ACCENT,
    INK,
    IntervalRow,
    bland_altman_svg,
    box_plot_svg,
    correlation_dot_plot_svg,
    forest_plot_svg,
    rank_distribution_svg,
    significance_matrix_svg,
    volume_scatter_svg,
)
from evaluation.subgroups import SubgroupMean

SVG = "{http://www.w3.org/2000/svg}"
POINTS = [("sub-stroke0100", 10.0, 12.0), ("sub-stroke0101", 20.0, 18.5), ("sub-stroke0102", 40.0, 47.0)]


def parse(document: str) -> ElementTree.Element:
    root = ElementTree.fromstring(document)
    assert root.tag == f"{SVG}svg"
    return root


def marks(root: ElementTree.Element) -> list[ElementTree.Element]:
    return [element for element in root.iter() if element.get("class") == "mark"]


def texts(root: ElementTree.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def test_rank_distribution_has_a_circle_per_rank_each_team_took() -> None:
    root = parse(
        rank_distribution_svg(
            names=["Alpha", "Beta", "carol"],
            rank_counts=[{1: 900, 2: 100}, {1: 100, 2: 900}, {3: 1000}],
            samples=1000,
        )
    )

    assert len(marks(root)) == 5
    assert {"Alpha", "Beta", "carol", "Rank over 1000 bootstrap samples of the cases"} <= set(texts(root))
    assert root.find(f"{SVG}title").text == "Rank stability"


def test_rank_axis_reaches_ranks_worse_than_the_teams_shown() -> None:
    root = parse(
        rank_distribution_svg(names=["Alpha", "Beta"], rank_counts=[{1: 5, 7: 5}, {2: 10}], samples=10)
    )

    right_edge = float(root.get("width"))
    assert all(float(circle.get("cx")) < right_edge for circle in marks(root))
    tick_labels = [float(text) for text in texts(root) if text.isdigit()]
    assert max(tick_labels) >= 6


def test_significance_matrix_has_a_cell_per_pair_and_fills_the_significant_ones() -> None:
    better = [[False, True, True], [False, False, False], [False, False, False]]
    p_values = [[1.0, 0.01, 0.02], [0.01, 1.0, 0.6], [0.02, 0.6, 1.0]]

    root = parse(
        significance_matrix_svg(names=["A", "B", "C"], better=better, p_adjusted=p_values, metric="Dice")
    )

    cells = marks(root)
    assert len(cells) == 9
    assert sum(cell.get("fill") == "#2563eb" for cell in cells) == 2


def test_box_plot_has_a_box_per_team_and_labels_its_axis() -> None:
    root = parse(
        box_plot_svg(
            title="Dice",
            groups=[("Alpha", [0.9, 0.5, 0.8]), ("Beta", [0.8, 0.6, 0.7]), ("Empty", [])],
            value_label="Dice",
        )
    )

    assert len(marks(root)) == 2
    assert "Dice" in texts(root)


def test_volume_scatter_has_a_point_per_case_and_both_axes_in_ml() -> None:
    root = parse(volume_scatter_svg(points=POINTS))

    assert len(marks(root)) == 3
    assert {"Reference volume (ml)", "Predicted volume (ml)"} <= set(texts(root))


def test_bland_altman_shows_the_bias_and_limits_of_agreement() -> None:
    root = parse(bland_altman_svg(points=POINTS))

    assert len(marks(root)) == 3
    labels = texts(root)
    assert any(label.startswith("bias 2.5 ml") for label in labels)  # mean of +2, -1.5, +7
    assert sum(label.startswith(("+1.96 sd", "-1.96 sd")) for label in labels) == 2


def test_plot_text_from_team_names_is_escaped() -> None:
    document = rank_distribution_svg(
        names=['<script>alert("x")</script> & co'], rank_counts=[{1: 10}], samples=10
    )

    root = parse(document)
    assert "<script>" not in document
    assert '<script>alert("x")</script> & co' in texts(root)


def test_a_single_point_still_draws_well_formed_axes() -> None:
    root = parse(bland_altman_svg(points=[("sub-stroke0100", 5.0, 5.0)]))

    assert len(marks(root)) == 1


def test_forest_plot_has_a_square_per_subgroup_labelled_with_its_cases() -> None:
    subgroups = [
        SubgroupMean("TUM", 12, 0.41, (0.33, 0.5)),
        SubgroupMean("<Zurich>", 9, 0.28, (0.2, 0.37)),
    ]

    root = parse(
        forest_plot_svg(title="Dice by centre", subgroups=subgroups, overall_mean=0.35, value_label="Dice")
    )

    assert len(marks(root)) == 2
    assert {"TUM (n = 12)", "<Zurich> (n = 9)", "Dice", "Dice by centre"} <= set(texts(root))


def test_correlation_dot_plot_marks_each_defined_correlation_and_a_line_at_the_references() -> None:
    rows = [
        IntervalRow("Reference annotation", 0.62, (0.4, 0.78), "reference", is_reference=True),
        IntervalRow("Alpha", 0.55, (0.3, 0.74), "Alpha: rho = 0.550"),
        IntervalRow("<Beta>", math.nan, (math.nan, math.nan), "Beta: too few cases"),
    ]

    root = parse(correlation_dot_plot_svg(title="Volume vs NIHSS", rows=rows, value_label="Spearman rho"))

    assert len(marks(root)) == 2
    assert [mark.get("fill") for mark in marks(root)] == [INK, ACCENT]
    assert {"Reference annotation", "Alpha", "<Beta>", "Spearman rho"} <= set(texts(root))
    dashed = [line for line in root.iter(f"{SVG}line") if line.get("stroke-dasharray")]
    assert len(dashed) == 1
    reference_x = float(marks(root)[0].get("x") or 0) + 4
    assert float(dashed[0].get("x1") or 0) == pytest.approx(reference_x, abs=0.11)
    assert "-1" in texts(root)
    assert "1" in texts(root)
