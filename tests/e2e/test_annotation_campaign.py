"""The whole annotation campaign in a real Chromium (issue 7): the organizer starts a campaign with the
threshold algorithm's pre-annotation of two hidden test cases through its page, the reader erases part of
each starting mask and the organizer adds to it, the organizer reads their agreement and STAPLE figures,
promotes the consensus and switches the phase to it, and the phase's leaderboard shows the predictions
submission re-scored while its score on the first version stays readable in the API."""

import re
from dataclasses import dataclass

import numpy as np
import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.challenges.models import Split
from portal.submissions.models import Submission
from portal.submissions.services import submission_create
from portal.submissions.tasks import submission_check_task, submission_evaluate_task
from tests.e2e.viewer_pages import logged_in_page, save_failure, session_cookie
from tests.portal.annotations.campaign_world import (
    CampaignWorld,
    campaign_world_create,
    tmax_map,
    volume_bytes,
)
from tests.portal.submissions.conftest import upload, zip_bytes

CAMPAIGN_CASES = ("sub-stroke0001", "sub-stroke0002")


@dataclass(frozen=True)
class ScoredPhase:
    world: CampaignWorld
    submission: Submission


@pytest.fixture
def scored_phase(transactional_db: None) -> ScoredPhase:
    """The campaign world on the hidden test split, with a predictions submission scored on version 1
    (empty reference masks): it predicts the Tmax > 6 s half of every case, so its Dice is 0 there."""
    world = campaign_world_create(split=Split.TEST)
    prediction = volume_bytes((tmax_map() > 6).astype(np.uint8))
    masks = {f"{case.name}.nii.gz": prediction for case in world.cases}
    submission = submission_create(
        phase=world.phase, user=world.people["participant"], upload=upload(zip_bytes(masks))
    )
    submission_check_task(submission_id=submission.pk)
    submission_evaluate_task(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SUCCEEDED
    return ScoredPhase(world, submission)


def _campaign_create(page: Page, *, world: CampaignWorld) -> None:
    """Fill the organizer's form: pre-annotation of two test cases for the reader and the organizer."""
    page.get_by_role("link", name=f"New annotation campaign of {world.phase.challenge.title}").click()
    page.get_by_label("Title").fill("Correct the threshold on the test cases")
    page.get_by_label("Dataset").select_option(str(world.phase.dataset.pk))
    for name in CAMPAIGN_CASES:
        page.get_by_label(name).check()
    page.get_by_label("preprocessed-tmax-map").check()
    expect(page.get_by_label("non-contrast-ct")).to_be_checked()
    page.get_by_label(re.compile(r"^Starting mask:?$")).select_option("PRE_ANNOTATION")
    for username in ("reader", "organizer"):
        page.get_by_label(username, exact=True).check()
    page.get_by_role("button", name="Create the campaign").click()


def _stroke_and_finish(page: Page, *, studies_url: str, case_name: str, tool: str) -> None:
    """Open the case from the list of one's cases, draw one horizontal stroke across the middle of the
    axial slice with ``tool`` (it spans both halves, so the pen adds lesion and the eraser removes some
    of the pre-annotated half), save, and mark the case done."""
    page.goto(studies_url)
    page.locator("#annotation-assignments").get_by_role("link", name=case_name).click()
    page.wait_for_selector("#annotation[data-ready='true']", state="attached")
    expect(page.locator("#viewer-status")).to_have_text("Starting from the campaign's starting mask.")
    page.get_by_role("button", name=re.compile(f"^{tool}")).click()
    box = page.locator("#drawing-canvas").bounding_box()
    assert box is not None
    middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(middle_x - box["height"] * 0.4, middle_y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(middle_x - box["height"] * 0.4 + step * box["height"] * 0.08, middle_y)
    page.mouse.up()
    expect(page.locator("#save-status")).to_have_text("Unsaved changes.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("#annotation[data-saved-revision='1']", state="attached")
    page.get_by_role("button", name="Done").click()
    page.get_by_role("dialog", name="Mark this case done?").get_by_role("button", name="Mark done").click()
    expect(page.locator("#assignment-status")).to_have_text("done")


def _cell_texts(page: Page, table: str) -> list[list[str]]:
    """The text of every cell of a table's body, row by row."""
    return [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in page.locator(f"{table} tbody tr").all()
    ]


def _leaderboard_dice(page: Page, *, url: str) -> float:
    """The mean Dice of the only entry of a leaderboard page, as shown."""
    page.goto(url)
    headers = [text.strip() for text in page.locator("table.leaderboard thead th").all_inner_texts()]
    column = next(index for index, text in enumerate(headers) if text.startswith("Dice"))
    cell = page.locator("table.leaderboard tbody tr.entry").first.locator("td").nth(column).inner_text()
    return float(cell.split("±")[0])


def _agreement_is_shown(page: Page) -> None:
    """Per case: one pairwise Dice in (0, 1) and each annotator against the starting mask; STAPLE's
    sensitivity and specificity per annotator."""
    agreement = _cell_texts(page, "#campaign-agreement")
    for name in CAMPAIGN_CASES:
        rows = {pair: dice for case, pair, dice, _ in agreement if case == name}
        pairwise = [float(dice) for pair, dice in rows.items() if "starting mask" not in pair]
        assert len(pairwise) == 1, f"{name}: {rows}"
        assert 0 < pairwise[0] < 1, "the reader erased and the organizer drew, so they differ"
        for username in ("reader", "organizer"):
            assert 0 < float(rows[f"{username} · starting mask"]) < 1, f"{name}: {rows}"
        print(f"{name}: pairwise Dice {pairwise[0]}, against the starting mask {rows}")
    consensus = _cell_texts(page, "#campaign-consensus")
    for name in CAMPAIGN_CASES:
        estimates = {row[2]: (float(row[3]), float(row[4])) for row in consensus if row[0] == name}
        assert set(estimates) == {"reader", "organizer"}, f"{name}: {consensus}"
        assert all(0 <= value <= 1 for pair in estimates.values() for value in pair), estimates
        print(f"{name}: STAPLE sensitivity, specificity {estimates}")


@pytest.mark.e2e
def test_a_campaign_from_creation_to_a_rescored_leaderboard(
    scored_phase: ScoredPhase, live_server: LiveServer, browser: Browser
) -> None:
    world, submission = scored_phase.world, scored_phase.submission
    leaderboard_url = f"{live_server.url}/leaderboards/{world.phase.slug}/"
    organizer = logged_in_page(browser, session_cookie(username="organizer", live_server_url=live_server.url))
    reader = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    errors: list[str] = []
    for page in (organizer, reader):
        page.on("pageerror", lambda error: errors.append(str(error)))
    page = organizer
    try:
        dice_before = _leaderboard_dice(organizer, url=leaderboard_url)
        assert dice_before == 0.0, "the submission predicts lesions where version 1 has none"

        organizer.goto(f"{live_server.url}/studies/")
        _campaign_create(organizer, world=world)
        expect(organizer.locator("#campaign-status")).to_have_text("Status: Open to its annotators")
        campaign_url = organizer.url

        for page, tool in ((reader, "Erase"), (organizer, "Pen")):
            for name in CAMPAIGN_CASES:
                _stroke_and_finish(page, studies_url=f"{live_server.url}/studies/", case_name=name, tool=tool)

        organizer.goto(campaign_url)
        expect(organizer.get_by_text("4 of 4 assignments done.")).to_be_visible()
        _agreement_is_shown(organizer)

        organizer.get_by_label("Masks to promote").select_option(label="STAPLE consensus of every annotator")
        organizer.get_by_role("button", name="Promote").click()
        expect(organizer.get_by_text(re.compile(r"Ground truth version 2 of .* is made"))).to_be_visible()
        organizer.get_by_label(f"Version for {world.phase.title}").select_option("2")
        organizer.get_by_role("button", name="Score on it").click()
        expect(organizer.get_by_text(f"{world.phase.title} is now scored on version 2")).to_be_visible()
        expect(organizer.locator("#campaign-phases tbody tr").first.locator("td").nth(1)).to_have_text("v2")

        dice_after = _leaderboard_dice(organizer, url=leaderboard_url)
        assert dice_after > dice_before, "on the consensus the predicted half overlaps the lesions"
        answer = organizer.request.get(f"{live_server.url}/api/submissions/{submission.pk}/").json()
        by_version = {
            row["ground_truth_version"]: (row["is_current"], row["metrics_mean"]["dice"])
            for row in answer["scores_by_version"]
        }
        assert by_version[1] == (False, dice_before)
        assert by_version[2] == (True, pytest.approx(dice_after, abs=5e-4))
        print(f"leaderboard Dice: {dice_before} on version 1, {dice_after} on the promoted consensus")
        assert errors == []
    except Exception:
        save_failure(page, "annotation-campaign")
        raise
    finally:
        # The fixture's reads ran where Playwright's event loop lives, on a connection of their own: close
        # it, or PostgreSQL keeps the test database busy at teardown.
        connection.close()
