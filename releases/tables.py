"""Spreadsheet tables (CSV or XLSX) read within bounds, for the clinical tables of a release and the case
attribute tables organizers upload.

Both come from people we do not control, so reading is bounded in rows and columns whatever the file
claims: an XLSX of a few kilobytes may declare a sheet of 1,048,576 rows by 16,384 columns (openpyxl's
read-only mode then pads every row to that width and fills every missing row), and a CSV may hold one
field of many megabytes (``csv`` refuses a field over its limit with ``csv.Error``, which is no
``ValueError``). Every way a table can be unreadable ends in ``TableUnreadable`` with the reason.
"""

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

__all__ = ["TableUnreadable", "table_rows_read"]

XLSX_MAGIC = b"PK\x03\x04"
Cell = object


class TableUnreadable(ValueError):
    """The table cannot be read; the message says why, as the end of a sentence ("it has more than ...")."""


def table_rows_read(
    source: Path | bytes, *, max_rows: int, max_columns: int, kind: Literal["csv", "xlsx"] | None = None
) -> list[tuple[Cell, ...]]:
    """The rows of a CSV table (UTF-8, a byte-order mark allowed: cells are texts) or of an XLSX workbook's
    first sheet (cells as stored: texts, numbers, dates, None for an empty cell), as ``kind`` says or, by
    default, as the content says.

    At most ``max_rows`` rows, blank ones included, and ``max_columns`` columns are read; a table with more,
    or one that is not a readable CSV or XLSX, raises ``TableUnreadable``.
    """
    data = source.read_bytes() if isinstance(source, Path) else source
    kind = kind or ("xlsx" if data.startswith(XLSX_MAGIC) else "csv")
    rows: list[tuple[Cell, ...]] = []
    try:
        for row in _xlsx_rows(data) if kind == "xlsx" else _csv_rows(data):
            if len(rows) == max_rows:
                raise TableUnreadable(f"it has more than {max_rows:,} rows")
            if len(row) > max_columns:
                raise TableUnreadable(f"its row {len(rows) + 1} has more than {max_columns:,} columns")
            rows.append(row)
    except TableUnreadable:
        raise
    except (ValueError, KeyError, csv.Error, zipfile.BadZipFile, InvalidFileException) as error:
        raise TableUnreadable(f"it is neither a UTF-8 CSV table nor an XLSX workbook ({error})") from error
    return rows


def _csv_rows(data: bytes) -> Iterator[tuple[Cell, ...]]:
    for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
        yield tuple(row)


def _xlsx_rows(data: bytes) -> Iterator[tuple[Cell, ...]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        # The sheet's declared dimensions are the file's claim, not its cells: forget them, so that rows are
        # not padded to a declared width.
        sheet.reset_dimensions()
        yield from sheet.iter_rows(values_only=True)
    finally:
        workbook.close()
