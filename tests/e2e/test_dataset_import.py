"""An organizer who is no superuser imports the synthetic release through the challenge's data page in a
real Chromium: the page uploads the archive in chunks, the import form sends it, and the import's page
shows the importer's report."""

import io
import tarfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from portal.accounts.models import ChallengeRole
from portal.datasets.models import Case, DatasetImport
from portal.organizers import api as organizer_api
from tests.e2e.viewer_pages import CHROMIUM_ARGS, logged_in_page, session_cookie
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory


@pytest.mark.e2e
def test_an_organizer_imports_a_release_archive_through_the_data_page(
    transactional_db: None,
    live_server: LiveServer,
    chromium_path: str,
    monkeypatch: pytest.MonkeyPatch,
    pristine_release: tuple[Path, list[str]],
    tmp_path: Path,
) -> None:
    release, case_names = pristine_release
    archive = tmp_path / "isles24.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as packed:
        packed.add(release, arcname="isles24")
    archive.write_bytes(buffer.getvalue())
    challenge = ChallengeFactory(slug="isles24-web")
    organizer = ChallengeRoleFactory(
        challenge=challenge, role=ChallengeRole.Role.ORGANIZER, user__username="organizer"
    ).user
    assert not organizer.is_superuser
    assert not organizer.is_staff
    cookie = session_cookie(username="organizer", live_server_url=live_server.url)
    # Chunks of 1 MB, so that the archive goes in several.
    monkeypatch.setattr(organizer_api, "CHUNK_BYTES", 1_000_000)
    # The rows and the session exist before Playwright starts; its event loop would make Django refuse
    # the ORM calls of the live server's eager tasks in this process as async-unsafe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, cookie)
        page.set_default_timeout(60_000)
        page.goto(f"{live_server.url}/challenges/{challenge.slug}/organize/data/")
        page.locator("#release-file").set_input_files(str(archive))
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#release-upload-status")).to_contain_text("isles24.tar.gz is uploaded")
        expect(page.locator("#release-upload-progress")).to_have_attribute("value", "100")
        page.get_by_role("button", name="Import").click()
        page.wait_for_url("**/organize/data/imports/*/")
        expect(page.locator("#import-status")).to_contain_text("Succeeded")
        expect(page.locator("#import-report")).to_contain_text(f"{len(case_names)} cases")
        expect(page.locator("#import-problems")).to_contain_text("None.")
        browser.close()

    dataset_import = DatasetImport.objects.get()
    assert dataset_import.requested_by == organizer
    assert dataset_import.upload is not None
    assert len(dataset_import.upload.part_names) == 4
    assert sorted(Case.objects.values_list("name", flat=True)) == case_names
