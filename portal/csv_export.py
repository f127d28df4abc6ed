"""CSV files the portal hands out, safe to open in a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and one that starts
with a tab or a carriage return may be read the same way; a team name, a label or a reader's comment
written that way would run on an organizer's machine (CSV injection; OWASP lists these six characters).
Every text cell that starts with one of them is written with a single quote in front, which spreadsheets
show as text and do not run. Numbers are written as they are, so a negative score stays a number.
"""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula, when a text cell starts with it (OWASP)."""


def csv_cell(value: object) -> object:
    """The value as it is safe to write: a text starting with a formula trigger gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return f"'{value}"
    return value


def csv_rows_text(*, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV file of ``rows`` under ``header``, every text cell neutralised (``None`` is an empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_cell(name) for name in header])
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def csv_table_text(rows: Sequence[Mapping[str, object]]) -> str:
    """A CSV file of rows given as mappings, the first row's keys as the header, every text cell
    neutralised; empty without rows. A later row with a key the first lacks is an error."""
    if not rows:
        return ""
    buffer = io.StringIO()
    header = list(rows[0])
    csv.writer(buffer).writerow([csv_cell(name) for name in header])
    writer = csv.DictWriter(buffer, fieldnames=header)
    writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()
