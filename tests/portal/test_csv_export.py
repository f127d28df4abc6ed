"""Every CSV the portal hands out writes text a spreadsheet would run as a formula as plain text."""

import csv
import io

import pytest

from portal.csv_export import csv_rows_text, csv_table_text


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"])
def test_text_starting_with_a_formula_trigger_is_written_with_a_leading_quote(text: str) -> None:
    written = csv_rows_text(header=["comment"], rows=[[text]])

    assert list(csv.reader(io.StringIO(written, newline=""))) == [["comment"], [f"'{text}"]]


def test_numbers_and_harmless_text_are_written_as_they_are() -> None:
    written = csv_table_text([{"team": "Penumbra Labs", "score": -0.5, "rank": 2, "note": None}])

    assert list(csv.reader(io.StringIO(written))) == [
        ["team", "score", "rank", "note"],
        ["Penumbra Labs", "-0.5", "2", ""],
    ]
