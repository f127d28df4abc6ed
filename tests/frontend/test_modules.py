"""The page scripts' shared modules stay the only places of what they own: the API's requests (api.mjs)."""

import re
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
SCRIPTS = FRONTEND / "static" / "js"


def _sources() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(SCRIPTS.glob("*.mjs"))}


def test_only_api_mjs_and_the_volume_downloader_worker_send_requests() -> None:
    # The worker fetches the viewer's volumes off the page's thread: files, not the API.
    fetching = [name for name, source in _sources().items() if re.search(r"\bfetch\(", source)]
    assert fetching == ["api.mjs", "volume-downloader.mjs"]
