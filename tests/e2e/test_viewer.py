"""The case viewer and the submission review in a real Chromium: NiiVue draws, presets change the picture,
a training case's reference mask shows as an overlay that can be hidden, and the review shows true
positives, false positives and false negatives in three colours."""

import hashlib
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.files.base import ContentFile
from playwright.sync_api import Browser, expect

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Split
from portal.datasets.models import Case, GroundTruth
from portal.submissions.models import Submission
from tests.e2e.viewer_pages import (
    canvas_pixels,
    head_ct,
    lesion_of,
    logged_in_page,
    nifti_bytes,
    save_failure,
    session_cookie,
    wait_for_viewer,
)
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory
from tests.portal.submissions.review_world import review_world_create

SHAPE = (64, 64, 24)
SPACING_MM = (3.0, 3.0, 6.0)
# The review's location line: "x, y, z mm · voxel i, j, k · value <CT> / <overlap label>".
LOCATION = re.compile(
    r"(?P<mm>[-\d.]+, [-\d.]+, [-\d.]+) mm · voxel \d+, \d+, \d+ · value (?P<ct>[-\d.]+) / (?P<label>\d+)"
)


@pytest.fixture
def case(transactional_db: None) -> Case:
    # Made before Playwright starts (see tests/e2e/test_pages.py for why).
    dataset = DatasetFactory(slug="release")
    case = CaseFactory(dataset=dataset, name="sub-stroke0001", split=Split.TRAIN)
    content = nifti_bytes(head_ct(shape=SHAPE, spacing_mm=SPACING_MM), spacing_mm=SPACING_MM)
    ImageFactory(
        case=case,
        interface="non-contrast-ct",
        shape=list(SHAPE),
        spacing_mm=list(SPACING_MM),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        file=ContentFile(content, name="ncct.nii.gz"),
    )
    ChallengeRoleFactory(
        challenge=dataset.challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="ada"
    )
    return case


@pytest.fixture
def case_with_mask(case: Case) -> Case:
    """The training case with its reference mask: the CT's infarct."""
    content = nifti_bytes(lesion_of(head_ct(shape=SHAPE, spacing_mm=SPACING_MM)), spacing_mm=SPACING_MM)
    GroundTruth.objects.create(
        case=case,
        file=ContentFile(content, name="mask.nii.gz"),
        sha256=hashlib.sha256(content).hexdigest(),
        shape=list(SHAPE),
        spacing_mm=list(SPACING_MM),
        lesion_volume_ml=1.0,
        source_encoding="uint8 {0, 1}",
    )
    return case


def red_pixels(pixels: np.ndarray) -> int:
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((red > green + 60) & (red > blue + 60)).sum())


@pytest.fixture
def reviewed(transactional_db: None) -> Submission:
    """A submission whose mask overlaps the ground truth in part, both crossing the middle of the volume."""
    ground_truth = np.zeros((16, 32, 32), dtype=np.uint8)
    ground_truth[4:12, 10:22, 6:18] = 1
    prediction = np.zeros_like(ground_truth)
    prediction[4:12, 10:22, 12:26] = 1
    world = review_world_create(ground_truth=ground_truth, prediction=prediction)
    return world.submit(world.train_phase)


def colour_counts(pixels: np.ndarray) -> dict[str, int]:
    """Pixels clearly green, red or blue (the TP, FP and FN colours over grey)."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return {
        "true positive": int(((green > red + 60) & (green > blue + 60)).sum()),
        "false positive": int(((red > green + 60) & (red > blue + 60)).sum()),
        "false negative": int(((blue > red + 60) & (blue > green + 40)).sum()),
    }


@pytest.mark.e2e
def test_the_case_viewer_draws_the_ct_and_a_window_preset_changes_the_picture(
    case: Case, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="ada", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    try:
        page.goto(f"{live_server.url}/datasets/cases/{case.pk}/view/")
        wait_for_viewer(page)
        brain = canvas_pixels(page)
        bone_button = page.get_by_role("button", name="Bone 500/2000")
        bone_button.click()
        # Marked pressed once the viewer has drawn the bone window (NiiVue draws as it is set).
        expect(bone_button).to_have_attribute("aria-pressed", "true")
        bone = canvas_pixels(page)

        assert brain.std() > 10, "the canvas is blank"
        assert np.abs(brain - bone).mean() > 1, "the bone window looks like the brain window"
    except Exception:
        save_failure(page, "case-viewer")
        raise


@pytest.mark.e2e
def test_the_case_viewer_overlays_a_training_cases_mask_which_the_box_hides(
    case_with_mask: Case, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="ada", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    try:
        page.goto(f"{live_server.url}/datasets/cases/{case_with_mask.pk}/view/")
        wait_for_viewer(page)
        shown = red_pixels(canvas_pixels(page))
        page.locator("#overlay-visible").uncheck()
        hidden = red_pixels(canvas_pixels(page))

        assert shown > 20, "no lesion overlay in red"
        assert hidden < shown / 10, "unchecking the box left the overlay"
    except Exception:
        save_failure(page, "case-viewer-overlay")
        raise


@pytest.mark.e2e
def test_the_case_viewer_shows_the_position_and_value_under_a_click(
    case: Case, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="ada", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    try:
        page.goto(f"{live_server.url}/datasets/cases/{case.pk}/view/")
        wait_for_viewer(page)
        page.locator("#pane-1").click(position={"x": 150, "y": 150})

        text = page.locator("#location").inner_text()
        assert "mm" in text
        assert "voxel" in text
        assert "value" in text
    except Exception:
        save_failure(page, "case-viewer-location")
        raise


@pytest.mark.e2e
def test_the_review_shows_true_positives_false_positives_and_false_negatives_in_three_colours(
    reviewed: Submission, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="participant", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    try:
        page.goto(f"{live_server.url}/submissions/{reviewed.pk}/review/")
        wait_for_viewer(page)
        shown = colour_counts(canvas_pixels(page))
        # Unchecked once its change is handled, and NiiVue draws the overlay hidden as it handles it.
        page.get_by_label("Show the overlay").uncheck()
        hidden = colour_counts(canvas_pixels(page))

        assert min(shown.values()) > 50, shown
        assert max(hidden.values()) == 0, hidden
    except Exception:
        save_failure(page, "submission-review")
        raise


@pytest.mark.e2e
def test_the_review_draws_both_volumes_in_the_3d_layout_when_asked(
    reviewed: Submission, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="participant", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    try:
        page.goto(f"{live_server.url}/submissions/{reviewed.pk}/review/")
        wait_for_viewer(page)
        multiplanar = canvas_pixels(page)
        render_button = page.get_by_role("button", name="3D")
        render_button.click()
        # Marked pressed once the viewer has drawn the 3D layout (NiiVue draws as it is set).
        expect(render_button).to_have_attribute("aria-pressed", "true")
        rendered = canvas_pixels(page)

        assert rendered.std() > 10, "the 3D layout is blank"
        assert np.abs(rendered - multiplanar).mean() > 1, "the 3D layout looks like the multiplanar one"
        assert sum(colour_counts(rendered).values()) > 50, "the 3D render shows no overlay colour"
    except Exception:
        save_failure(page, "submission-review-3d")
        raise


def overlap_label_at(overlap: sitk.Image, mm_ras: Sequence[float]) -> int:
    """The label of the voxel holding a point given in NIfTI's RAS millimetres (ITK works in LPS); 0 outside
    the overlap volume, which is the box around the labels."""
    x, y, z = mm_ras
    index = overlap.TransformPhysicalPointToIndex((-x, -y, z))
    inside = all(0 <= value < size for value, size in zip(index, overlap.GetSize(), strict=True))
    return int(overlap[index]) if inside else 0


@pytest.mark.e2e
def test_the_review_shows_the_overlap_label_under_a_click_where_the_file_has_it(
    reviewed: Submission, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="participant", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    try:
        page.goto(f"{live_server.url}/submissions/{reviewed.pk}/review/")
        wait_for_viewer(page)
        overlay_url = page.evaluate(
            "JSON.parse(document.getElementById('viewer-data').textContent).overlay.url"
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "overlap.nii.gz"
            path.write_bytes(page.request.get(f"{live_server.url}{overlay_url}").body())
            overlap = sitk.ReadImage(str(path))
        box = page.locator("#pane-1").bounding_box()
        assert box is not None
        shown: list[tuple[int, int]] = []
        for fraction_x in np.linspace(0.05, 0.95, 8):
            for fraction_y in np.linspace(0.05, 0.95, 6):
                page.locator("#pane-1").click(
                    position={"x": box["width"] * fraction_x, "y": box["height"] * fraction_y}
                )
                match = LOCATION.fullmatch(page.locator("#location").inner_text())
                if match is None:  # not on the image yet: the line still asks for a click
                    continue
                mm = [float(value) for value in match["mm"].split(", ")]
                shown.append((int(match["label"]), overlap_label_at(overlap, mm)))

        assert all(label == expected for label, expected in shown), shown
        assert len(shown) > 10, "few clicks landed on the image"
        assert {label for label, _ in shown} - {0}, "no click landed on the overlap"
    except Exception:
        save_failure(page, "submission-review-location")
        raise


@pytest.fixture
def misfit(transactional_db: None) -> Submission:
    """A submission whose mask is not on the ground truth's grid (the server refuses its overlap)."""
    world = review_world_create(prediction=np.zeros((4, 5, 7), dtype=np.uint8))
    return world.submit(world.train_phase)


@pytest.mark.e2e
def test_the_review_says_why_the_overlap_cannot_be_shown(
    misfit: Submission, live_server: object, browser: Browser
) -> None:
    cookie = session_cookie(username="participant", live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    try:
        page.goto(f"{live_server.url}/submissions/{misfit.pk}/review/")
        notice = page.locator("#viewer-unavailable")
        notice.wait_for(state="visible")

        assert notice.inner_text() == (
            "overlap.nii.gz could not be downloaded: The mask is 7x5x4 voxels but the ground truth is 6x5x4."
        )
    except Exception:
        save_failure(page, "submission-review-misfit")
        raise
