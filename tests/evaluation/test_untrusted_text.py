"""Text from a participant's file is stored and shown with its invisible and broken characters escaped."""

import doctest

import pytest

from evaluation import untrusted_text as module
from evaluation.untrusted_text import untrusted_text


def test_the_examples_in_the_docstrings_hold() -> None:
    result = doctest.testmod(module, raise_on_error=False)

    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("sub-stroke0100.nii.gz", "sub-stroke0100.nii.gz"),
        ("nul\x00byte", "nul\\x00byte"),
        ("line\nbreak\r", "line\\x0abreak\\x0d"),
        ("\udcff\udcfe", "\\xff\\xfe"),
        ("lone \ud800 high surrogate", "lone \\ud800 high surrogate"),
        ("Zürich ß 中文", "Zürich ß 中文"),
        ("case\u202egpj.nii", "case\\u202egpj.nii"),
    ],
)
def test_untrusted_text_escapes_what_would_break_a_page_a_mail_or_postgresql(raw: str, shown: str) -> None:
    assert untrusted_text(raw) == shown
    untrusted_text(raw).encode("utf-8")  # every result is valid UTF-8
