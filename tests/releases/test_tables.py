"""Tables read within bounds: what an XLSX or CSV claims cannot make the reader build a sheet of a million
rows or thousands of columns, and every unreadable table ends in one ``TableUnreadable``."""

from pathlib import Path

import pytest

from releases.tables import TableUnreadable, table_rows_read
from tests.hostile_tables import FAR_DOWN, FAR_RIGHT, workbook_bytes


def test_a_workbook_is_read_as_its_cells_whatever_size_it_declares() -> None:
    data = workbook_bytes([["case", "centre"], ["sub-stroke0001", "TUM"]], declared="A1:XFD1048576")

    assert table_rows_read(data, max_rows=10, max_columns=10) == [
        ("case", "centre"),
        ("sub-stroke0001", "TUM"),
    ]


def test_a_workbook_with_a_cell_far_down_is_refused_after_max_rows() -> None:
    data = workbook_bytes([["case", "centre"]], sheet_edit=FAR_DOWN)

    with pytest.raises(TableUnreadable, match="it has more than 1,000 rows"):
        table_rows_read(data, max_rows=1000, max_columns=10)


def test_a_workbook_with_a_cell_far_right_is_refused() -> None:
    data = workbook_bytes([["case", "centre"]], sheet_edit=FAR_RIGHT)

    with pytest.raises(TableUnreadable, match="its row 3 has more than 200 columns"):
        table_rows_read(data, max_rows=10, max_columns=200)


def test_a_csv_table_is_read_as_texts_and_bounded_in_rows() -> None:
    data = "\ufeffcase,nihss\nsub-stroke0001,12\n".encode()

    assert table_rows_read(data, max_rows=2, max_columns=2) == [("case", "nihss"), ("sub-stroke0001", "12")]
    with pytest.raises(TableUnreadable, match="more than 1 rows"):
        table_rows_read(data, max_rows=1, max_columns=2)


@pytest.mark.parametrize(
    "data",
    [b"case,note\nsub-stroke0001," + b"x" * 200_000 + b"\n", b"\xff\xfecase", b"PK\x03\x04broken"],
    ids=["field over csv's limit", "not UTF-8", "broken workbook"],
)
def test_an_unreadable_table_raises_one_error_saying_why(data: bytes) -> None:
    with pytest.raises(TableUnreadable, match="it is neither a UTF-8 CSV table nor an XLSX workbook"):
        table_rows_read(data, max_rows=10, max_columns=10)


def test_the_kind_given_wins_over_the_content(tmp_path: Path) -> None:
    path = tmp_path / "outcome.xlsx"
    path.write_bytes(b"case,mrs\nsub-stroke0001,2\n")

    with pytest.raises(TableUnreadable, match="neither"):
        table_rows_read(path, max_rows=10, max_columns=10, kind="xlsx")
    assert table_rows_read(path, max_rows=10, max_columns=10) == [("case", "mrs"), ("sub-stroke0001", "2")]
