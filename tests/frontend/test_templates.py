"""The templates' comments stay out of the pages: Django's ``{# #}`` comment is one line only, so one that
goes on to another line is shown to the user as text (the case viewer's help and the annotation page
showed theirs); a longer one is a ``{% comment %}`` block."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "frontend" / "templates"


def test_no_one_line_comment_goes_on_to_another_line() -> None:
    unclosed = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert unclosed == []
