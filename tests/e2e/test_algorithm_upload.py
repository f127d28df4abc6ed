"""A participant uploads an algorithm image from the upload page in a real Chromium: the page sends the
archive in chunks through the API and lands on the submission's jobs page."""

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from portal.submissions.models import Submission
from tests.e2e.viewer_pages import CHROMIUM_ARGS, logged_in_page, session_cookie
from tests.inference.images import image_archive_write
from tests.portal.algorithms import conftest as algorithm_fixtures
from tests.portal.algorithms.conftest import AlgorithmPhase

algorithm_phase = algorithm_fixtures.algorithm_phase
# Its user is root, so the checks refuse it at once and no container runs.
ROOT_IMAGE = {"architecture": "amd64", "os": "linux", "config": {"User": "root", "Cmd": ["/bin/predict"]}}


@pytest.mark.e2e
def test_the_upload_page_sends_the_archive_and_shows_the_submissions_jobs(
    transactional_db: None,
    algorithm_phase: AlgorithmPhase,
    live_server: LiveServer,
    chromium_path: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    archive = image_archive_write(
        tmp_path / "image.tar.gz", config=ROOT_IMAGE, layer_bytes=30_000, compress=True
    )
    cookie = session_cookie(username=algorithm_phase.participant.username, live_server_url=live_server.url)
    slug = algorithm_phase.phase.slug
    # The rows and the session exist before Playwright starts; its event loop would make Django refuse
    # the ORM calls of the live server's eager tasks in this process as async-unsafe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, cookie)
        page.goto(f"{live_server.url}/algorithms/phases/{slug}/upload/")
        page.locator("#image-file").set_input_files(str(archive))
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url("**/algorithms/submissions/*/jobs/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Failed")
        expect(page.locator("#error")).to_contain_text("The archive has 1 problem")
        browser.close()

    submission = Submission.objects.get()
    assert submission.size_bytes == archive.stat().st_size
    assert submission.kind == "ALGORITHM"
