"""The page scripts' shared modules stay the only places of what they own: the API's requests (api.mjs),
the window presets (window-presets.mjs); and the modules import one another without a circle."""

import re
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
SCRIPTS = FRONTEND / "static" / "js"
PRESET_NAMES = ("brain", "stroke", "bone")


def _sources() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(SCRIPTS.glob("*.mjs"))}


def test_only_api_mjs_and_the_volume_downloader_worker_send_requests() -> None:
    # The worker fetches the viewer's volumes off the page's thread: files, not the API.
    fetching = [name for name, source in _sources().items() if re.search(r"\bfetch\(", source)]
    assert fetching == ["api.mjs", "volume-downloader.mjs"]


def test_only_window_presets_mjs_names_a_window_preset() -> None:
    named = re.compile(rf"""["'](?:{"|".join(PRESET_NAMES)})["']""")
    naming = [name for name, source in _sources().items() if named.search(source)]
    templates = [
        str(path.relative_to(FRONTEND))
        for path in sorted((FRONTEND / "templates").rglob("*.html"))
        if "data-preset" in path.read_text()
    ]
    assert naming == ["window-presets.mjs"]
    assert templates == []


def test_the_modules_import_one_another_without_a_circle() -> None:
    imports = {
        name: set(re.findall(r"""["']\./([\w.-]+\.mjs)["']""", source)) for name, source in _sources().items()
    }
    assert all(imported <= set(imports) for imported in imports.values()), imports

    def circle_from(name: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if name in path:
            return (*path, name)
        for imported in sorted(imports[name]):
            found = circle_from(imported, (*path, name))
            if found is not None:
                return found
        return None

    circles = [circle for name in imports if (circle := circle_from(name, ())) is not None]
    assert circles == []
