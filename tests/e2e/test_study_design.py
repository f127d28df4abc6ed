"""The study design end to end in a real Chromium: a reader reads the organizer's instructions, goes on
and answers every item with the keyboard, catch trials included (same mask on both sides, comparisons
repeated), outlines the masks, changes their opacity and hides them, looks the instructions up again
midway, and ends on the page that says what happens next and links back;
the organizer's results show the guessing rate, the intra-reader kappa and the time per item, computed
from the stored answers as statsmodels and numpy compute them."""

import numpy as np
import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, expect
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from portal.readerstudies import services
from portal.readerstudies.models import MaskSource, ReaderStudy, ReadingItem, StudyReader
from tests.e2e.viewer_pages import canvas_pixels, logged_in_page, save_failure, session_cookie
from tests.portal.readerstudies.conftest import study_world_create

Trial = ReadingItem.Trial
INSTRUCTIONS = "## Reading protocol\n\nPrefer the mask that **follows the infarct on follow-up imaging**."
ITEMS = 3 + 2 + 2  # three comparisons, two same-mask trials, two repeats
NEXT_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
"""Resolves once the page has drawn what was changed before it."""


@pytest.fixture
def catch_study(transactional_db: None) -> ReaderStudy:
    # Made before Playwright starts (see tests/e2e/test_pages.py for why).
    world = study_world_create()
    made = services.reader_study_create(
        created_by=world.person("organizer"),
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        split="TEST",
        title="Reference against Penumbra Labs, with catch trials",
        sources=[services.REFERENCE, world.submission],
        instructions=INSTRUCTIONS,
        same_mask_trials=2,
        repeated_pairs=2,
    )
    services.study_reader_invite(
        study=made, user=world.person("reader"), invited_by=world.person("organizer")
    )
    made.refresh_from_db()
    assert made.status == ReaderStudy.Status.READY
    return made


def _comparison(item: ReadingItem) -> tuple[int, int, int]:
    return (
        item.study_case_id,
        min(item.source_a_id, item.source_b_id),
        max(item.source_a_id, item.source_b_id),
    )


def _category(item: ReadingItem) -> int:
    """From the stored answer: 0 the comparison's first source preferred, 1 the second, 2 neither."""
    if item.preference == ReadingItem.Preference.NONE:
        return 2
    preferred = item.source_a_id if item.preference == ReadingItem.Preference.A else item.source_b_id
    return 0 if preferred == min(item.source_a_id, item.source_b_id) else 1


class Plan:
    """The reader's answers: real items prefer a source by case; the first same-mask item a side, the
    second none; the first repeat agrees with its original, the second does not (so kappa is defined)."""

    def __init__(self, sources: list[int]) -> None:
        self.sources = sources
        self.first: dict[tuple[int, int, int], int | None] = {}
        self.same_mask = 0
        self.repeats = 0

    def key(self, item: ReadingItem, real_index: int) -> str:
        if item.trial == Trial.SAME_MASK:
            self.same_mask += 1
            return "1" if self.same_mask == 1 else "0"
        if item.trial == Trial.REAL:
            wanted = [self.sources[0], self.sources[1], None][real_index % 3]
            self.first[_comparison(item)] = wanted
        else:
            original = self.first[_comparison(item)]
            self.repeats += 1
            wanted = original if self.repeats == 1 else (self.sources[0] if original is None else None)
        if wanted is None:
            return "0"
        return "1" if item.source_a_id == wanted else "2"


def _panes(page: Page) -> np.ndarray:
    return np.concatenate([canvas_pixels(page, "#canvas-a"), canvas_pixels(page, "#canvas-b")], axis=1)


def _red_pixels(pixels: np.ndarray) -> int:
    """Pixels in the masks' red."""
    return int(((pixels[..., 0] > pixels[..., 1] + 60) & (pixels[..., 0] > pixels[..., 2] + 60)).sum())


def _look_at_the_masks(page: Page) -> None:
    """On the slice of the reference lesion (the first two of four), the reader outlines the masks (O),
    makes them opaque, hides them (H), sets pane A's window by a right-drag (pane B follows) and shows the
    masks again, outlined."""
    page.keyboard.press("v")  # axial
    page.keyboard.press("ArrowDown")
    page.evaluate(NEXT_FRAMES)
    filled = _panes(page)
    page.keyboard.press("o")
    expect(page.get_by_label("Outline")).to_be_checked()
    page.evaluate(NEXT_FRAMES)
    outlined = _panes(page)
    page.get_by_label("Mask opacity").fill("100")
    page.evaluate(NEXT_FRAMES)
    opaque = _panes(page)
    page.keyboard.press("h")
    expect(page.get_by_label("Show the masks")).not_to_be_checked()
    page.evaluate(NEXT_FRAMES)
    hidden_panes = canvas_pixels(page, "#canvas-a"), canvas_pixels(page, "#canvas-b")
    hidden = _red_pixels(np.concatenate(hidden_panes, axis=1))
    box = page.locator("#canvas-a").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down(button="right")  # the window, in pane A: pane B follows
    page.mouse.move(x - 100, y - 150, steps=5)
    page.mouse.up(button="right")
    page.evaluate(NEXT_FRAMES)
    windowed = canvas_pixels(page, "#canvas-a"), canvas_pixels(page, "#canvas-b")
    page.keyboard.press("h")
    expect(page.get_by_label("Show the masks")).to_be_checked()
    red = [_red_pixels(pixels) for pixels in (filled, outlined, opaque)]
    print(f"red pixels of both panes: filled, outlined, opaque outline {red}, hidden {hidden}")
    assert red[0] > 200, "no mask on the lesion's slice"
    assert 0 < red[1] < red[0] / 2, "O did not draw the masks as outlines"
    assert np.abs(opaque - outlined).mean() > 0.01, "the opacity changed nothing"
    changed = [np.abs(after - before).mean() for after, before in zip(windowed, hidden_panes, strict=True)]
    apart = [np.abs(panes[0] - panes[1]).mean() for panes in (hidden_panes, windowed)]
    print(f"the right-drag changed pane A by {changed[0]:.1f} and pane B by {changed[1]:.1f}; apart {apart}")
    assert changed[0] > 1, "the right-drag did not change pane A's window"
    assert changed[1] > changed[0] / 2, "pane B kept its window"
    assert apart[1] < changed[0] / 50, "the panes show the image in different windows"
    assert hidden == 0, "H left a mask shown"


def _read_everything(page: Page, study: ReaderStudy, url: str) -> None:
    reader = StudyReader.objects.get(study=study, user__username="reader")
    plan = Plan(list(study.sources.order_by("position").values_list("pk", flat=True)))
    page.goto(f"{url}/studies/{study.pk}/read/")
    expect(page).to_have_url(f"{url}/studies/{study.pk}/instructions/")
    expect(page.get_by_role("heading", name="Reading protocol")).to_be_visible()
    expect(page.locator("#instructions strong")).to_have_text("follows the infarct on follow-up imaging")
    expect(page.get_by_role("button", name="Start reading")).to_be_focused()
    page.keyboard.press("Enter")
    real_index = 0
    looked = False
    for position in range(1, ITEMS + 1):
        page.wait_for_selector(f"#reader-study[data-shown='{position}']", state="attached")
        expect(page.locator("#progress")).to_have_text(f"{position} / {ITEMS}")
        if position == 3:  # the instructions stay reachable, and reading resumes where it was
            page.get_by_role("link", name="Instructions").click()
            expect(page.get_by_role("heading", name="Reading protocol")).to_be_visible()
            expect(page.get_by_role("button", name="Back to reading")).to_be_focused()
            page.keyboard.press("Enter")
            page.wait_for_selector(f"#reader-study[data-shown='{position}']", state="attached")
        item = reader.items.get(position=position)
        if looked:
            expect(page.get_by_label("Outline")).to_be_checked()  # kept from item to item
        elif MaskSource.Kind.REFERENCE in (item.source_a.kind, item.source_b.kind):
            _look_at_the_masks(page)
            looked = True
        page.keyboard.press(plan.key(item, real_index))
        real_index += item.trial == Trial.REAL
        page.keyboard.press("Enter")
    expect(page.locator("#finished")).to_be_visible()
    expect(page.locator("#finished")).to_contain_text("What happens next")
    page.get_by_role("link", name="Back to your studies").click()
    expect(page).to_have_url(f"{url}/studies/")
    page.goto(f"{url}/studies/{study.pk}/read/")  # a later visit lands on the finished page
    expect(page).to_have_url(f"{url}/studies/{study.pk}/finished/")
    expect(page.locator("#finished")).to_contain_text(f"You have answered all {ITEMS} items")


def _row(page: Page, table: str, reader: str) -> list[str]:
    rows = page.locator(f"#{table} tbody tr")
    for index in range(rows.count()):
        cells = rows.nth(index).locator("td").all_inner_texts()
        if cells[0] == reader:
            return cells
    raise AssertionError(f"no row of {reader} in #{table}")


def _expected(study: ReaderStudy) -> tuple[float, int, int, tuple[float, float], list[float]]:
    """From the stored answers: Cohen's kappa (statsmodels) of first against repeated answers, the
    same-mask answers with a side, their count and Wilson interval (statsmodels), and every item's time."""
    items = list(ReadingItem.objects.filter(reader__study=study).order_by("position"))
    first = {_comparison(item): _category(item) for item in items if item.trial == Trial.REAL}
    table = np.zeros((3, 3))
    for item in items:
        if item.trial == Trial.REPEAT:
            table[first[_comparison(item)], _category(item)] += 1
    same = [item for item in items if item.trial == Trial.SAME_MASK]
    sided = sum(item.preference != ReadingItem.Preference.NONE for item in same)
    interval = proportion_confint(sided, len(same), alpha=0.05, method="wilson")
    with np.errstate(divide="ignore", invalid="ignore"):  # its z statistic when kappa's variance is 0
        kappa = cohens_kappa(table).kappa
    return kappa, sided, len(same), interval, [item.seconds for item in items]


@pytest.mark.e2e
def test_a_reader_reads_the_instructions_answers_catch_trials_by_keyboard_and_the_results_report_them(
    catch_study: ReaderStudy, live_server: object, browser: Browser
) -> None:
    reader_page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    organizer = logged_in_page(browser, session_cookie(username="organizer", live_server_url=live_server.url))
    page = reader_page
    try:
        _read_everything(reader_page, catch_study, live_server.url)
        page = organizer
        organizer.goto(f"{live_server.url}/studies/{catch_study.pk}/results/")
        kappa, sided, same, (low, high), seconds = _expected(catch_study)

        expect(organizer.get_by_text(f"{ITEMS} of {ITEMS} items answered.")).to_be_visible()
        expect(organizer.locator("#catch-answers")).to_contain_text("4 answers to catch")
        guessing = _row(organizer, "guessing", "reader")
        assert guessing[1:3] == [str(same), str(sided)] == ["2", "1"]
        assert float(guessing[3]) == pytest.approx(sided / same, abs=5e-4)
        assert [float(bound) for bound in guessing[4].split(" - ")] == pytest.approx([low, high], abs=5e-4)
        intra = _row(organizer, "intra-reader", "all readers")
        assert intra[1:3] == ["2", "1"]
        assert float(intra[3]) == pytest.approx(kappa, abs=5e-4)
        times = _row(organizer, "reading-times", "reader")
        assert times[1] == str(ITEMS)
        assert float(times[2]) == pytest.approx(np.median(seconds), abs=0.05)
        quartiles = np.percentile(seconds, [25, 75])
        assert [float(bound) for bound in times[3].split(" - ")] == pytest.approx(quartiles, abs=0.05)
        rates = organizer.locator("table.rates").first.locator("tbody tr")
        counted = sum(int(rates.nth(0).locator("td").nth(column).inner_text()) for column in (1, 2, 3))
        assert counted == 3, "the preference rates count the three real comparisons only"
    except Exception:
        save_failure(page, "reader-study-design")
        raise
    finally:
        connection.close()
