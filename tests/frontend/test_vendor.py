"""The vendored NiiVue is exactly the pinned release, and its licence and checksum are recorded beside it."""

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "frontend" / "static" / "vendor" / "niivue"
PINNED_VERSION = "0.69.0"
PINNED_SHA256 = "47b896b77ec4a5be3ef1949c33ad393b6f45629921f326c279000bcf51bdb4af"


def test_vendored_niivue_is_the_pinned_release_byte_for_byte() -> None:
    digest = hashlib.sha256((VENDOR / "niivue.umd.js").read_bytes()).hexdigest()
    assert digest == PINNED_SHA256


def test_the_licence_file_names_the_licence_the_version_and_the_checksum() -> None:
    notice = (VENDOR / "LICENSE").read_text()
    assert "BSD-2-Clause" in notice
    assert f"@niivue/niivue@{PINNED_VERSION}" in notice
    assert PINNED_SHA256 in notice


SCRIPTS = Path(__file__).resolve().parents[2] / "frontend" / "static" / "js"


def test_only_the_viewer_module_and_its_niivue_shortcuts_call_niivue() -> None:
    call = re.compile(r"\bglobalThis\.niivue\b|\bniivue\.|\bNiivue\(")
    touching = sorted(path.name for path in SCRIPTS.glob("*.mjs") if call.search(path.read_text()))
    importing_shortcuts = sorted(
        path.name for path in SCRIPTS.glob("*.mjs") if '"./niivue-shortcuts.mjs"' in path.read_text()
    )
    assert touching == ["niivue-shortcuts.mjs", "viewer.mjs"]
    assert importing_shortcuts == ["viewer.mjs"]
