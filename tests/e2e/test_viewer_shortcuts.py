"""The viewer's shortcuts through NiiVue (frontend/static/js/niivue-shortcuts.mjs) draw what NiiVue draws.

In a real Chromium, each volume is drawn twice side by side: by a plain NiiVue, as its documentation
shows, and by our viewer. The volumes cover what the shortcuts handle differently: signed and unsigned
integers and floating point, axes flipped and permuted relative to RAS, several colormaps, a window given
and a window changed afterwards, and the frames of a 4D volume shown on the slices in view only, as cine
playback shows them.
"""

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.files.base import ContentFile
from playwright.sync_api import Browser, Page

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Split
from portal.datasets.models import Case
from tests.e2e.viewer_pages import canvas_pixels, head_ct, logged_in_page, save_failure, session_cookie
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory

SPACING_MM = (2.0, 2.5, 3.0)


@dataclass(frozen=True)
class Volume:
    interface: str
    voxels: np.ndarray  # (z, y, x)
    direction: tuple[float, ...]  # ITK's, row-major 3x3
    colormap: str
    window: tuple[float, float]


def _smooth_field(shape: tuple[int, int, int], *, high: float) -> np.ndarray:
    z, y, x = np.meshgrid(*(np.linspace(0.0, 1.0, size) for size in shape), indexing="ij")
    return high * (0.5 + 0.5 * np.sin(6 * x) * np.cos(4 * y) * np.cos(3 * z))


VOLUMES = [
    # ITK's identity is LPS: NiiVue flips two axes to make it RAS.
    Volume(
        "non-contrast-ct",
        head_ct(shape=(48, 40, 20), spacing_mm=(3.0, 3.0, 6.0)),
        (1, 0, 0, 0, 1, 0, 0, 0, 1),
        "gray",
        (0, 80),
    ),
    # Axes permuted (a sagittal acquisition), floating point.
    Volume(
        "preprocessed-tmax-map",
        _smooth_field((36, 20, 28), high=12.0).astype(np.float32),
        (0, 0, 1, 1, 0, 0, 0, 1, 0),
        "warm",
        (0, 10),
    ),
    # Unsigned bytes, the third axis flipped.
    Volume(
        "preprocessed-cbv-map",
        _smooth_field((16, 30, 26), high=250.0).astype(np.uint8),
        (1, 0, 0, 0, 1, 0, 0, 0, -1),
        "viridis",
        (20, 200),
    ),
]


def _labels_of(ct: np.ndarray) -> np.ndarray:
    """Labels 1, 2 and 3 in three boxes of the CT's grid, one crossing the infarct."""
    labels = np.zeros(ct.shape, dtype=np.uint8)
    labels[6:14, 12:22, 26:36] = 1
    labels[8:12, 14:30, 10:20] = 2
    labels[10:16, 4:10, 20:40] = 3
    return labels


# A 4D CTP (t, z, y, x) whose frames differ everywhere and change from slice to slice along every axis, so
# that a slice of another frame, or one slice where NiiVue's linear sampling mixes two, shows.
CTP_FRAMES = 4
CTP = np.stack(
    [
        (_smooth_field((20, 40, 48), high=80.0) * (1 + 0.4 * frame) + 10 * frame).astype(np.int16)
        for frame in range(CTP_FRAMES)
    ]
)
CTP_WINDOW = (0, 200)


def _ctp_image() -> sitk.Image:
    image = sitk.GetImageFromArray(CTP, isVector=False)
    image.SetSpacing((*SPACING_MM, 2.0))
    return image


# A label volume on the NCCT's grid, shown as the drawing layer as the review shows its overlap; and the
# same labels as the review's overlap comes, the box around them placed by its origin.
LABELS = Volume("overlap-labels", _labels_of(VOLUMES[0].voxels), VOLUMES[0].direction, "gray", (0, 3))
LABELS_BOX = "overlap-labels-box"


def _image(volume: Volume) -> sitk.Image:
    image = sitk.GetImageFromArray(volume.voxels)
    image.SetSpacing(SPACING_MM)
    image.SetDirection(volume.direction)
    return image


def _labelled_box(image: sitk.Image) -> sitk.Image:
    """The box of a label image around its labels; SimpleITK's slicing moves the origin with it."""
    voxels = sitk.GetArrayFromImage(image)
    low = [int(axis.min()) for axis in np.nonzero(voxels)]
    high = [int(axis.max()) + 1 for axis in np.nonzero(voxels)]
    return image[low[2] : high[2], low[1] : high[1], low[0] : high[0]]


def _nifti(image: sitk.Image) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        return path.read_bytes()


@pytest.fixture
def case(transactional_db: None) -> Case:
    # Made before Playwright starts (see tests/e2e/test_pages.py for why).
    dataset = DatasetFactory(slug="release")
    case = CaseFactory(dataset=dataset, name="sub-stroke0001", split=Split.TRAIN)
    images = {volume.interface: _image(volume) for volume in [*VOLUMES, LABELS]}
    images[LABELS_BOX] = _labelled_box(images[LABELS.interface])
    images["preprocessed-perfusion-ct"] = _ctp_image()
    for interface, image in images.items():
        content = _nifti(image)
        ImageFactory(
            case=case,
            interface=interface,
            shape=list(image.GetSize()),
            spacing_mm=list(SPACING_MM),
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            file=ContentFile(content, name=f"{interface}.nii.gz"),
        )
    ChallengeRoleFactory(
        challenge=dataset.challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="ada"
    )
    return case


# Two canvases of one size; a plain NiiVue with the options our viewer gives it draws the volume on the
# first, our viewer on the second. `preset`, when given, is then set on both (ours through a preset);
# `labels`, when given, is the URL of a label volume on the same grid, shown as the drawing layer (plain
# NiiVue through loadDrawing) in the review's colours; our viewer shows the one at `ourLabels`, the same
# labels or the box around them.
DRAW_BOTH = """
async ({ url, name, colormap, window, preset, labels, ourLabels }) => {
  document.querySelectorAll(".shortcut-check").forEach((element) => element.remove());
  const canvases = ["reference", "ours"].map((id) => {
    const holder = document.createElement("div");
    holder.className = "shortcut-check";
    const left = id === "ours" ? 420 : 0;
    holder.style.cssText = `position: fixed; top: 0; left: ${left}px; width: 400px; height: 300px`;
    const canvas = document.createElement("canvas");
    canvas.id = "check-" + id;
    holder.append(canvas);
    document.body.append(holder);
    return canvas;
  });
  const moduleUrl = new URL("viewer.mjs", document.querySelector("script[type=module]").src);
  const { createViewer, VIEWER_OPTIONS } = await import(moduleUrl.href);
  const reference = new niivue.Niivue({ ...VIEWER_OPTIONS });
  await reference.attachToCanvas(canvases[0]);
  await reference.loadVolumes([{ url, name, colormap, cal_min: window[0], cal_max: window[1] }]);
  reference.setSliceType(reference.sliceTypeMultiplanar);
  const labelColors = { 1: [0, 204, 0], 2: [255, 51, 51], 3: [51, 102, 255] };
  const volumes = [{ url, name, colormap, calMin: window[0], calMax: window[1] }];
  if (labels !== null) {
    reference.setDrawColormap({
      I: [0, 1, 2, 3], R: [0, 0, 255, 51], G: [0, 204, 51, 102], B: [0, 0, 51, 255], A: [0, 255, 255, 255],
    });
    reference.drawOpacity = 0.7;
    reference.loadDrawing(await niivue.NVImage.loadFromUrl({ url: labels, name: "labels.nii.gz" }));
    volumes.push({ url: ourLabels, name: "labels.nii.gz", labelColors, opacity: 0.7 });
  }
  const ours = await createViewer(canvases[1], { volumes });
  await ours.ready;
  if (preset !== null) {
    ours.setWindowPreset(preset.name);
    Object.assign(reference.volumes[0], { cal_min: preset.range[0], cal_max: preset.range[1] });
    reference.updateGLVolume();
  }
  reference.drawScene();
  for (const gl of [reference.gl, canvases[1].getContext("webgl2")]) {
    gl.finish();
  }
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}
"""


def _both_drawn(
    page: Page,
    *,
    case: Case,
    base_url: str,
    volume: Volume,
    preset: dict[str, object] | None = None,
    labels: str | None = None,
    our_labels: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The volume drawn by plain NiiVue and by our viewer, on the case viewer's page (for its scripts);
    ``labels``, the interface of a label volume to show over it, which our viewer takes from
    ``our_labels`` when given."""
    page.goto(f"{base_url}/datasets/cases/{case.pk}/view/")
    images = json.loads(page.locator("#viewer-data").text_content() or "{}")["images"]
    urls = {image["name"].removesuffix(".nii.gz"): image["url"] for image in images}
    arguments = {
        "url": urls[volume.interface],
        "labels": None if labels is None else urls[labels],
        "ourLabels": None if labels is None else urls[our_labels or labels],
        "name": f"{volume.interface}.nii.gz",
        "colormap": volume.colormap,
        "window": list(volume.window),
        "preset": preset,
    }
    page.evaluate(DRAW_BOTH, arguments)
    return canvas_pixels(page, "#check-reference"), canvas_pixels(page, "#check-ours")


def _assert_alike(reference: np.ndarray, ours: np.ndarray, what: str) -> None:
    assert reference.shape == ours.shape, what
    assert reference.std() > 10, f"{what}: NiiVue drew nothing to compare with"
    difference = np.abs(reference - ours).max(axis=-1)
    # Colours may differ by a rounding step: the table is computed in double precision, the shader in float.
    assert (difference <= 2).mean() > 0.999, (
        f"{what}: {int((difference > 2).sum())} pixels differ, by up to {difference.max():.0f}"
    )


@pytest.mark.e2e
@pytest.mark.parametrize("index", range(len(VOLUMES)), ids=[volume.interface for volume in VOLUMES])
def test_the_viewer_draws_a_volume_as_plain_niivue_does(
    case: Case, live_server: object, browser: Browser, index: int
) -> None:
    volume = VOLUMES[index]
    page = logged_in_page(browser, session_cookie(username="ada", live_server_url=live_server.url))
    try:
        reference, ours = _both_drawn(page, case=case, base_url=live_server.url, volume=volume)

        _assert_alike(reference, ours, volume.interface)
    except Exception:
        save_failure(page, f"viewer-shortcuts-{volume.interface}")
        raise


@pytest.mark.e2e
@pytest.mark.parametrize("ours", [LABELS.interface, LABELS_BOX], ids=["whole", "box"])
def test_the_viewer_draws_a_label_volume_over_a_ct_as_plain_niivue_does(
    case: Case, live_server: object, browser: Browser, ours: str
) -> None:
    page = logged_in_page(browser, session_cookie(username="ada", live_server_url=live_server.url))
    try:
        reference, ours_drawn = _both_drawn(
            page,
            case=case,
            base_url=live_server.url,
            volume=VOLUMES[0],
            labels=LABELS.interface,
            our_labels=ours,
        )

        coloured = (reference.max(axis=-1) - reference.min(axis=-1)) > 60
        assert coloured.sum() > 200, "plain NiiVue shows no label colour to compare with"
        _assert_alike(reference, ours_drawn, f"the labels over the CT ({ours})")
    except Exception:
        save_failure(page, f"viewer-shortcuts-{ours}")
        raise


@pytest.mark.e2e
def test_the_viewer_draws_a_changed_window_as_plain_niivue_does(
    case: Case, live_server: object, browser: Browser
) -> None:
    volume = VOLUMES[0]
    page = logged_in_page(browser, session_cookie(username="ada", live_server_url=live_server.url))
    try:
        bone = {"name": "bone", "range": [-500, 1500]}
        reference, ours = _both_drawn(page, case=case, base_url=live_server.url, volume=volume, preset=bone)

        _assert_alike(reference, ours, "the bone window")
    except Exception:
        save_failure(page, "viewer-shortcuts-window")
        raise


# The CTP on two canvases of one size in the multiplanar layout, frame 0: a plain NiiVue with the options our
# viewer gives it on the first (window.check.reference), our viewer on the second (window.check.ours).
OPEN_BOTH_4D = """
async ({ url, name, range }) => {
  const canvases = ["reference", "ours"].map((id) => {
    const holder = document.createElement("div");
    const left = id === "ours" ? 420 : 0;
    holder.style.cssText = `position: fixed; top: 0; left: ${left}px; width: 400px; height: 300px`;
    const canvas = document.createElement("canvas");
    canvas.id = "check-" + id;
    holder.append(canvas);
    document.body.append(holder);
    return canvas;
  });
  const moduleUrl = new URL("viewer.mjs", document.querySelector("script[type=module]").src);
  const { createViewer, VIEWER_OPTIONS } = await import(moduleUrl.href);
  const reference = new niivue.Niivue({ ...VIEWER_OPTIONS });
  await reference.attachToCanvas(canvases[0]);
  await reference.loadVolumes([{ url, name, colormap: "gray", cal_min: range[0], cal_max: range[1] }]);
  reference.setSliceType(reference.sliceTypeMultiplanar);
  const volumes = [{ url, name, calMin: range[0], calMax: range[1] }];
  const ours = await createViewer(canvases[1], { volumes });
  await ours.ready;
  window.check = { reference, ours };
}
"""

# Both canvases drawn and on screen, neither with the focus ring of the last one clicked.
BOTH_DRAWN = """
async () => {
  document.activeElement.blur();
  window.check.reference.drawScene();
  for (const id of ["check-reference", "check-ours"]) {
    document.getElementById(id).getContext("webgl2").finish();
  }
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}
"""


def _click_both(page: Page, *, x: float, y: float) -> None:
    """A click at the same point (fractions of the canvas) of both canvases: the crosshair moves there."""
    for canvas in ("#check-reference", "#check-ours"):
        box = page.locator(canvas).bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def _both_pictures(page: Page) -> tuple[np.ndarray, np.ndarray]:
    page.evaluate(BOTH_DRAWN)
    return canvas_pixels(page, "#check-reference"), canvas_pixels(page, "#check-ours")


@pytest.mark.e2e
def test_frames_shown_on_the_slices_in_view_look_as_plain_niivues_frames_and_the_whole_frame_follows(
    case: Case, live_server: object, browser: Browser
) -> None:
    """Cine playback's frames (Viewer.showFrameOnSlices) at a crosshair between voxel centres on every axis
    look as NiiVue's setFrame4D draws them; once the whole frame is shown (setFrame), other slices show it
    too."""
    page = logged_in_page(browser, session_cookie(username="ada", live_server_url=live_server.url))
    try:
        page.goto(f"{live_server.url}/datasets/cases/{case.pk}/view/")
        images = json.loads(page.locator("#viewer-data").text_content() or "{}")["images"]
        (url,) = [image["url"] for image in images if image["name"] == "preprocessed-perfusion-ct.nii.gz"]
        page.evaluate(OPEN_BOTH_4D, {"url": url, "name": "ctp.nii.gz", "range": list(CTP_WINDOW)})
        # In the top left tile (coronal), then in the bottom left one (axial): off the voxel centres.
        _click_both(page, x=0.23, y=0.31)
        _click_both(page, x=0.17, y=0.77)
        first_frame, _ = _both_pictures(page)
        last = CTP_FRAMES - 1
        page.evaluate(
            """async (last) => {
              for (let frame = 1; frame <= last; frame += 1) {
                await window.check.ours.showFrameOnSlices(frame);
              }
              window.check.reference.setFrame4D(window.check.reference.volumes[0].id, last);
            }""",
            last,
        )
        reference, ours = _both_pictures(page)
        page.evaluate("(last) => window.check.ours.setFrame(last)", last)
        _click_both(page, x=0.31, y=0.65)  # other coronal and sagittal slices
        reference_moved, ours_moved = _both_pictures(page)

        assert np.abs(reference - first_frame).mean() > 5, "the last frame looks like the first"
        _assert_alike(reference, ours, "the last frame on the slices in view")
        assert np.abs(reference_moved - reference).mean() > 1, "the click moved no slice"
        _assert_alike(reference_moved, ours_moved, "the last frame on other slices")
    except Exception:
        save_failure(page, "viewer-shortcuts-frames")
        raise
