"""The case viewer reading a synthetic ISLES'24 case (releases.synthetic) in a real Chromium: a perfusion map
in its range by its units with a clear background and a colour bar, masks outlined, filled or hidden,
the crosshair hidden, keyboard help, and the 4D CTP's time slider."""

import hashlib
import itertools
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.files.base import ContentFile
from playwright.sync_api import Browser, Page, expect

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Split
from portal.datasets.models import Case, GroundTruth
from releases.synthetic import write_release
from tests.e2e.viewer_pages import (
    canvas_pixels,
    logged_in_page,
    save_failure,
    session_cookie,
    wait_for_viewer,
)
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory

# The synthetic release's files of one case, by the interface the portal stores them under.
CASE_FILES = {
    "non-contrast-ct": "raw_data/{case}/ses-01/{case}_ses-01_ncct.nii.gz",
    "preprocessed-tmax-map": "derivatives/{case}/ses-01/perfusion-maps/{case}_ses-01_space-ncct_tmax.nii.gz",
    "preprocessed-perfusion-ct": "derivatives/{case}/ses-01/{case}_ses-01_space-ncct_ctp.nii.gz",
}
MASK_FILE = "derivatives/{case}/ses-02/{case}_ses-02_lesion-msk.nii.gz"


def _stored(path: Path) -> "ContentFile[bytes]":
    return ContentFile(path.read_bytes(), name=path.name)


@pytest.fixture
def synthetic_case(transactional_db: None) -> Case:
    # Made before Playwright starts (see tests/e2e/test_pages.py for why).
    dataset = DatasetFactory(slug="release")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (name,) = write_release(root, cases=1, seed=7, size="small")
        case = CaseFactory(dataset=dataset, name=name, split=Split.TRAIN)
        for interface, pattern in CASE_FILES.items():
            path = root / pattern.format(case=name)
            image = sitk.ReadImage(str(path))
            ImageFactory(
                case=case,
                interface=interface,
                shape=list(image.GetSize()),
                spacing_mm=list(image.GetSpacing()),
                pixel_type=image.GetPixelIDTypeAsString(),
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                size_bytes=path.stat().st_size,
                file=_stored(path),
            )
        mask_path = root / MASK_FILE.format(case=name)
        mask = sitk.ReadImage(str(mask_path))
        GroundTruth.objects.create(
            case=case,
            file=_stored(mask_path),
            sha256=hashlib.sha256(mask_path.read_bytes()).hexdigest(),
            shape=list(mask.GetSize()),
            spacing_mm=list(mask.GetSpacing()),
            lesion_volume_ml=1.0,
            source_encoding="uint8 {0, 1}",
        )
    ChallengeRoleFactory(
        challenge=dataset.challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="ada"
    )
    return case


def _viewer_page(case: Case, live_server: object, browser: Browser) -> Page:
    page = logged_in_page(browser, session_cookie(username="ada", live_server_url=live_server.url))
    page.goto(f"{live_server.url}/datasets/cases/{case.pk}/view/")
    wait_for_viewer(page)
    return page


def _show_image(page: Page, label: str) -> None:
    """Choose the first pane's image and wait until the viewer has drawn it."""
    page.evaluate("document.getElementById('pane-1').dataset.shownImage = ''")
    page.locator("#base-image").select_option(label=label)
    page.wait_for_selector(f"#pane-1[data-shown-image='{label}']", state="attached")


def _right_drag(page: Page, canvas: str) -> None:
    box = page.locator(canvas).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x + 150, y + 100, steps=5)
    page.mouse.up(button="right")


@pytest.mark.e2e
def test_a_tmax_map_is_clear_outside_the_brain_and_its_colour_bar_is_in_seconds(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.get_by_role("button", name="Axial").click()
        _show_image(page, "Tmax (in NCCT space)")
        pixels = canvas_pixels(page)
        bar = page.locator("#colour-bar-1")

        expect(bar).to_be_visible()
        expect(bar.locator("figcaption")).to_have_text("Tmax (s)")
        expect(bar.locator(".viewer-colour-bar-ticks")).to_have_text("0510")
        height, width = pixels.shape[:2]
        # The axial slice fills the canvas's height, centred; the head is an ellipsoid inside it, so the
        # slice's corners are background.
        corners = [
            pixels[int(height / 2 + dy * 0.45 * height), int(width / 2 + dx * 0.45 * height)]
            for dx in (-1, 1)
            for dy in (-1, 1)
        ]
        coloured = int(((pixels.max(axis=-1) - pixels.min(axis=-1)) > 60).sum())
        assert coloured > 2000, "the brain is not coloured by its Tmax"
        assert all(corner.max() < 30 for corner in corners), f"the zero background is painted: {corners}"
        expect(page.locator("#colour-bar-2")).to_be_hidden()
    except Exception:
        save_failure(page, "viewer-tmax")
        raise


def _red_pixels(pixels: np.ndarray) -> int:
    """Pixels clearly red: the lesion mask's colour over the grey CT."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((red > green + 60) & (red > blue + 60)).sum())


def _yellow_pixels(pixels: np.ndarray) -> int:
    """Pixels clearly yellow: the crosshair's colour over the grey CT."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((red > blue + 80) & (green > blue + 60)).sum())


@pytest.mark.e2e
def test_keys_outline_and_hide_the_mask_hide_the_crosshair_and_open_the_help(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.get_by_role("button", name="Axial").click()
        page.locator("#overlay-opacity").fill("100")
        filled = canvas_pixels(page)
        # Keys pressed with the image focused: NiiVue would take H (crosshair left) and ? (an alert).
        page.locator("#pane-1").focus()
        page.keyboard.press("o")
        expect(page.get_by_label("Outline (O)")).to_be_checked()
        outline = canvas_pixels(page)
        page.locator("#overlay-opacity").fill("30")
        faint_outline = canvas_pixels(page)
        # A key pressed after a click on a box or slider is still the page's.
        page.get_by_label("Outline (O)").click()
        page.keyboard.press("o")
        expect(page.get_by_label("Outline (O)")).to_be_checked()
        page.locator("#pane-1").focus()
        page.keyboard.press("h")
        expect(page.get_by_label("Show the mask (H)")).not_to_be_checked()
        hidden = canvas_pixels(page)
        page.keyboard.press("x")
        expect(page.get_by_label("Crosshair (X)")).not_to_be_checked()
        no_crosshair = canvas_pixels(page)
        page.keyboard.press("?")
        expect(page.get_by_role("dialog", name="Keys")).to_be_visible()
        expect(page.get_by_role("dialog", name="Keys")).to_contain_text("Mask as outline or filled")
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog", name="Keys")).to_be_hidden()

        assert _red_pixels(filled) > 300, "no filled mask in red"
        assert 20 < _red_pixels(outline) < _red_pixels(filled) / 2, "the outline is not a rim of the mask"
        assert np.abs(outline - faint_outline).mean() > 0.01, "the opacity does not change the outline"
        assert _red_pixels(hidden) < 10, "H left the mask shown"
        assert _yellow_pixels(hidden) > 50, "no crosshair to hide"
        assert _yellow_pixels(no_crosshair) < _yellow_pixels(hidden) / 10, "X left the crosshair"
        assert page.locator("#pane-1").get_attribute("data-crosshair-voxel") is not None
    except Exception:
        save_failure(page, "viewer-mask-keys")
        raise


@pytest.mark.e2e
def test_the_ctp_time_slider_and_cine_change_the_frame_and_a_click_draws_its_time_curve(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        expect(page.locator("#time-controls")).to_be_hidden()  # the NCCT has one frame
        page.get_by_role("button", name="Axial").click()
        _show_image(page, "CTP (in NCCT space)")
        slider = page.get_by_label("Time")
        expect(slider).to_be_visible()
        expect(slider).to_have_attribute("max", "7")
        expect(page.locator("#time-shown")).to_have_text("frame 1 of 8 · 0 s")
        before = canvas_pixels(page)
        # Frame 5 is 16 s in: the contrast (6 s + Tmax late) has reached the brain.
        slider.fill("4")
        page.wait_for_selector("#pane-1[data-shown-frame='4']", state="attached")
        expect(page.locator("#time-shown")).to_have_text("frame 5 of 8 · 16 s")
        enhanced = canvas_pixels(page)
        page.locator("#pane-1").click()
        expect(page.locator("#time-curve-caption")).to_have_text(
            re.compile(r"Voxel \d+, \d+, \d+: -?\d+ to -?\d+ HU over 28 s")
        )
        # NiiVue's own key for the next frame, with the image focused: the slider follows.
        page.keyboard.press("ArrowRight")
        expect(slider).to_have_value("5")
        page.get_by_role("button", name="Play").click()
        page.wait_for_selector("#pane-1[data-shown-frame='6']", state="attached")
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Play")).to_have_attribute("aria-pressed", "false")

        assert np.abs(enhanced - before).mean() > 1, "the slider's frame looks like the first"
    except Exception:
        save_failure(page, "viewer-ctp-time")
        raise


# The first pane shows one of the CTP's frames with contrast in the brain (from frame 4 on, see the test
# above).
CONTRAST_FRAME_SHOWN = ", ".join(f"#pane-1[data-shown-frame='{frame}']" for frame in range(4, 8))


def _picture(page: Page) -> np.ndarray:
    """The first pane as it is now, without the focus ring of a control clicked last."""
    page.evaluate("document.activeElement.blur()")
    return canvas_pixels(page)


@pytest.mark.e2e
def test_cine_playback_changes_the_slices_shown_and_pausing_shows_the_whole_frame_reached(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    """While cine plays, each frame goes to the slices in view only; paused, the multiplanar view shows the
    frame reached on any slice, as the slider's frame is shown."""
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        _show_image(page, "CTP (in NCCT space)")  # in the multiplanar layout
        page.get_by_label("Show the mask (H)").uncheck()
        pane = page.locator("#pane-1")
        play = page.locator("#time-play")
        play.click()
        playing = []
        for _ in range(4):
            playing.append((pane.get_attribute("data-shown-frame"), _picture(page)))
        # Paused at a frame with contrast in the brain, unlike the frame every slice showed before playback.
        reached = 0
        for _ in range(10):
            page.wait_for_selector(CONTRAST_FRAME_SHOWN, state="attached")
            play.click()
            expect(play).to_have_text("Play")
            reached = int(pane.get_attribute("data-shown-frame") or "0")
            if reached >= 4:
                break
            play.click()
        expect(page.locator("#time-shown")).to_have_text(re.compile(f"frame {reached + 1} of 8"))
        paused = _picture(page)
        box = pane.bounding_box()
        assert box is not None
        # A click in the axial tile moves the coronal and sagittal tiles to slices playback never showed.
        pane.click(position={"x": box["width"] * 0.12, "y": box["height"] * 0.4})
        moved = _picture(page)
        slider = page.get_by_label("Time")
        slider.fill("0")
        page.wait_for_selector("#pane-1[data-shown-frame='0']", state="attached")
        slider.fill(str(reached))
        page.wait_for_selector(f"#pane-1[data-shown-frame='{reached}']", state="attached")
        from_slider = _picture(page)

        frames = {frame for frame, _ in playing}
        pictures = [picture for _, picture in playing]
        assert len(frames) > 1, f"cine showed one frame: {frames}"
        changes = [np.abs(after - before).mean() for before, after in itertools.pairwise(pictures)]
        assert max(changes) > 1, f"cine did not change the pixels: {changes}"
        assert reached >= 4, "cine never paused at a frame with contrast"
        assert np.abs(moved - paused).mean() > 1, "the click moved no slice"
        assert np.abs(moved - from_slider).mean() < 0.5, "the paused view shows other frames off its slices"
    except Exception:
        save_failure(page, "viewer-ctp-cine")
        raise


@pytest.fixture
def ctp_case(synthetic_case: Case) -> Case:
    """A case holding only a CTP of 8 frames of 128x128x40 noisy voxels (about 6 MB gzipped), which the
    case viewer opens on; each frame 20 HU brighter than the one before."""
    rng = np.random.default_rng(0)
    frames = np.stack([rng.integers(0, 200, (40, 128, 128)) + 20 * frame for frame in range(8)])
    image = sitk.GetImageFromArray(frames.astype(np.int16), isVector=False)
    image.SetSpacing((1.5, 1.5, 4.0, 4.0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ctp.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        content = path.read_bytes()
    case = CaseFactory(dataset=synthetic_case.dataset, name="ctp-only", split=Split.TRAIN)
    ImageFactory(
        case=case,
        interface="preprocessed-perfusion-ct",
        shape=list(image.GetSize()),
        spacing_mm=list(image.GetSpacing()),
        pixel_type=image.GetPixelIDTypeAsString(),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        file=ContentFile(content, name="ctp.nii.gz"),
    )
    return case


@pytest.mark.e2e
def test_a_ctp_opens_on_its_first_frame_before_its_other_frames_have_come(
    ctp_case: Case, live_server: object, browser: Browser
) -> None:
    """Downloaded slowly, the CTP's first frame is on screen while the rest still comes; once it has, the
    time controls come and frame 0 looks as it did."""
    page = logged_in_page(browser, session_cookie(username="ada", live_server_url=live_server.url))
    try:
        network = page.context.new_cdp_session(page)
        network.send("Network.enable")
        # 1 MB a second: the CTP takes about six seconds.
        network.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": 1_000_000, "uploadThroughput": 1_000_000},
        )
        page.goto(f"{live_server.url}/datasets/cases/{ctp_case.pk}/view/")
        wait_for_viewer(page)
        pane = page.locator("#pane-1")
        shown_early = pane.get_attribute("data-all-frames-ms") is None
        controls_early = page.locator("#time-controls").is_visible()
        first_frame = _picture(page)
        network.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.wait_for_selector("#pane-1[data-all-frames-ms]", state="attached", timeout=60_000)
        expect(page.locator("#time-controls")).to_be_visible()
        expect(page.get_by_label("Time")).to_have_attribute("max", "7")
        all_frames = _picture(page)
        page.get_by_label("Time").fill("4")
        page.wait_for_selector("#pane-1[data-shown-frame='4']", state="attached")
        enhanced = _picture(page)

        assert shown_early, "the first frame came only with the others"
        assert not controls_early, "the time controls showed before the frames had come"
        assert first_frame.std() > 10, "the first frame is blank"
        assert np.abs(all_frames - first_frame).mean() < 0.5, "frame 0 changed when the others came"
        assert np.abs(enhanced - all_frames).mean() > 1, "the slider's frame looks like the first"
    except Exception:
        save_failure(page, "viewer-ctp-first-frame")
        raise


@pytest.mark.e2e
def test_the_lesion_volume_is_shown_in_ml_and_a_right_drag_sets_the_window(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    ground_truth = synthetic_case.ground_truths.get()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.nii.gz"
        with ground_truth.file.open("rb") as stored:
            path.write_bytes(stored.read())
        mask = sitk.ReadImage(str(path))
    expected_ml = (sitk.GetArrayFromImage(mask) > 0).sum() * np.prod(mask.GetSpacing()) / 1000
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        expect(page.locator("#overlay-volume")).to_have_text(f"Lesion volume {expected_ml:.1f} ml")
        page.get_by_role("button", name="Axial").click()
        page.get_by_label("Show the mask (H)").uncheck()
        before = canvas_pixels(page)
        _right_drag(page, "#pane-1")
        after = canvas_pixels(page)

        assert expected_ml > 1, "the synthetic lesion is empty"
        assert np.abs(after - before).mean() > 1, "the right-drag did not change the window"
    except Exception:
        save_failure(page, "viewer-volume-window")
        raise


@pytest.mark.e2e
def test_a_map_over_the_ncct_leaves_the_skull_seen_through_its_zero_background(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.get_by_role("button", name="Axial").click()
        page.get_by_label("Show the mask (H)").uncheck()
        page.get_by_role("button", name="Bone 500/2000").click()
        ncct = canvas_pixels(page)
        page.locator("#map-opacity").fill("100")
        page.locator("#map-over").select_option(label="Tmax (in NCCT space)")
        page.wait_for_selector("#pane-1[data-shown-map='Tmax (in NCCT space)']", state="attached")
        mapped = canvas_pixels(page)
        expect(page.locator("#colour-bar-1 figcaption")).to_have_text("Tmax (s)")
        page.locator("#map-opacity").fill("20")
        faint = canvas_pixels(page)

        def grey(pixels: np.ndarray) -> int:
            """Bright grey pixels: the skull in the bone window."""
            return int(((pixels.min(axis=-1) > 120) & (pixels.max(axis=-1) - pixels.min(axis=-1) < 20)).sum())

        coloured = int(((mapped.max(axis=-1) - mapped.min(axis=-1)) > 60).sum())
        assert grey(ncct) > 200, "no skull to see"
        assert grey(mapped) > grey(ncct) / 2, "the map's zero background covers the skull"
        assert coloured > 2000, "the map does not colour the brain"
        assert np.abs(mapped - faint).mean() > 1, "the map's opacity changes nothing"
    except Exception:
        save_failure(page, "viewer-map-over")
        raise


@pytest.mark.e2e
def test_the_mask_is_drawn_over_a_map_in_cyan_and_its_swatch_follows(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.get_by_role("button", name="Axial").click()
        swatch = page.locator("#overlay-swatch")
        over_ncct, over_ncct_swatch = canvas_pixels(page), swatch.evaluate("s => s.style.background")
        page.get_by_label("Outline (O)").check()
        page.locator("#map-opacity").fill("100")
        page.locator("#map-over").select_option(label="Tmax (in NCCT space)")
        page.wait_for_selector("#pane-1[data-shown-map='Tmax (in NCCT space)']", state="attached")
        over_map, over_map_swatch = canvas_pixels(page), swatch.evaluate("s => s.style.background")
        expect(page.get_by_label("Outline (O)")).to_be_disabled()
        expect(page.get_by_label("Outline (O)")).not_to_be_checked()
        page.get_by_label("Show the mask (H)").uncheck()
        map_alone = canvas_pixels(page)
        page.get_by_label("Show the mask (H)").check()
        page.locator("#map-over").select_option(label="None")
        page.wait_for_selector("#pane-1[data-shown-map='']", state="attached")
        expect(page.get_by_label("Outline (O)")).to_be_enabled()
        without_map = canvas_pixels(page)

        red, green, blue = (over_ncct[..., channel].astype(int) for channel in range(3))
        mask_area = (red > green + 60) & (red > blue + 60)  # the red mask over the CT

        def bluer(pixels: np.ndarray) -> float:
            """How much bluer than red the mask's area is, on average (Tmax's warm colours: -255 to 0)."""
            return float((pixels[..., 2].astype(int) - pixels[..., 0].astype(int))[mask_area].mean())

        assert mask_area.sum() > 300, "the mask is not red over the CT"
        assert over_ncct_swatch == "rgb(255, 51, 51)"
        # Over the map at full opacity: as NiiVue's drawing layer, mixed into the CT, the map covered it
        # (bluer by 0); on top of the map in cyan, by about 150.
        assert bluer(over_map) - bluer(map_alone) > 100, "the mask does not show over the Tmax map"
        assert over_map_swatch == "rgb(0, 230, 255)"
        assert _red_pixels(without_map) > 300, "the mask is not red again without the map"
    except Exception:
        save_failure(page, "viewer-mask-over-map")
        raise


# Records the second pane's crosshair voxel at the moment it says its first picture is drawn.
RECORD_SECOND_PANE_FIRST_PICTURE = """
() => {
  const pane = document.getElementById("pane-2");
  new MutationObserver((_, observer) => {
    if (pane.dataset.viewerReady === "true") {
      pane.dataset.firstPictureVoxel = pane.dataset.crosshairVoxel;
      observer.disconnect();
    }
  }).observe(pane, { attributes: true, attributeFilter: ["data-viewer-ready"] });
}
"""


@pytest.mark.e2e
def test_the_second_pane_opens_at_the_first_panes_crosshair_and_without_it_when_hidden(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.get_by_role("button", name="Axial").click()
        box = page.locator("#pane-1").bounding_box()
        assert box is not None
        page.locator("#pane-1").click(position={"x": box["width"] * 0.42, "y": box["height"] * 0.35})
        page.keyboard.press("x")
        first_voxel = page.locator("#pane-1").get_attribute("data-crosshair-voxel")
        page.evaluate(RECORD_SECOND_PANE_FIRST_PICTURE)
        page.locator("#second-image").select_option(label="CTP (in NCCT space)")
        page.wait_for_selector("#pane-2[data-first-picture-voxel]", state="attached")
        second = canvas_pixels(page, "#pane-2")

        assert first_voxel is not None
        assert page.locator("#pane-2").get_attribute("data-first-picture-voxel") == first_voxel
        assert second.std() > 10, "the second pane is blank"
        assert _yellow_pixels(second) < 50, "the second pane shows the hidden crosshair"
    except Exception:
        save_failure(page, "viewer-second-pane")
        raise


def _show_second(page: Page, label: str) -> None:
    """Choose the second pane's image and wait until the viewer has drawn it."""
    page.evaluate("document.getElementById('pane-2').dataset.shownImage = ''")
    page.get_by_label("Second pane").select_option(label=label)
    page.wait_for_selector(f"#pane-2[data-shown-image='{label}']", state="attached")


@pytest.mark.e2e
def test_a_right_drag_in_either_pane_sets_the_window_of_both(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    """The NCCT in both panes: a right-drag in one leaves both alike, as a preset does; a pane opened
    afterwards opens in that window."""
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.get_by_role("button", name="Axial").click()
        page.get_by_label("Show the mask (H)").uncheck()
        page.keyboard.press("x")  # no crosshair: the panes differ in nothing else
        _show_second(page, "NCCT")
        opened = canvas_pixels(page, "#pane-2")
        _right_drag(page, "#pane-1")
        first, second = canvas_pixels(page), canvas_pixels(page, "#pane-2")
        _right_drag(page, "#pane-2")
        first_again, second_again = canvas_pixels(page), canvas_pixels(page, "#pane-2")
        _show_second(page, "Tmax (in NCCT space)")
        _show_second(page, "NCCT")  # reopened: in the window the drags left
        reopened = canvas_pixels(page, "#pane-2")

        assert np.abs(second - opened).mean() > 1, "the second pane kept its window"
        assert np.abs(first - second).mean() < 0.5, "the panes show the NCCT in different windows"
        assert np.abs(second_again - second).mean() > 1, "the drag in the second pane changed nothing"
        assert np.abs(first_again - second_again).mean() < 0.5, "the first pane did not follow"
        assert np.abs(reopened - second_again).mean() < 0.5, "the pane reopened in another window"
    except Exception:
        save_failure(page, "viewer-shared-window")
        raise


@pytest.mark.e2e
def test_the_time_slider_and_curve_serve_the_second_pane_and_move_both_ctps(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.get_by_role("button", name="Axial").click()
        _show_second(page, "CTP (in NCCT space)")
        slider = page.get_by_label("Time")
        expect(slider).to_be_visible()  # the first pane's NCCT has one frame, the second's CTP eight
        before = canvas_pixels(page, "#pane-2")
        slider.fill("4")
        page.wait_for_selector("#pane-2[data-shown-frame='4']", state="attached")
        enhanced = canvas_pixels(page, "#pane-2")
        page.locator("#pane-1").click()  # the curve is the CTP's at the point clicked in the NCCT
        expect(page.locator("#time-curve-caption")).to_have_text(
            re.compile(r"Voxel \d+, \d+, \d+: -?\d+ to -?\d+ HU over 28 s")
        )
        _show_image(page, "CTP (in NCCT space)")  # both panes show the CTP now, at one frame
        expect(page.locator("#pane-1")).to_have_attribute("data-shown-frame", "4")
        slider.fill("6")
        page.wait_for_selector("#pane-1[data-shown-frame='6']", state="attached")
        page.wait_for_selector("#pane-2[data-shown-frame='6']", state="attached")
        page.locator("#pane-2").click()
        page.keyboard.press("ArrowRight")  # NiiVue's own key in the second pane: the first follows
        page.wait_for_selector("#pane-1[data-shown-frame='7']", state="attached")
        expect(slider).to_have_value("7")
        page.get_by_label("Second pane").select_option(value="")
        expect(page.locator("#pane-2-box")).to_be_hidden()
        expect(slider).to_be_visible()  # the first pane's CTP still has its slider

        assert np.abs(enhanced - before).mean() > 1, "the slider did not change the second pane's frame"
    except Exception:
        save_failure(page, "viewer-time-two-panes")
        raise


@pytest.mark.e2e
def test_no_key_acts_behind_the_open_help(
    synthetic_case: Case, live_server: object, browser: Browser
) -> None:
    page = _viewer_page(synthetic_case, live_server, browser)
    try:
        page.locator("#pane-1").focus()
        page.keyboard.press("?")
        help_dialog = page.get_by_role("dialog", name="Keys")
        expect(help_dialog).to_be_visible()
        for key in ("w", "x", "o", "h"):
            page.keyboard.press(key)
        expect(page.get_by_role("button", name="Brain 40/80")).not_to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("button", name="Stroke 32/8")).not_to_have_attribute("aria-pressed", "true")
        expect(page.get_by_label("Crosshair (X)")).to_be_checked()
        expect(page.get_by_label("Outline (O)")).not_to_be_checked()
        expect(page.get_by_label("Show the mask (H)")).to_be_checked()
        page.keyboard.press("?")  # closes the help it opened
        expect(help_dialog).to_be_hidden()
        page.keyboard.press("w")
        expect(page.get_by_role("button", name="Brain 40/80")).to_have_attribute("aria-pressed", "true")
    except Exception:
        save_failure(page, "viewer-help-modal")
        raise
