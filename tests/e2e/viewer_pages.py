"""What the viewer's browser tests and benchmark share: a head-like CT, a browser, a logged-in page, and
statistics of a canvas screenshot."""

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Browser, Page

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def head_ct(*, shape: Sequence[int], spacing_mm: Sequence[float]) -> np.ndarray:
    """An int16 CT (z, y, x) of a head: air, a 1000 HU skull, brain at 35 HU and a 20 HU infarct."""
    z, y, x = np.ogrid[-1.0 : 1.0 : shape[2] * 1j, -1.0 : 1.0 : shape[1] * 1j, -1.0 : 1.0 : shape[0] * 1j]
    z, y, x = (axis.astype(np.float32) for axis in (z, y, x))
    radius = np.sqrt(x**2 + y**2 + (z * 1.2) ** 2)
    volume = np.full(radius.shape, -1000, dtype=np.int16)
    volume[radius < 0.9] = 1000
    volume[radius < 0.8] = 35
    volume[(radius < 0.8) & ((x - 0.3) ** 2 + y**2 + z**2 < 0.05)] = 20
    return volume


def lesion_of(ct: np.ndarray) -> np.ndarray:
    """The infarct of ``head_ct`` as a uint8 mask."""
    return (ct == 20).astype(np.uint8)


def nifti_bytes(voxels: np.ndarray, *, spacing_mm: Sequence[float]) -> bytes:
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(tuple(spacing_mm))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        return path.read_bytes()


def session_cookie(*, username: str, live_server_url: str) -> dict[str, str]:
    """A session cookie of the user, made with Django's test client (before the browser starts)."""
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server_url,
    }


def logged_in_page(browser: Browser, cookie: dict[str, str]) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([cookie])
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def wait_for_viewer(page: Page, canvas: str = "#pane-1") -> None:
    page.wait_for_selector(f"{canvas}[data-viewer-ready='true']", state="attached")


def canvas_pixels(page: Page, canvas: str = "#pane-1") -> np.ndarray:
    """The canvas as an RGB array, from a screenshot, as many pixels as the canvas is big on the page (a
    screenshot of a canvas scrolled to a fractional position has a row or column more)."""
    width, height = page.locator(canvas).evaluate("(element) => [element.clientWidth, element.clientHeight]")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "canvas.png"
        page.locator(canvas).screenshot(path=str(path))
        pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    return pixels[:height, :width, :3].astype(np.float64)


def save_failure(page: Page, name: str) -> Path:
    """Keep a screenshot of the whole page under test-artifacts/ (CI keeps that folder) and say where."""
    folder = Path(settings.BASE_DIR) / "test-artifacts"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot of the failure: {path}")
    return path
