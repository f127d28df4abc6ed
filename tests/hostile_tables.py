"""Spreadsheets as a hostile uploader could write them by hand: an XLSX of a few kilobytes that declares a
sheet of 1,048,576 rows by 16,384 columns, or holds one cell far down or far right."""

import io
import re
import zipfile

import openpyxl

SHEET = "xl/worksheets/sheet1.xml"


def workbook_bytes(rows: list[list[object]], *, sheet_edit: str = "", declared: str = "") -> bytes:
    """An XLSX of ``rows``; ``declared`` replaces the sheet's declared dimension (e.g. "A1:XFD1048576"),
    ``sheet_edit`` is XML put after the sheet's rows, as a hand-made hostile file could hold."""
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)  # type: ignore[union-attr]  # a new workbook has an active sheet
    saved = io.BytesIO()
    workbook.save(saved)
    source = zipfile.ZipFile(saved)
    edited = io.BytesIO()
    with zipfile.ZipFile(edited, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member.filename)
            if member.filename == SHEET:
                text = content.decode()
                if declared:
                    text = re.sub(r'<dimension ref="[^"]*"', f'<dimension ref="{declared}"', text)
                text = text.replace("</sheetData>", f"{sheet_edit}</sheetData>")
                assert text != content.decode() or not (declared or sheet_edit)
                content = text.encode()
            target.writestr(member, content)
    return edited.getvalue()


FAR_DOWN = '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>'
"""One cell on the sheet's last row: a reader that fills the missing rows makes a million."""
FAR_RIGHT = '<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c></row>'
"""One cell in the sheet's last column, on row 3: a reader pads the row to 16,384 cells."""
