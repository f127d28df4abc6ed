"""Text that came out of a participant's file, made safe to store and to show.

A name in an archive or a field of an image's configuration is whatever its author wrote: bytes that
are not UTF-8 (which ``tarfile`` keeps as lone surrogates, and JSON may spell ``\\udcff``), NUL, control
and invisible formatting characters (a right-to-left override turns ``case\\u202egpj.nii`` into what
reads as ``casejpg.nii``). Stored as they are, they break a page, a mail or PostgreSQL (which refuses NUL
in text and JSON). ``untrusted_text`` writes each of them as an escape and keeps everything else.
"""

import unicodedata

__all__ = ["untrusted_text"]

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def untrusted_text(text: str) -> str:
    """``text`` with every byte that was not UTF-8 written ``\\xNN`` and every control, surrogate or
    invisible formatting character written ``\\xNN`` or ``\\uNNNN``; everything else as it is.

    >>> untrusted_text("sub-stroke0100_\\udcff.nii.gz")
    'sub-stroke0100_\\\\xff.nii.gz'
    >>> untrusted_text("case\\u202egpj.nii")
    'case\\\\u202egpj.nii'
    """
    return "".join(_character_text(character) for character in text)


def _character_text(character: str) -> str:
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(character) in _ESCAPED_CATEGORIES:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return character
