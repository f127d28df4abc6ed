"""An expert reader completes a three-case blinded study in a real Chromium with the keyboard alone (and
resumes it after a reload), and nothing the browser sent or received in that session names a mask's source.
The done-when of the study, end to end: an organizer builds a study of an algorithm submission against the
reference masks in the creation form and invites the reader, the reader completes it, and the organizer
reads the preference rates and downloads the unblinded answers."""

import contextlib
import csv
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, Request, Response, Route, expect
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from portal.readerstudies import services
from portal.readerstudies.models import ReaderStudy, StudyReader
from portal.submissions.models import Submission
from tests.e2e.viewer_pages import canvas_pixels, logged_in_page, save_failure, session_cookie
from tests.portal.datasets.factories import ImageFactory
from tests.portal.readerstudies.conftest import (
    ALGORITHM_SUBMISSION_ID,
    CASE_NAMES,
    SHAPE,
    SPACING_MM,
    TEAM_NAME,
    StudyWorld,
    algorithm_segmentations,
    algorithm_submission_make,
    source_leaks,
    study_world_create,
)

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
    if response.status == 204 or 300 <= response.status < 400:
        return ""  # no content, or a redirect: its Location header is read with the other headers
    try:
        body = response.body()
    except PlaywrightError:
        # A request the page gave up before its body came (the reader answered before a prefetch ended):
        # nothing of it reached the page. A body missing for any other reason fails the test.
        if response.request.failure is None:
            raise
        return ""
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
        for (
            item
        ) in reader.items.all():  # the page said when both panes were drawn; reading time ran from then
            assert item.drawn_at is not None, f"item {item.position} was never reported drawn"
            assert item.shown_at <= item.drawn_at <= item.answered_at
            assert item.seconds == (item.answered_at - item.drawn_at).total_seconds()
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


@pytest.fixture
def algorithm_world(transactional_db: None) -> tuple[StudyWorld, Submission]:
    """The study world and the team's succeeded algorithm submission, its jobs' segmentations of the three
    cases stored (made before Playwright starts)."""
    world = study_world_create()
    algorithm = algorithm_submission_make(
        world=world,
        creator=world.person("participant"),
        team=world.submission.team,
        segmentations=algorithm_segmentations(),
        pk=ALGORITHM_SUBMISSION_ID,
    )
    return world, algorithm


def _study_build_in_form(page: Page, *, url: str, world: StudyWorld) -> int:
    """As the organizer: the creation form with the algorithm against the reference, then the invitation."""
    page.goto(f"{url}/studies/new/{world.phase.challenge.slug}/")
    page.get_by_label("Title").fill("Threshold baseline against reference")
    page.get_by_label("Dataset").select_option(str(world.phase.dataset.pk))
    page.get_by_label("Split").select_option("TEST")
    expect(page.get_by_label("Compare the reference annotation")).to_be_checked()
    page.get_by_label(f"{TEAM_NAME}, algorithm submission {ALGORITHM_SUBMISSION_ID} to ").check()
    page.get_by_role("button", name="Create the study").click()
    expect(page.locator("#study-status")).to_have_text("Status: Open to its readers")
    page.get_by_label("Invite a reader").fill("reader")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("reader is invited.")).to_be_visible()
    found = re.search(r"/studies/(\d+)/$", page.url)
    assert found is not None, f"the form led to {page.url}, not to the study's page"
    return int(found.group(1))


def _rates_shown(page: Page) -> dict[str, tuple[str, str]]:
    """The overall preference table: each source's rate and its Wilson interval, as shown."""
    rows = page.locator("table.rates").first.locator("tbody tr")
    shown = {}
    for index in range(rows.count()):
        cells = rows.nth(index).locator("td").all_inner_texts()
        shown[cells[0]] = (cells[4], cells[5])
    return shown


def _answers_downloaded(page: Page, folder: Path) -> list[dict[str, str]]:
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download every answer (CSV)").click()
    path = folder / download_info.value.suggested_filename
    download_info.value.save_as(path)
    with path.open(newline="", encoding="utf-8") as answers:
        return list(csv.DictReader(answers))


@pytest.mark.e2e
def test_an_organizer_builds_an_algorithm_study_in_the_form_a_reader_completes_it_and_the_csv_unblinds(
    algorithm_world: tuple[StudyWorld, Submission], live_server: object, browser: Browser, tmp_path: Path
) -> None:
    world, algorithm = algorithm_world
    organizer = logged_in_page(browser, session_cookie(username="organizer", live_server_url=live_server.url))
    reader = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    log = NetworkLog()
    log.watch(reader)
    page = organizer
    try:
        study_id = _study_build_in_form(organizer, url=live_server.url, world=world)
        page = reader
        _read_with_keyboard(reader, f"{live_server.url}/studies/{study_id}/read/", log)
        page = organizer
        organizer.goto(f"{live_server.url}/studies/{study_id}/results/")
        expect(organizer.get_by_text("3 of 3 items answered.")).to_be_visible()
        rates = _rates_shown(organizer)
        answers = _answers_downloaded(organizer, tmp_path)

        label = f"{TEAM_NAME} (submission {algorithm.pk})"
        assert set(rates) == {"reference", label}
        for rate, interval in rates.values():
            assert re.fullmatch(r"[01]\.\d{3}", rate), rate
            assert re.fullmatch(r"[01]\.\d{3} - [01]\.\d{3}", interval), interval
        assert [answer["preference"] for answer in answers] == EXPECTED_PREFERENCES
        for answer in answers:
            assert {answer["source_a"], answer["source_b"]} == {"reference", label}
        assert [answer["preferred_source"] for answer in answers] == [
            answers[0]["source_a"],
            answers[1]["source_b"],
            "none",
        ]
        assert _leaks(log) == []
    except Exception:
        save_failure(page, "reader-study-of-an-algorithm")
        raise
    finally:
        connection.close()


@pytest.fixture
def two_background_study(transactional_db: None) -> ReaderStudy:
    """The reference against the team's masks over two images (the CT and the Tmax map), so that I switches
    the image under the masks (made before Playwright starts)."""
    world = study_world_create()
    for case in world.cases:
        ImageFactory(
            case=case, interface="preprocessed-tmax-map", shape=list(SHAPE), spacing_mm=list(SPACING_MM)
        )
    made = services.reader_study_create(
        created_by=world.person("organizer"),
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        split="TEST",
        title="Reference against Penumbra Labs",
        sources=[services.REFERENCE, world.submission],
        background_interfaces=["non-contrast-ct", "preprocessed-tmax-map"],
    )
    services.study_reader_invite(
        study=made, user=world.person("reader"), invited_by=world.person("organizer")
    )
    return made


SAME_VOXEL = """() => {
  const [a, b] = ["#canvas-a", "#canvas-b"].map((id) => document.querySelector(id).dataset.crosshairVoxel);
  return a !== undefined && a === b;
}"""


def _same_voxel(page: Page, after: str) -> str:
    """The voxel under both panes' crosshair once they agree; fails naming both when they do not."""
    with contextlib.suppress(PlaywrightTimeoutError):  # said below, with both voxels
        page.wait_for_function(SAME_VOXEL, timeout=3_000)
    a, b = (page.locator(f"#canvas-{pane}").get_attribute("data-crosshair-voxel") for pane in "ab")
    assert a is not None, f"after {after}, pane A says nothing of its crosshair"
    assert a == b, f"after {after}, pane A is at voxel {a} and pane B at voxel {b}"
    return a


def _pane_point(page: Page, pane: str, x: float, y: float) -> tuple[float, float]:
    box = page.locator(f"#canvas-{pane}").bounding_box()
    assert box is not None
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


# The reader's keys that move or redraw a pane: slices in every layout (V), windows, images, the A/B toggle.
READER_KEYS = (
    *("ArrowUp", "ArrowDown", "ArrowDown", "w", "ArrowUp", "i", "ArrowDown"),  # three planes
    *("Space", "ArrowUp", "Space", "ArrowDown", "Escape"),  # A and B in turn in pane A, then side by side
    *("v", "ArrowUp", "ArrowDown", "v", "ArrowDown", "ArrowUp"),  # axial, coronal
    *("v", "ArrowUp", "ArrowDown", "v"),  # sagittal, and three planes again
)
# NiiVue's own keys, taken by the pane under the mouse once clicked: crosshair left, right, down and up.
NIIVUE_KEYS = ("h", "l", "j", "k")


@pytest.mark.e2e
def test_both_panes_show_the_same_slice_whatever_the_reader_does(
    two_background_study: ReaderStudy, live_server: object, browser: Browser
) -> None:
    page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    try:
        page.goto(f"{live_server.url}/studies/{two_background_study.pk}/read/")
        page.wait_for_selector("#reader-study[data-shown='1']", state="attached")
        seen = {_same_voxel(page, "the first item is drawn")}
        for x, y in ((0.2, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)):
            page.mouse.click(*_pane_point(page, "b", x, y))
            seen.add(_same_voxel(page, f"a click in pane B at ({x}, {y}) of it"))
        assert len(seen) > 1, "no click moved the crosshair"
        for key in READER_KEYS:
            page.keyboard.press(key)
            seen.add(_same_voxel(page, f"the key {key!r}"))
        for pane in "ab":
            page.mouse.move(*_pane_point(page, pane, 0.3, 0.3))
            for delta in (120, -120, -120):
                page.mouse.wheel(0, delta)
                seen.add(_same_voxel(page, f"the mouse wheel ({delta}) over pane {pane.upper()}"))
            page.mouse.click(*_pane_point(page, pane, 0.3, 0.3))
            for key in NIIVUE_KEYS:
                page.keyboard.press(key)
                seen.add(_same_voxel(page, f"NiiVue's key {key!r} in pane {pane.upper()}"))
        assert len(seen) > 6, f"the keys and the wheel moved the crosshair too little to tell: {seen}"
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_selector("#reader-study[data-shown='2']", state="attached")
        _same_voxel(page, "the next item is drawn")
        for key in ("ArrowDown", "ArrowUp"):
            page.keyboard.press(key)
            _same_voxel(page, f"the key {key!r} on the next item")
        assert page.locator("#viewer-status").inner_text() == ""
    except Exception:
        save_failure(page, "reader-study-synced-panes")
        raise


@pytest.fixture
def three_source_study(transactional_db: None) -> ReaderStudy:
    """The reference against the team's predictions and its algorithm (three comparisons a case, nine
    items), with the reader's first two items on the second case and the third on another (made before
    Playwright starts). On the second case the three masks all differ (on the first, the team's equals the
    reference), so two of its comparisons never look alike, whichever sides the draw gave them."""
    world = study_world_create()
    algorithm = algorithm_submission_make(
        world=world,
        creator=world.person("participant"),
        team=world.submission.team,
        segmentations=algorithm_segmentations(),
        pk=ALGORITHM_SUBMISSION_ID,
    )
    made = services.reader_study_create(
        created_by=world.person("organizer"),
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        split="TEST",
        title="Three sources",
        sources=[services.REFERENCE, world.submission, algorithm],
    )
    reader = services.study_reader_invite(
        study=made, user=world.person("reader"), invited_by=world.person("organizer")
    )
    items = list(reader.items.order_by("position"))
    first, second = [item for item in items if item.study_case.case.name == CASE_NAMES[1]][:2]
    third = next(item for item in items if item.study_case_id != first.study_case_id)
    order = [first, second, third, *(item for item in items if item not in (first, second, third))]
    for position, item in enumerate(order, start=len(order) + 1):  # through free places: they are unique
        item.position = position
        item.save(update_fields=["position"])
    for position, item in enumerate(order, start=1):
        item.position = position
        item.save(update_fields=["position"])
    return made


def _requested(log: NetworkLog, url: str) -> list[int]:
    """The places in the page's requests (in order) of every request of ``url``."""
    return [index for index, request in enumerate(log.requests) if request.url.endswith(url)]


def _wait_requested(page: Page, log: NetworkLog, url: str) -> None:
    for _ in range(200):
        if _requested(log, url):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the page never requested {url}")


@pytest.mark.e2e
def test_the_next_items_files_come_while_the_reader_reads_and_an_item_of_the_same_case_swaps_only_its_masks(
    three_source_study: ReaderStudy, live_server: object, browser: Browser
) -> None:
    reader = StudyReader.objects.get(study=three_source_study, user__username="reader")
    first, second, third = (reader.items.get(position=position) for position in (1, 2, 3))
    assert first.study_case_id == second.study_case_id != third.study_case_id
    connection.close()  # the reads above, before Playwright's event loop (see the first test)
    page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    log = NetworkLog()
    log.watch(page)
    try:
        page.goto(f"{live_server.url}/studies/{three_source_study.pk}/read/")
        page.wait_for_selector("#reader-study[data-shown='1']", state="attached")
        # While item 1 is read: item 2's two masks, and not its image (item 1's, which the panes keep).
        for token in (second.token_a, second.token_b):
            _wait_requested(page, log, f"/studies/masks/{token}/")
        before = [canvas_pixels(page, f"#canvas-{pane}") for pane in "ab"]
        answer_1 = len(log.requests)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_selector("#reader-study[data-shown='2']", state="attached")
        for token in (second.token_a, second.token_b):
            assert all(index < answer_1 for index in _requested(log, f"/studies/masks/{token}/"))
        assert _requested(log, f"/studies/items/{second.token}/images/0/") == []
        after = [canvas_pixels(page, f"#canvas-{pane}") for pane in "ab"]
        changed = sum(
            np.abs(new.astype(int) - old.astype(int)).mean() for new, old in zip(after, before, strict=True)
        )
        assert changed > 0, "the second item's masks look like the first's"
        # While item 2 is read: item 3's image (another case) and its two masks, each once.
        item_3_files = [
            f"/studies/items/{third.token}/images/0/",
            f"/studies/masks/{third.token_a}/",
            f"/studies/masks/{third.token_b}/",
        ]
        for url in item_3_files:
            _wait_requested(page, log, url)
        answer_2 = len(log.requests)
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        page.wait_for_selector("#reader-study[data-shown='3']", state="attached")
        for url in item_3_files:
            places = _requested(log, url)
            assert len(places) == 1, f"{url} was requested {len(places)} times"
            assert places[0] < answer_2, f"{url} was requested only after the answer"
        _toggle_with_space(page)
        assert page.locator("#viewer-status").inner_text() == ""
        log.read()
        assert _leaks(log) == []
    except Exception:
        save_failure(page, "reader-study-prefetch")
        raise
    finally:
        connection.close()


NEXT_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
"""Resolves once the page has drawn what was changed before it."""


def _panes(page: Page) -> list[np.ndarray]:
    return [canvas_pixels(page, f"#canvas-{pane}") for pane in "ab"]


def _same_picture(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    """Both panes alike pixel for pixel, but for each canvas's rim, where the browser may mark the focus."""
    inside = (slice(3, -3), slice(3, -3))
    return all((one[inside] == other[inside]).all() for one, other in zip(first, second, strict=True))


@pytest.mark.e2e
def test_the_next_item_is_drawn_while_the_answer_is_saved_and_a_refused_answer_puts_the_item_back(
    three_source_study: ReaderStudy, live_server: object, browser: Browser
) -> None:
    """At the answer the panes draw the next item's masks (downloaded while the reader read) while the
    answer is on its way; the item counts as shown, and its reading time starts, only once the answer is
    stored. A refused answer brings back the answered item's masks, says why, and can be given again."""
    reader = StudyReader.objects.get(study=three_source_study, user__username="reader")
    first, second = (reader.items.get(position=position) for position in (1, 2))
    connection.close()  # the reads above, before Playwright's event loop (see the first test)
    page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    log = NetworkLog()
    log.watch(page)
    held: list[Route] = []

    def hold(route: Route) -> None:  # the answer waits until the test lets it through
        held.append(route)

    answer_url = f"**/items/{first.token}/answer/"
    try:
        page.goto(f"{live_server.url}/studies/{three_source_study.pk}/read/")
        page.wait_for_selector("#reader-study[data-shown='1']", state="attached")
        for token in (second.token_a, second.token_b):
            _wait_requested(page, log, f"/studies/masks/{token}/")
        page.evaluate(NEXT_FRAMES)
        item_1 = _panes(page)
        page.route(answer_url, hold)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        for _ in range(300):  # 30 s at least: the Chromium tests share the machine with the rest of CI
            if held and not _same_picture(_panes(page), item_1):
                break
            page.wait_for_timeout(100)
        else:
            raise AssertionError("the panes did not draw the next item while the answer was on its way")
        page.evaluate(NEXT_FRAMES)
        ahead = _panes(page)
        assert page.locator("#reader-study").get_attribute("data-shown") == "1"
        expect(page.locator("#progress")).to_have_text("1 / 9")

        held.pop().fulfill(status=503, json={"detail": "The portal is busy; answer again in a moment."})
        expect(page.locator("#answer-error")).to_have_text("The portal is busy; answer again in a moment.")
        page.evaluate(NEXT_FRAMES)
        assert _same_picture(_panes(page), item_1), "after the refusal the panes do not show item 1 again"
        assert page.locator("#reader-study").get_attribute("data-shown") == "1"
        first.refresh_from_db()
        assert first.answered_at is None
        connection.close()

        page.unroute(answer_url, hold)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_selector("#reader-study[data-shown='2']", state="attached")
        expect(page.locator("#progress")).to_have_text("2 / 9")
        page.evaluate(NEXT_FRAMES)
        assert _same_picture(_panes(page), ahead), "item 2 looks other than what was drawn at the answer"
        first.refresh_from_db()
        assert first.preference == "A"
        second.refresh_from_db()
        for _ in range(50):  # the page reports item 2 drawn once it has its answer URL
            if second.drawn_at is not None:
                break
            page.wait_for_timeout(100)
            second.refresh_from_db()
        assert second.drawn_at is not None, "item 2 was never reported drawn"
        assert second.drawn_at >= first.answered_at
        assert page.locator("#viewer-status").inner_text() == ""
        log.read()
        assert _leaks(log) == []
    except Exception:
        save_failure(page, "reader-study-answer-overlap")
        raise
    finally:
        connection.close()
