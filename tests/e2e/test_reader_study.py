"""An expert reader completes a three-case blinded study in a real Chromium with the keyboard alone (and
resumes it after a reload), and nothing the browser sent or received in that session names a mask's source."""

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, Request, Response, expect, sync_playwright

from portal.readerstudies import services
from portal.readerstudies.models import ReaderStudy, StudyReader
from tests.e2e.viewer_pages import CHROMIUM_ARGS, logged_in_page, save_failure, session_cookie
from tests.portal.readerstudies.conftest import CASE_NAMES, source_leaks, study_world_create

KEYS = ("1", "2", "0")
EXPECTED_PREFERENCES = ["A", "B", "NONE"]


@dataclass
class NetworkLog:
    """Every request the page made and every response it got, as text (bodies read before navigation)."""

    requests: list[Request] = field(default_factory=list)
    unread: list[Response] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", lambda request: self.requests.append(request))
        page.on("response", lambda response: self.unread.append(response))

    def read(self) -> None:
        """Read the bodies received so far; a page's bodies are gone once it navigates away."""
        for response in self.unread:
            self.responses.append((response.url, " ".join([str(response.headers), _body_text(response)])))
        self.unread.clear()


@pytest.fixture
def study(transactional_db: None) -> ReaderStudy:
    # Made before Playwright starts (see tests/e2e/test_pages.py for why).
    world = study_world_create()
    made = services.reader_study_create(
        created_by=world.person("organizer"),
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        split="TEST",
        title="Reference against Penumbra Labs",
        sources=[services.REFERENCE, world.submission],
    )
    services.study_reader_invite(
        study=made, user=world.person("reader"), invited_by=world.person("organizer")
    )
    made.refresh_from_db()
    assert made.status == ReaderStudy.Status.READY
    return made


@pytest.fixture
def browser(chromium_path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _toggle_with_space(page: Page) -> None:
    """Space shows A and B in turn in one pane; Escape goes back to side by side."""
    caption = page.locator("#pane-a figcaption")
    page.keyboard.press(" ")
    expect(page.locator("#pane-b")).to_be_hidden()
    expect(caption).to_have_text("A")
    page.keyboard.press(" ")
    expect(caption).to_have_text("B")
    page.keyboard.press("Escape")
    expect(page.locator("#pane-b")).to_be_visible()
    expect(caption).to_have_text("A")


def _read_with_keyboard(page: Page, url: str, log: NetworkLog) -> None:
    page.goto(url)
    for position, key in enumerate(KEYS, start=1):
        page.wait_for_selector(f"#reader-study[data-shown='{position}']", state="attached")
        expect(page.locator("#progress")).to_have_text(f"{position} / {len(CASE_NAMES)}")
        if position == 1:
            _toggle_with_space(page)
        if position == 2:
            log.read()
            page.reload()  # the reader comes back later: the study resumes at the first unanswered item
            page.wait_for_selector(f"#reader-study[data-shown='{position}']", state="attached")
            expect(page.locator("#progress")).to_have_text(f"{position} / {len(CASE_NAMES)}")
        page.keyboard.press(key)
        page.keyboard.press("Enter")
    expect(page.locator("#finished")).to_be_visible()
    log.read()


def _body_text(response: Response) -> str:
    if response.url.split("?")[0].endswith("niivue.umd.js"):
        return ""  # the pinned viewer library, the same bytes for every item (its checksum is tested)
    if 300 <= response.status < 400:
        return ""  # a redirect has no body; its Location header is read with the other headers
    body = response.body()
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return body.decode("latin-1")


def _leaks(log: NetworkLog) -> list[str]:
    found = []
    for request in log.requests:
        text = " ".join([request.url, str(request.headers), request.post_data or ""])
        found += [f"{word} in request {request.url}" for word in source_leaks(text)]
    for url, text in log.responses:
        found += [f"{word} in response {url}" for word in source_leaks(f"{url} {text}")]
    return found


@pytest.mark.e2e
def test_a_reader_completes_a_three_case_study_with_the_keyboard_and_no_source_is_named(
    study: ReaderStudy, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="reader", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    log = NetworkLog()
    log.watch(page)
    try:
        _read_with_keyboard(page, f"{live_server.url}/studies/{study.pk}/read/", log)
        assert page.locator("#canvas-a[data-viewer-ready='true']").count() == 1, "the masks were not drawn"
        assert page.locator("#viewer-status").inner_text() == ""

        reader = StudyReader.objects.get(study=study, user__username="reader")
        assert reader.finished_at is not None
        assert (
            list(reader.items.order_by("position").values_list("preference", flat=True))
            == EXPECTED_PREFERENCES
        )
        mask_requests = [request for request in log.requests if "/studies/masks/" in request.url]
        assert len({request.url for request in mask_requests}) == 2 * len(CASE_NAMES)
        assert sum("/next/" in url for url, _ in log.responses) >= len(CASE_NAMES) + 1
        assert _leaks(log) == []
    except Exception:
        save_failure(page, "reader-study")
        raise
    finally:
        # The reads above ran where Playwright's event loop lives, on a connection of their own: close it,
        # or PostgreSQL keeps the test database busy at teardown.
        connection.close()
