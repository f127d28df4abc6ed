"""A participant's whole journey in a real Chromium, against a live portal with a real Celery worker:
sign up and confirm the e-mail address, join, accept the data-use terms, download the training split and
check it against its manifest, form a team with a second person who joins by an invitation link, look at
a training case with its lesion overlay, submit a broken archive and a valid one and watch the submission
page follow the worker without a reload, and read the leaderboard with the ground-truth version and the
metric profile its numbers come from."""

import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, DataCard
from tests.e2e.viewer_pages import save_failure, wait_for_viewer
from tests.integration import conftest as worker_fixtures
from tests.integration.conftest import WorkerStart
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.release_world import ImportedRelease, imported_release_build, manifest_read

celery_worker_start = worker_fixtures.celery_worker_start

PASSWORD = "perfusion-tmax-6s"
WORKER_SECONDS = 90_000
"""How long a page may wait for the worker (ms): it starts Django, then checks and scores."""


@pytest.fixture
def journey(
    transactional_db: None, release: Path, case_names: list[str], celery_broker: str
) -> ImportedRelease:
    """The small synthetic release imported (training cases and one hidden test case) into a public
    challenge with data-use terms and an open predictions phase on the hidden case; tasks go to Redis."""
    imported = imported_release_build(release, case_names)
    DataCard.objects.create(
        challenge=imported.challenge, licence="CC BY-NC 4.0", terms="Use the data for research only."
    )
    PhaseFactory(
        challenge=imported.challenge,
        dataset=imported.dataset,
        slug="preliminary",
        title="Preliminary",
        split=Split.TEST,
        metric_profile=Phase.MetricProfile.ISLES24,
        daily_submission_limit=5,
        total_submission_limit=10,
    )
    return imported


def _sign_up(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.org")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again):").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_text(f"Confirmation email sent to {username}@example.org.")).to_be_visible()


def _confirmation_link(address: str) -> str:
    (message,) = [message for message in mail.outbox if message.to == [address]]
    found = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body)
    assert found is not None, message.body
    return found.group(0)


def _check_against_manifest(archive_path: Path, training_cases: list[str]) -> None:
    with tarfile.open(archive_path) as archive:
        members = {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]  # files only
            for member in archive
            if member.isfile()
        }
    manifest = manifest_read(members.pop("MANIFEST.sha256").decode())
    assert manifest == {name: hashlib.sha256(content).hexdigest() for name, content in members.items()}
    for case in training_cases:
        assert any(name.endswith(f"{case}_ses-02_lesion-msk.nii.gz") for name in members), case


def _predictions(release: Path, case: str) -> bytes:
    """An archive holding the hidden case's own reference mask, as a perfect prediction."""
    (mask,) = release.glob(f"derivatives/{case}/**/*lesion-msk.nii.gz")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{case}.nii.gz", mask.read_bytes())
    return buffer.getvalue()


def _submit(page: Page, base: str, name: str, content: bytes) -> int:
    page.goto(f"{base}/submissions/phases/preliminary/")
    page.locator("#submit input[type=file]").set_input_files(
        {"name": name, "mimeType": "application/zip", "buffer": content}
    )
    page.locator("#submit").get_by_role("button", name="Submit").click()
    received = page.get_by_text(re.compile(r"Submission \d+ was received"))
    expect(received).to_be_visible()
    found = re.search(r"Submission (\d+) was received", received.inner_text())
    assert found is not None
    return int(found.group(1))


@pytest.mark.e2e
def test_a_participant_goes_from_sign_up_to_the_leaderboard(
    journey: ImportedRelease,
    live_server: LiveServer,
    browser: Browser,
    celery_worker_start: WorkerStart,
    tmp_path: Path,
) -> None:
    base = live_server.url
    ada_context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    ada = ada_context.new_page()
    ada.set_default_timeout(20_000)
    try:
        _sign_up(ada, base, "ada")
        ada.goto(_confirmation_link("ada@example.org"))
        ada.get_by_role("button", name="Confirm").click()
        expect(ada.get_by_text("You have confirmed ada@example.org.")).to_be_visible()

        ada.goto(f"{base}/challenges/isles24/")
        ada.get_by_role("button", name="Join this challenge").click()
        expect(ada.locator("#my-role")).to_contain_text("Participant")

        ada.goto(f"{base}/datasets/isles24/card/")
        expect(ada.locator("#bulk-download")).to_have_count(0)  # not before the terms
        ada.get_by_label("I consent that the organizers may run my team's algorithm").check()
        ada.get_by_role("button", name="I accept these terms").click()
        with ada.expect_download() as download:
            ada.get_by_role("link", name="The training split").click()
        archive_path = tmp_path / "train.tar"
        download.value.save_as(archive_path)
        _check_against_manifest(archive_path, journey.train)

        ada.goto(f"{base}/challenges/isles24/team/")
        ada.locator("#team-create").get_by_label("Name").fill("Penumbra")
        ada.get_by_role("button", name="Create a team").click()
        ada.locator("#team-invite").get_by_role("button", name="Invite").click()
        invitation_link = ada.locator("#team-invitations a").first.get_attribute("href")
        assert invitation_link is not None

        bob = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        bob.set_default_timeout(20_000)
        _sign_up(bob, base, "bob")
        bob.goto(invitation_link if invitation_link.startswith("http") else f"{base}{invitation_link}")
        bob.get_by_role("button", name="Accept").click()
        expect(bob.locator("#team")).to_contain_text("Penumbra")
        expect(bob.locator("#team")).to_contain_text("ada")

        training_case = Case.objects.get(dataset=journey.dataset, name=journey.train[0])
        ada.goto(f"{base}/datasets/cases/{training_case.pk}/view/")
        wait_for_viewer(ada)
        expect(ada.locator("#overlay-visible")).to_be_checked()

        broken = _submit(ada, base, "predictions.zip", b"these bytes are not a zip archive")
        valid = _submit(ada, base, "predictions.zip", _predictions(journey.root, journey.test))
        ada.goto(f"{base}/submissions/{valid}/")
        expect(ada.get_by_role("heading", level=1)).to_have_text(f"Submission {valid}: Pending")
        polls: list[int] = []
        loads: list[str] = []
        ada.on("response", lambda answer: polls.append(answer.status) if "/api/" in answer.url else None)
        ada.on("framenavigated", lambda frame: loads.append(frame.url) if frame == ada.main_frame else None)
        # The worker starts only now, so the open page sees the submission move.
        celery_worker_start(log_path=tmp_path / "worker.log")
        expect(ada.get_by_role("heading", level=1)).to_have_text(
            f"Submission {valid}: Succeeded", timeout=WORKER_SECONDS
        )
        # Nobody reloaded: the page asked the API (ETags: 200 when changed, 304 when not) and, once the
        # submission had ended, loaded its final state itself, once.
        assert polls, "the page never asked for the submission's progress"
        assert len(loads) <= 1, loads

        ada.goto(f"{base}/submissions/{broken}/")
        expect(ada.get_by_role("heading", level=1)).to_have_text(f"Submission {broken}: Failed")
        expect(ada.locator("#error")).to_contain_text("The archive has 1 problem")
        expect(ada.locator("#problems")).to_contain_text("zip")

        ada.goto(f"{base}/leaderboards/preliminary/")
        expect(ada.locator("#scoring-basis")).to_contain_text("ground-truth version 1")
        expect(ada.locator("#scoring-basis")).to_contain_text("(isles24)")
        expect(ada.locator("table")).to_contain_text("Penumbra")
    except Exception:
        save_failure(ada, "participant-journey")
        raise
    finally:
        ada_context.close()
