"""An annotator corrects a pre-annotated case in a real Chromium: draws a stroke with the pen on the
canvas, undoes and redoes it, saves each time, and the stored revisions are the starting mask (undone)
and the starting mask plus the drawn voxels (redone); a reload resumes from the newest revision, and
Done, once confirmed (Escape cancels), makes it final."""

import hashlib
import re
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.db import connection
from playwright.sync_api import Browser, expect

from portal.annotations import services
from portal.annotations.masks import mask_array_read
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign
from tests.e2e.viewer_pages import canvas_pixels, logged_in_page, save_failure, session_cookie
from tests.portal.annotations.campaign_world import (
    SHAPE,
    SPACING_MM,
    campaign_world_create,
    tmax_map,
    volume_bytes,
)
from tests.portal.datasets.factories import nifti_bytes


@pytest.fixture
def assignment(transactional_db: None) -> AnnotationAssignment:
    # Made before Playwright starts (see tests/e2e/test_pages.py for why).
    world = campaign_world_create()
    campaign = services.annotation_campaign_create(
        created_by=world.people["organizer"],
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        title="Correct the threshold",
        cases=world.cases[:1],
        images=["non-contrast-ct", "preprocessed-tmax-map"],
        starting_mask=AnnotationCampaign.StartingMask.PRE_ANNOTATION,
        annotators=[world.people["reader"]],
    )
    campaign.refresh_from_db()
    assert campaign.status == AnnotationCampaign.Status.READY
    return AnnotationAssignment.objects.get(campaign_case__campaign=campaign)


@pytest.mark.e2e
def test_an_annotator_draws_a_stroke_saves_it_and_the_stored_mask_changed_where_drawn(
    assignment: AnnotationAssignment, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="reader", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    url = f"{live_server.url}/studies/campaigns/assignments/{assignment.pk}/"
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url)
        page.wait_for_selector("#annotation[data-ready='true']", state="attached")
        expect(page.locator("#viewer-status")).to_have_text("Starting from the campaign's starting mask.")
        box = page.locator("#drawing-canvas").bounding_box()
        assert box is not None
        middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(middle_x - box["height"] * 0.4, middle_y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(middle_x - box["height"] * 0.4 + step * box["height"] * 0.08, middle_y)
        page.mouse.up()
        expect(page.locator("#save-status")).to_have_text("Unsaved changes.")
        page.get_by_role("button", name="Undo").click()
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("#annotation[data-saved-revision='1']", state="attached")
        page.get_by_role("button", name="Redo").click()
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("#annotation[data-saved-revision='2']", state="attached")

        start = mask_array_read(assignment.campaign_case.starting_mask)
        undone = mask_array_read(assignment.revisions.get(number=1).file)
        assert (undone == start).all(), "after Undo the saved mask is the starting mask"
        revision = assignment.revisions.get(number=2)
        drawn = mask_array_read(revision.file)
        changed = np.argwhere(drawn != start)
        assert len(changed) > 0, "the stroke changed no voxel of the stored mask"
        assert drawn[tuple(changed.T)].all(), "the pen only adds lesion voxels"
        assert len({z for z, _, _ in changed}) == 1, "a stroke on the axial view stays in one slice"
        assert revision.created_by.username == "reader"

        page.reload()
        page.wait_for_selector("#annotation[data-ready='true']", state="attached")
        expect(page.locator("#viewer-status")).to_have_text("Resuming from your revision 2.")
        page.get_by_role("button", name="Done").click()
        dialog = page.get_by_role("dialog", name="Mark this case done?")
        expect(dialog).to_be_visible()
        for key in ("w", "0", "ArrowUp"):  # no key acts behind the dialog
            page.keyboard.press(key)
        expect(page.get_by_role("button", name="Brain 40/80")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("button", name="Pen")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Escape")  # cancels: nothing is marked
        expect(dialog).to_be_hidden()
        expect(page.locator("#assignment-status")).to_have_text("in progress")
        assignment.refresh_from_db()
        assert assignment.status == AnnotationAssignment.Status.IN_PROGRESS
        page.get_by_role("button", name="Done").click()
        dialog.get_by_role("button", name="Mark done").click()
        expect(page.locator("#assignment-status")).to_have_text("done")
        expect(page.locator("#progress")).to_have_text("1 / 1 cases done")
        assignment.refresh_from_db()
        assert assignment.status == AnnotationAssignment.Status.DONE
        assert assignment.revisions.count() == 3  # Done saves what is on screen, then locks it
        assert (mask_array_read(assignment.revisions.get(number=3).file) == drawn).all()
        print(f"stroke: {len(changed)} voxels added in slice {changed[0][0]}")
        assert errors == []
    except Exception:
        save_failure(page, "annotation")
        raise
    finally:
        # The reads above ran where Playwright's event loop lives, on a connection of their own: close it,
        # or PostgreSQL keeps the test database busy at teardown.
        connection.close()


CANVAS_BOXES_RECORD = """() => {
    const canvas = document.getElementById("drawing-canvas");
    const box = () => {  // on the page, not in the window: focusing the canvas may scroll the page
        const { x, y, width, height } = canvas.getBoundingClientRect();
        return [x + window.scrollX, y + window.scrollY, width, height].join(",");
    };
    window.canvasBoxes = [box()];
    window.canvasObserver?.disconnect();
    window.canvasObserver = new MutationObserver(() => window.canvasBoxes.push(box()));
    window.canvasObserver.observe(document.getElementById("annotation"), {
        subtree: true, childList: true, characterData: true, attributes: true,
    });
}"""
NEXT_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
"""Resolves once the page has drawn what was changed before it."""
WIDTHS = range(800, 1601, 50)
"""Page widths tried, in CSS pixels: the toolbar wraps differently on each."""


@pytest.mark.e2e
def test_the_annotation_canvas_keeps_its_place_while_the_toolbar_changes(
    assignment: AnnotationAssignment, live_server: object, browser: Browser
) -> None:
    """At each page width, every change below the header while the annotator draws and saves (the status
    lines, pressed and disabled buttons, the brush size) leaves the canvas where it was."""
    cookie = session_cookie(username="reader", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    moved: dict[int, list[str]] = {}
    try:
        page.goto(f"{live_server.url}/studies/campaigns/assignments/{assignment.pk}/")
        page.wait_for_selector("#annotation[data-ready='true']", state="attached")
        for saves, width in enumerate(WIDTHS, start=1):
            page.set_viewport_size({"width": width, "height": 900})
            page.evaluate(NEXT_FRAMES)
            page.get_by_role("button", name="Pen").click()
            page.locator("#brush-size").fill("1")
            page.evaluate(CANVAS_BOXES_RECORD)
            box = page.locator("#drawing-canvas").bounding_box()
            assert box is not None
            middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(middle_x - 20, middle_y)
            page.mouse.down()
            for step in range(1, 6):
                page.mouse.move(middle_x - 20 + step * 8, middle_y)
            page.mouse.up()
            expect(page.locator("#save-status")).to_have_text("Unsaved changes.")
            page.locator("#brush-size").fill("15")
            expect(page.locator("#brush-size-value")).to_have_text("15")
            page.get_by_role("button", name="Erase").click()
            page.get_by_role("button", name="Save").click()
            expect(page.locator("#save-status")).to_contain_text(f"Saved revision {saves} at")
            boxes = page.evaluate("window.canvasBoxes")
            assert len(boxes) > 5, "the page changed too little to tell"
            if set(boxes) != {boxes[0]}:
                moved[width] = sorted(set(boxes))
        assert moved == {}, f"the canvas moved (x, y, width, height at each width): {moved}"
        print(f"the canvas kept its place at widths {WIDTHS.start}-{WIDTHS.stop - 1} px")
    except Exception:
        save_failure(page, "annotation-layout")
        raise
    finally:
        connection.close()


@pytest.fixture
def done_assignment(assignment: AnnotationAssignment) -> AnnotationAssignment:
    """The reader saved the starting mask as it is and marked the case done."""
    reader = assignment.annotator
    with assignment.campaign_case.starting_mask.open("rb") as start:
        services.mask_revision_save(assignment_id=assignment.pk, user=reader, content=start.read())
    return services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)


@pytest.mark.e2e
def test_an_organizer_looks_at_a_readers_mask_without_drawing_tools_and_reopens_the_case(
    done_assignment: AnnotationAssignment, live_server: object, browser: Browser
) -> None:
    url = f"{live_server.url}/studies/campaigns/assignments/{done_assignment.pk}/"
    organizer = logged_in_page(browser, session_cookie(username="organizer", live_server_url=live_server.url))
    errors: list[str] = []
    organizer.on("pageerror", lambda error: errors.append(str(error)))
    page = organizer
    try:
        organizer.goto(url)
        organizer.wait_for_selector("#annotation[data-ready='true']", state="attached")
        expect(organizer.locator("h1")).to_contain_text("reader's mask, read only")
        expect(organizer.locator("#viewer-status")).to_have_text("reader's revision 1, read only.")
        expect(organizer.get_by_role("toolbar", name="Drawing")).to_be_hidden()
        for name in ("Pen", "Erase", "Undo", "Save", "Done"):
            expect(organizer.get_by_role("button", name=name, exact=True)).to_have_count(0)
        expect(organizer.get_by_text("Resuming from")).to_have_count(0)
        expect(organizer.get_by_role("list", name="Layers")).to_contain_text("reader's newest revision")
        expect(organizer.get_by_text("Your strokes since")).to_have_count(0)
        organizer.get_by_label("Show the Tmax (in NCCT space)").check()  # the images are the organizer's too
        expect(organizer.locator("#colour-bar figcaption")).to_have_text("Tmax (s)")
        box = organizer.locator("#drawing-canvas").bounding_box()
        assert box is not None
        organizer.mouse.move(box["x"] + box["width"] / 2 - 20, box["y"] + box["height"] / 2)
        organizer.mouse.down()
        organizer.mouse.move(box["x"] + box["width"] / 2 + 20, box["y"] + box["height"] / 2)
        organizer.mouse.up()
        expect(organizer.locator("#save-status")).to_have_text("")  # a drag draws nothing

        organizer.get_by_label("Reopen this case for its annotator, because").fill(
            "The lesion's posterior edge is missing."
        )
        organizer.get_by_role("button", name="Reopen").click()
        expect(organizer.locator("#save-status")).to_have_text(
            "Reopened: reader can change the mask and mark it done again."
        )
        expect(organizer.locator("#assignment-status")).to_have_text("in progress")
        expect(organizer.get_by_role("button", name="Reopen")).to_be_hidden()
        done_assignment.refresh_from_db()
        assert done_assignment.status == AnnotationAssignment.Status.IN_PROGRESS
        assert done_assignment.events.last().note == "The lesion's posterior edge is missing."

        page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#annotation[data-ready='true']", state="attached")
        expect(page.locator("#reopened")).to_have_text(
            "Reopened by organizer: The lesion's posterior edge is missing."
        )
        expect(page.locator("#viewer-status")).to_have_text("Resuming from your revision 1.")
        expect(page.get_by_role("button", name="Done")).to_be_enabled()
        expect(page.get_by_role("button", name="Reopen")).to_be_hidden()
        assert errors == []
    except Exception:
        save_failure(page, "annotation-organizer")
        raise
    finally:
        connection.close()


@pytest.fixture
def empty_start(transactional_db: None) -> AnnotationAssignment:
    """An empty start on the first case, whose CT is 40 HU (mid grey in the brain window) and whose Tmax
    map is 0 (outside the brain) in its first column."""
    world = campaign_world_create()
    images = world.cases[0].images
    ct = nifti_bytes(shape=SHAPE, spacing_mm=SPACING_MM, fill=40)
    images.get(interface="non-contrast-ct").file.save("ct.nii.gz", ContentFile(ct))
    tmax = tmax_map()
    tmax[:, :, 0] = 0.0
    images.get(interface="preprocessed-tmax-map").file.save("tmax.nii.gz", ContentFile(volume_bytes(tmax)))
    campaign = services.annotation_campaign_create(
        created_by=world.people["organizer"],
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        title="Draw the lesion",
        cases=world.cases[:1],
        images=["non-contrast-ct", "preprocessed-tmax-map"],
        starting_mask=AnnotationCampaign.StartingMask.EMPTY,
        annotators=[world.people["reader"]],
    )
    return AnnotationAssignment.objects.get(campaign_case__campaign=campaign)


# Machado, Oliveira and Fernandes (2009) at severity 1, on linear RGB: what a protanope and a deuteranope see.
COLOUR_BLINDNESS = {
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
}


def _cielab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a linear RGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    scaled = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(scaled > 0.008856, np.cbrt(scaled), 7.787 * scaled + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen_apart(first: str, second: str, *, opacity: float = 0.6, grey: float = 110.0) -> dict[str, float]:
    """How far apart (CIELAB distance) two CSS colours drawn over a grey CT at ``opacity`` look to a
    protanope and a deuteranope."""

    def linear(css: str) -> np.ndarray:
        rgb = np.array([float(value) for value in re.findall(r"\d+", css)[:3]])
        srgb = (opacity * rgb + (1 - opacity) * grey) / 255
        return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)

    return {
        name: float(np.linalg.norm(_cielab(matrix @ linear(first)) - _cielab(matrix @ linear(second))))
        for name, matrix in COLOUR_BLINDNESS.items()
    }


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2's contrast ratio of two CSS rgb() colours (4.5 is its minimum for text)."""

    def luminance(css: str) -> float:
        srgb = np.array([float(value) for value in re.findall(r"\d+", css)[:3]]) / 255
        linear = np.where(srgb <= 0.03928, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
        return float(linear @ np.array([0.2126, 0.7152, 0.0722]))

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _sky_blue(pixels: np.ndarray) -> np.ndarray:
    """Pixels of the strokes' sky blue over the grey CT: more blue than red."""
    return pixels[..., 2] > pixels[..., 0] + 50


def tinted_pixels(pixels: np.ndarray) -> np.ndarray:
    """Where the picture is in colour, but for NiiVue's yellow crosshair."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    crosshair = (red > 200) & (green > 150) & (blue < 80)
    return ((pixels.max(axis=2) - pixels.min(axis=2)) > 24) & ~crosshair


@pytest.mark.e2e
def test_the_ct_is_grey_and_the_mask_volume_follows_the_strokes(
    empty_start: AnnotationAssignment, live_server: object, browser: Browser
) -> None:
    """The CT opens alone in grey in the brain window, the Tmax map only on request; the legend's colours
    are the mask's, and the volume shown is the stored revision's. (An empty start: the small test case's
    pre-annotation covers whole slices.)"""
    assignment = empty_start
    page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live_server.url}/studies/campaigns/assignments/{assignment.pk}/")
        page.wait_for_selector("#annotation[data-ready='true']", state="attached")
        expect(page.get_by_role("button", name="Brain 40/80")).to_have_attribute("aria-pressed", "true")
        for name in ("Brain 40/80", "Pen", "Axial"):  # a pressed button's label stays readable
            colours = page.get_by_role("button", name=name).evaluate(
                "(button) => [getComputedStyle(button).color, getComputedStyle(button).backgroundColor]"
            )
            assert contrast_ratio(*colours) >= 4.5, f"{name}, pressed, is {colours[0]} on {colours[1]}"
        page.evaluate(NEXT_FRAMES)
        pixels = canvas_pixels(page, "#drawing-canvas")
        start_ml = float(page.locator("#mask-volume").inner_text().removesuffix(" ml"))
        tinted = tinted_pixels(pixels)
        lit = pixels.max(axis=2) > 24
        print(f"tinted pixels: {tinted.sum()} of {lit.sum()} lit; starting mask {start_ml} ml")
        assert lit.sum() > 1000, "the CT is not shown"
        assert tinted.sum() < 0.01 * lit.sum(), "the CT is not grey"
        expect(page.locator("#colour-bar")).to_be_hidden()
        page.get_by_label("Show the Tmax (in NCCT space)").check()
        page.evaluate(NEXT_FRAMES)
        tmax = canvas_pixels(page, "#drawing-canvas")
        bar = page.locator("#colour-bar")
        expect(bar).to_be_visible()
        expect(bar.locator("figcaption")).to_have_text("Tmax (s)")
        expect(bar.locator(".viewer-colour-bar-ticks")).to_have_text("0510")
        # The map's first column (x = 0) is 0 s: clear, as outside the brain; the rest is 2 s or 9 s, both
        # coloured (in the map's own range, 2 s was its lowest value and as clear as the background).
        coloured = tinted_pixels(tmax).sum() / lit.sum()
        print(f"with the Tmax map shown: {tinted_pixels(tmax).sum()} tinted, {coloured:.2f} of the slice")
        assert 4 / 6 - 0.08 < coloured < 5 / 6 + 0.05, "the map's zero column is painted or its 2 s are clear"
        page.get_by_label("Show the Tmax (in NCCT space)").uncheck()
        expect(bar).to_be_hidden()
        swatches = {
            value: page.locator(f"[data-mask-colour='{value}']").evaluate(
                "(swatch) => getComputedStyle(swatch).backgroundColor"
            )
            for value in ("1", "2", "start")
        }
        assert swatches == {"1": "rgb(213, 94, 0)", "2": "rgb(86, 180, 233)", "start": "rgb(60, 0, 120)"}
        apart = seen_apart(swatches["1"], swatches["2"])
        print(f"the two layers' colours, CIELAB distance as colour-blind annotators see them: {apart}")
        assert min(apart.values()) > 40, "the mask opened and the strokes look alike to colour-blind eyes"

        box = page.locator("#drawing-canvas").bounding_box()
        assert box is not None
        middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.locator("#brush-size").fill("5")
        page.mouse.move(middle_x - box["height"] * 0.4, middle_y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(middle_x - box["height"] * 0.4 + step * box["height"] * 0.08, middle_y)
        page.mouse.up()
        expect(page.locator("#save-status")).to_have_text("Unsaved changes.")
        page.evaluate(NEXT_FRAMES)
        stroke = canvas_pixels(page, "#drawing-canvas")
        drawn_ml = float(page.locator("#mask-volume").inner_text().removesuffix(" ml"))
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("#annotation[data-saved-revision='1']", state="attached")
        stored = assignment.revisions.get(number=1).lesion_volume_ml
        print(f"after the stroke: {drawn_ml} ml shown, {stored:.4f} ml stored")
        assert drawn_ml > start_ml
        assert drawn_ml == pytest.approx(stored, abs=0.0005)
        # The stroke is drawn in its swatch's sky blue, which the CT had nowhere.
        assert _sky_blue(stroke).sum() > 100 > _sky_blue(pixels).sum(), (
            "the stroke is not in its legend's colour"
        )
        assert errors == []
    except Exception:
        save_failure(page, "annotation-grey")
        raise
    finally:
        connection.close()


WIDE_SHAPE = (64, 48, 4)
"""Voxels along x, y, z of the CT a stroke crosses many voxels of."""


@pytest.fixture
def wide_empty_start(transactional_db: None) -> AnnotationAssignment:
    """An empty start on the first case with its CT (40 HU) made 64x48x4 voxels, drawn on alone."""
    world = campaign_world_create()
    ct = world.cases[0].images.get(interface="non-contrast-ct")
    content = nifti_bytes(shape=WIDE_SHAPE, spacing_mm=SPACING_MM, fill=40)
    ct.file.save("ct.nii.gz", ContentFile(content), save=False)
    ct.shape = list(WIDE_SHAPE)
    ct.size_bytes = len(content)
    ct.sha256 = hashlib.sha256(content).hexdigest()
    ct.save()
    campaign = services.annotation_campaign_create(
        created_by=world.people["organizer"],
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        title="Draw the lesion",
        cases=world.cases[:1],
        images=["non-contrast-ct"],
        starting_mask=AnnotationCampaign.StartingMask.EMPTY,
        annotators=[world.people["reader"]],
    )
    return AnnotationAssignment.objects.get(campaign_case__campaign=campaign)


OVERLAY_READ = """() => {
  const overlay = document.querySelector("#drawing-canvas + .pen-overlay");
  const data = overlay.getContext("2d").getImageData(0, 0, overlay.width, overlay.height).data;
  const painted = [];
  const colours = new Set();
  for (let index = 0; index < data.length; index += 4) {
    if (data[index + 3] > 0) {
      painted.push(index / 4);
      colours.add(Array.from(data.slice(index, index + 4)).join(","));
    }
  }
  return { width: overlay.width, height: overlay.height, painted, colours: Array.from(colours) };
}"""
"""The pixels the pen's overlay has painted (as indices, row by row) and their distinct RGBA colours."""


def _overlay_painted(overlay: dict[str, Any]) -> np.ndarray:
    height, width = overlay["height"], overlay["width"]
    painted = np.zeros(height * width, dtype=bool)
    painted[np.asarray(overlay["painted"], dtype=np.int64)] = True
    return painted.reshape(height, width)


@pytest.mark.e2e
def test_the_overlay_of_a_stroke_shows_the_voxels_set_until_niivue_draws_them(
    wide_empty_start: AnnotationAssignment, live_server: object, browser: Browser
) -> None:
    """While the pen moves, its steps are painted on a 2D canvas over NiiVue's, voxel for voxel what NiiVue
    then draws of the mask (sky blue at the drawing's opacity), and once the pen is lifted and NiiVue has
    drawn its picture the overlay is empty."""
    assignment = wide_empty_start
    page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live_server.url}/studies/campaigns/assignments/{assignment.pk}/")
        page.wait_for_selector("#annotation[data-ready='true']", state="attached")
        box = page.locator("#drawing-canvas").bounding_box()
        assert box is not None
        middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        step = box["height"] * 0.06
        page.locator("#brush-size").fill("3")
        page.mouse.move(middle_x - 4 * step, middle_y)
        page.mouse.down()
        for index in range(1, 9):
            page.mouse.move(middle_x + (index - 4) * step, middle_y + (step if index % 2 else -step))
        during = page.evaluate(OVERLAY_READ)
        page.mouse.up()
        page.evaluate(NEXT_FRAMES)
        after = page.evaluate(OVERLAY_READ)
        drawn = canvas_pixels(page, "#drawing-canvas")
        painted = _overlay_painted(during)
        print(f"overlay: {painted.sum()} pixels painted during the stroke, colours {during['colours']}")
        assert painted.shape == drawn.shape[:2], "the overlay is not the size of NiiVue's canvas"
        assert painted.sum() > 100, "the stroke was not painted on the overlay"
        # Sky blue at the drawing's opacity (0.6 of 255), each pixel painted once (the canvas stores colours
        # premultiplied by their opacity: read back, they may be 1 off).
        assert len(during["colours"]) == 1
        colour = np.array([int(value) for value in during["colours"][0].split(",")])
        assert (abs(colour - np.array([86, 180, 233, 153])) <= 1).all()
        assert after["painted"] == [], "the overlay stayed after NiiVue drew the stroke"
        # Where NiiVue draws its crosshair over the stroke, its picture is not sky blue.
        red, green, blue = drawn[..., 0], drawn[..., 1], drawn[..., 2]
        crosshair = (red > 150) & (green > 100) & (blue < 150)
        inside = (slice(3, -3), slice(3, -3))
        shown = _sky_blue(drawn)
        differ = (painted != shown) & ~crosshair
        print(f"NiiVue: {shown.sum()} sky blue pixels, {crosshair.sum()} of crosshair, {differ.sum()} differ")
        assert not differ[inside].any(), "the overlay showed other voxels than NiiVue draws of the mask"
        assert errors == []
    except Exception:
        save_failure(page, "annotation-pen-overlay")
        raise
    finally:
        connection.close()


@pytest.mark.e2e
def test_what_the_pen_shows_while_it_draws_is_the_mask_that_is_saved(
    wide_empty_start: AnnotationAssignment, live_server: object, browser: Browser
) -> None:
    """During a stroke the page draws the pen's voxels its own way (one picture per animation frame, only
    the box of voxels drawn into uploaded): the picture it leaves is the one NiiVue draws from the whole
    mask (Redo uploads all of it), and the saved mask holds the stroke's voxels and no others."""
    assignment = wide_empty_start
    page = logged_in_page(browser, session_cookie(username="reader", live_server_url=live_server.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live_server.url}/studies/campaigns/assignments/{assignment.pk}/")
        page.wait_for_selector("#annotation[data-ready='true']", state="attached")
        box = page.locator("#drawing-canvas").bounding_box()
        assert box is not None
        middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        step = box["height"] * 0.06
        page.locator("#brush-size").fill("3")
        # A zigzag of quick moves, several between two animation frames, down and up and to the right.
        page.mouse.move(middle_x - 8 * step, middle_y)
        page.mouse.down()
        for index in range(1, 17):
            page.mouse.move(middle_x + (index - 8) * step, middle_y + (step if index % 2 else -step), steps=2)
        page.mouse.up()
        expect(page.locator("#save-status")).to_have_text("Unsaved changes.")
        page.evaluate(NEXT_FRAMES)
        drawn = canvas_pixels(page, "#drawing-canvas")
        page.get_by_role("button", name="Undo").click()
        page.evaluate(NEXT_FRAMES)
        undone = canvas_pixels(page, "#drawing-canvas")
        page.get_by_role("button", name="Redo").click()
        page.evaluate(NEXT_FRAMES)
        redone = canvas_pixels(page, "#drawing-canvas")
        shown = _sky_blue(drawn).sum()
        print(f"stroke: {shown} sky blue pixels drawn, {_sky_blue(redone).sum()} after Redo")
        assert shown > 200, "the stroke is not on screen"
        assert _sky_blue(undone).sum() == 0, "Undo left some of the stroke"
        # Pixel for pixel, but for the canvas's rim, where the browser marks the focus (the canvas has it
        # after a stroke, a button after Redo).
        inside = (slice(3, -3), slice(3, -3))
        assert (drawn[inside] == redone[inside]).all(), "the stroke as drawn is not the whole mask's picture"
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("#annotation[data-saved-revision='1']", state="attached")
        saved = mask_array_read(assignment.revisions.get(number=1).file)
        slices = {z for z, _, _ in np.argwhere(saved)}
        assert len(slices) == 1, "an axial stroke stays in one slice"
        voxels = saved[slices.pop()]
        rows, columns = np.nonzero(voxels)
        extent = f"rows {rows.min()}-{rows.max()}, columns {columns.min()}-{columns.max()}"
        print(f"saved: {voxels.sum()} voxels in {extent}")
        # The zigzag spans 16 steps of 6% of the slice's height across and two of them up and down.
        assert columns.max() - columns.min() > 0.6 * voxels.shape[1]
        assert rows.max() - rows.min() >= 4
        assert errors == []
    except Exception:
        save_failure(page, "annotation-pen")
        raise
    finally:
        connection.close()
