"""An expert reader completes a three-case blinded study in a real Chromium with the keyboard alone (and
resumes it after a reload), and nothing the browser sent or received in that session names a mask's source.
The done-when of the study, end to end: an organizer builds a study of an algorithm submission against the
reference masks in the creation form and invites the reader, the reader completes it, and the organizer
reads the preference rates and downloads the unblinded answers."""

import csv
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, Request, Response, expect

from portal.readerstudies import services
from portal.readerstudies.models import ReaderStudy, StudyReader
from portal.submissions.models import Submission
from tests.e2e.viewer_pages import logged_in_page, save_failure, session_cookie
from tests.portal.readerstudies.conftest import (
    ALGORITHM_SUBMISSION_ID,
    CASE_NAMES,
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
