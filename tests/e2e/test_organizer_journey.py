"""An organizer runs a challenge from the portal's own pages in a real Chromium, against a live portal with
a real Celery worker, without the Django admin or a shell (issue 17's done-when test).

The organizer is no superuser and no staff: the site admin gave them only the permission to create
challenges. They create a challenge with data-use terms whose participants need approval, upload the small
synthetic release in chunks and import it while its page follows the worker without a reload, create a
predictions phase and an algorithm phase with limits, leaderboard columns and a sandbox, add a
co-organizer and an expert reader, approve a participant's request and publish an announcement that the
challenge's page shows. The participant accepts the data-use terms, submits a valid predictions archive,
and the leaderboard shows the columns as the organizer labelled them, with the participant's row. An
organizer of another challenge is refused every organizer page of this one (403: the challenge is public,
as the permission matrix of tests/portal/test_permission_matrix.py states per route).
"""

import datetime
import io
import re
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Challenge
from portal.datasets.models import DatasetImport
from tests.e2e.viewer_pages import logged_in_page, save_failure, session_cookie
from tests.integration import conftest as worker_fixtures
from tests.integration.conftest import WorkerStart
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory

celery_worker_start = worker_fixtures.celery_worker_start

SLUG = "isles25"
PREDICTIONS_PHASE = "isles25-masks"
ALGORITHM_PHASE = "isles25-containers"
PAGE_MS = 30_000
"""How long a page action or an expectation waits (ms)."""
WORKER_MS = 120_000
"""How long a page may wait for the worker (ms): it starts Django, then imports, checks and scores."""


@pytest.fixture(autouse=True)
def patient_expectations() -> Iterator[None]:
    """Every expectation waits as long as a page action does (a loaded 2-core machine answers slowly),
    then Playwright's default comes back for the other tests."""
    expect.set_options(timeout=PAGE_MS)
    yield
    expect.set_options(timeout=5_000)


@dataclass
class Cast:
    organizer: User
    co_organizer: User
    reader: User
    participant: User
    other_organizer: User


@pytest.fixture
def cast(transactional_db: None) -> Cast:
    """The people of the story, made before the browser starts: an organizer who may only create
    challenges, two people they add, a participant whose e-mail address is confirmed, and the organizer
    of another challenge."""
    organizer = UserFactory(username="orla", email="orla@example.org")
    may_create = Permission.objects.get(content_type__app_label="challenges", codename="add_challenge")
    organizer.user_permissions.add(may_create)
    participant = UserFactory(username="pia", email="pia@example.org")
    EmailAddress.objects.update_or_create(
        user=participant, email=participant.email, defaults={"verified": True, "primary": True}
    )
    other = ChallengeRoleFactory(
        challenge=ChallengeFactory(slug="isles23", title="ISLES 2023"),
        role=ChallengeRole.Role.ORGANIZER,
        user__username="olaf",
    ).user
    return Cast(
        organizer=organizer,
        co_organizer=UserFactory(username="cora", email="cora@example.org"),
        reader=UserFactory(username="rhea", email="rhea@example.org"),
        participant=participant,
        other_organizer=other,
    )


@pytest.fixture
def release_archive(pristine_release: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """The small synthetic release (releases.synthetic.write_release) as the .tar.gz an organizer uploads."""
    root, _ = pristine_release
    archive = tmp_path / "isles25.tar.gz"
    with tarfile.open(archive, mode="w:gz") as packed:
        packed.add(root, arcname="isles25")
    return archive


def _logged_in(browser: Browser, base: str, username: str) -> Page:
    """A page of its own browser context, logged in by a session cookie made with the test client."""
    page = logged_in_page(browser, session_cookie(username=username, live_server_url=base))
    page.set_default_timeout(PAGE_MS)
    return page


def _predictions(release: Path, cases: list[str]) -> bytes:
    """A zip of each case's own reference mask, named by the case: a perfect prediction."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for case in cases:
            (mask,) = release.glob(f"derivatives/{case}/**/*lesion-msk.nii.gz")
            archive.writestr(f"{case}.nii.gz", mask.read_bytes())
    return buffer.getvalue()


def _a_day_ago() -> str:
    """Yesterday's UTC wall clock as a datetime-local input takes it."""
    return (timezone.now() - datetime.timedelta(days=1)).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M")


def create_the_challenge(page: Page, base: str) -> None:
    page.goto(f"{base}/organize/new/")
    form = page.locator("#challenge-form")
    form.get_by_label("Title").fill("ISLES 2025")
    form.get_by_label("Address").fill(SLUG)
    form.get_by_label("Summary").fill("Segment the infarct on CT perfusion.")
    form.get_by_label("Public: listed for everyone").check()
    form.get_by_label("Participants need approval").check()
    form.get_by_label("Data licence").fill("CC BY-NC 4.0")
    form.get_by_label("Data-use terms").fill("Use the data for research only; never try to identify anyone.")
    form.get_by_role("button", name="Create the challenge").click()
    expect(page.get_by_text("ISLES 2025 is created, and you are its organizer.")).to_be_visible()
    page.wait_for_url(f"**/challenges/{SLUG}/organize/")


def import_the_release(page: Page, base: str, archive: Path, start_worker: WorkerStart, log: Path) -> int:
    """Upload the archive in chunks, import it as the hidden test split, and watch the import's page follow
    the worker (started only then) to the importer's report without a reload. Returns the import's id."""
    page.goto(f"{base}/challenges/{SLUG}/organize/data/")
    page.locator("#release-file").set_input_files(str(archive))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#release-upload-status")).to_contain_text(f"{archive.name} is uploaded")
    expect(page.locator("#release-upload-progress")).to_have_attribute("value", "100")
    form = page.locator("#dataset-import-form")
    form.get_by_label("Dataset").fill("isles25")
    form.get_by_label("Split").select_option("TEST")
    form.get_by_role("button", name="Import").click()
    page.wait_for_url("**/organize/data/imports/*/")
    expect(page.locator("#import-progress")).to_be_visible()
    expect(page.locator("#import-stage")).to_have_text("Waiting for a worker.")
    polls: list[int] = []
    loads: list[str] = []
    page.on("response", lambda answer: polls.append(answer.status) if "/api/" in answer.url else None)
    page.on("framenavigated", lambda frame: loads.append(frame.url) if frame == page.main_frame else None)
    start_worker(log_path=log)
    expect(page.locator("#import-status")).to_have_text("Succeeded", timeout=WORKER_MS)
    expect(page.locator("#import-report")).to_contain_text("3 cases")
    expect(page.locator("#missing-files")).to_contain_text("None")
    expect(page.locator("#import-problems")).to_contain_text("None.")
    # Nobody reloaded: the page asked the API for the import's progress and, once it had ended, loaded its
    # report itself, once.
    assert polls, "the import's page never asked for its progress"
    assert len(loads) <= 1, loads
    found = re.search(r"/imports/(\d+)/", page.url)
    assert found is not None
    return int(found.group(1))


def _phase_fields(page: Page, *, kind: str, title: str, slug: str, daily: int, total: int) -> None:
    fields = page.locator("#phase-fields")
    fields.get_by_label("Participants submit").select_option(kind)
    fields.get_by_label("Title").fill(title)
    fields.get_by_label("Slug").fill(slug)
    fields.get_by_label("Opens at").fill(_a_day_ago())
    fields.get_by_label("Daily submission limit").fill(str(daily))
    fields.get_by_label("Total submission limit").fill(str(total))
    fields.get_by_label("Dataset:", exact=True).select_option(index=1)
    fields.get_by_label("Split").select_option("TEST")


def create_the_predictions_phase(page: Page, base: str) -> None:
    """A predictions phase whose leaderboard ranks by Dice and shows the lesion F1, both relabelled; the
    profile's two volume-difference columns are removed."""
    page.goto(f"{base}/challenges/{SLUG}/organize/new-phase/")
    _phase_fields(page, kind="PREDICTIONS", title="Masks", slug=PREDICTIONS_PHASE, daily=3, total=20)
    columns = page.locator("#columns")
    expect(columns.locator("[name='columns-0-metric_key']")).to_have_value("dice")
    expect(columns.locator("[name='columns-3-metric_key']")).to_have_value("lesion_f1")
    columns.locator("[name='columns-0-label']").fill("Lesion Dice")
    columns.locator("[name='columns-3-label']").fill("Detection F1")
    columns.locator("[name='columns-3-role']").select_option("shown")
    columns.locator("[name='columns-1-DELETE']").check()
    columns.locator("[name='columns-2-DELETE']").check()
    page.locator("#leaderboard-fields").get_by_label("Publication").select_option("AUTOMATIC")
    page.locator("#phase-editor > button[type=submit]").click()
    expect(page.get_by_text("Masks is saved.")).to_be_visible()
    page.wait_for_url(f"**/organize/phases/{PREDICTIONS_PHASE}/")
    expect(page.locator("[name='columns-0-label']")).to_have_value("Lesion Dice")
    expect(page.locator("[name='columns-1-label']")).to_have_value("Detection F1")
    expect(page.locator("[name='columns-2-metric_key']")).to_have_value("")  # the empty row to add one


def create_the_algorithm_phase(page: Page, base: str) -> None:
    """An algorithm phase with its own limits and a sandbox of 5 minutes, 4 GB and 2 CPUs, without GPU."""
    page.goto(f"{base}/challenges/{SLUG}/organize/new-phase/")
    _phase_fields(page, kind="ALGORITHM", title="Containers", slug=ALGORITHM_PHASE, daily=1, total=5)
    sandbox = page.locator("#sandbox-fields")
    sandbox.get_by_label("Time limit per case (s)").fill("300")
    sandbox.get_by_label("Memory (GB)").fill("4")
    sandbox.get_by_label("CPUs:", exact=True).fill("2")
    sandbox.get_by_label("GPU:", exact=True).uncheck()
    page.locator("#phase-editor > button[type=submit]").click()
    expect(page.get_by_text("Containers is saved.")).to_be_visible()
    page.wait_for_url(f"**/organize/phases/{ALGORITHM_PHASE}/")
    expect(sandbox.get_by_label("Time limit per case (s)")).to_have_value("300")
    expect(sandbox.get_by_label("Memory (GB)")).to_have_value("4.0")
    expect(page.locator("#phase-fields").get_by_label("Daily submission limit")).to_have_value("1")


def add_people(page: Page, base: str, cast: Cast) -> None:
    """Add a co-organizer and an expert reader by their e-mail addresses."""
    page.goto(f"{base}/challenges/{SLUG}/organize/people/")
    for person, role, shown in (
        (cast.co_organizer, "ORGANIZER", "Organizer"),
        (cast.reader, "READER", "Expert reader"),
    ):
        form = page.locator("#person-add")
        form.get_by_label("Username or e-mail address").fill(person.email)
        form.get_by_label("Role").select_option(role)
        form.get_by_role("button", name="Add").click()
        expect(page.locator("#people tr", has_text=person.username)).to_contain_text(shown)


def ask_to_take_part(page: Page, base: str) -> None:
    page.goto(f"{base}/challenges/{SLUG}/")
    page.get_by_role("button", name="Ask to take part").click()
    expect(page.locator("#participation-request")).to_be_visible()


def approve_the_request(page: Page, base: str, participant: User) -> None:
    page.goto(f"{base}/challenges/{SLUG}/organize/participants/")
    request = page.locator("#participation-requests tr", has_text=participant.username)
    request.get_by_role("button", name="Approve").click()
    approved = f"{participant.username} now takes part in ISLES 2025."
    expect(page.get_by_role("status")).to_contain_text(approved)
    expect(page.locator("#participation-requests")).to_contain_text("No requests waiting.")
    expect(page.locator("#participants tr", has_text=participant.username)).to_contain_text("confirmed")


def publish_an_announcement(page: Page, base: str) -> None:
    """Publish an announcement, also by e-mail, and see it on the challenge's page."""
    page.goto(f"{base}/challenges/{SLUG}/organize/announcements/")
    form = page.locator("#announcement-form")
    form.get_by_label("Title").fill("Masks phase open")
    form.get_by_label("Body").fill("Submit **one mask per case**, named by the case.")
    form.get_by_label("Also send by e-mail").check()
    form.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("'Masks phase open' is on the challenge's page and")
    published = page.locator("article.announcement", has_text="Masks phase open")
    expect(published).to_contain_text("e-mailed")
    expect(published).not_to_contain_text("not e-mailed")
    page.goto(f"{base}/challenges/{SLUG}/")
    announcement = page.locator("#announcements article", has_text="Masks phase open")
    expect(announcement.locator("strong")).to_have_text("one mask per case")


def see_the_announcement_e_mailed(page: Page, base: str) -> None:
    """The announcement's line says when it was e-mailed. Where a worker sends it, the worker took that
    task before the later submission's, which it has finished by now. Whom it reached is for the
    announcement tests: a worker's mailbox is not this process's."""
    page.goto(f"{base}/challenges/{SLUG}/organize/announcements/")
    published = page.locator("article.announcement", has_text="Masks phase open")
    expect(published).to_contain_text(re.compile(r"e-mailed \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"))


def accept_the_terms(page: Page, base: str) -> None:
    page.goto(f"{base}/datasets/{SLUG}/card/")
    expect(page.get_by_text("Use the data for research only")).to_be_visible()
    page.get_by_label("I consent that the organizers may run my team's algorithm").check()
    page.get_by_role("button", name="I accept these terms").click()
    expect(page.get_by_text("You may download this data")).to_be_visible()


def submit_predictions(page: Page, base: str, content: bytes) -> int:
    """Submit the archive and follow the submission's page until the worker has scored it."""
    page.goto(f"{base}/submissions/phases/{PREDICTIONS_PHASE}/")
    page.locator("#submit input[type=file]").set_input_files(
        {"name": "predictions.zip", "mimeType": "application/zip", "buffer": content}
    )
    page.locator("#submit").get_by_role("button", name="Submit").click()
    received = page.get_by_text(re.compile(r"Submission \d+ was received"))
    expect(received).to_be_visible()
    found = re.search(r"Submission (\d+) was received", received.inner_text())
    assert found is not None
    submission = int(found.group(1))
    page.goto(f"{base}/submissions/{submission}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Submission {submission}: Succeeded", timeout=WORKER_MS
    )
    return submission


def read_the_leaderboard(page: Page, base: str, participant: User) -> None:
    page.goto(f"{base}/leaderboards/{PREDICTIONS_PHASE}/")
    header = page.locator("table thead")
    expect(header).to_contain_text("Lesion Dice")
    expect(header).to_contain_text("Detection F1")
    expect(header).not_to_contain_text("Absolute volume difference")
    expect(header).not_to_contain_text("Absolute lesion count difference")
    expect(page.locator("table tbody tr", has_text=participant.username)).to_have_count(1)


def organizer_pages(challenge: Challenge, dataset_import: int) -> list[str]:
    """Every organizer page of the challenge, with an id or slug of its own where the route takes one."""
    pages = [
        f"/challenges/{SLUG}/organize/",
        f"/challenges/{SLUG}/organize/edit/",
        f"/challenges/{SLUG}/organize/people/",
        f"/challenges/{SLUG}/organize/participants/",
        f"/challenges/{SLUG}/organize/participants/export/",
        f"/challenges/{SLUG}/organize/announcements/",
        f"/challenges/{SLUG}/organize/new-phase/",
        f"/challenges/{SLUG}/organize/data/",
        f"/challenges/{SLUG}/organize/data/imports/{dataset_import}/",
        f"/studies/new/{SLUG}/",
        f"/studies/campaigns/new/{SLUG}/",
    ]
    pages += [f"/challenges/{SLUG}/organize/phases/{phase.slug}/" for phase in challenge.phases.all()]
    pages += [f"/datasets/{SLUG}/{dataset.slug}/test/" for dataset in challenge.datasets.all()]
    return pages


def refused_everywhere(page: Page, base: str, paths: list[str]) -> None:
    """Each page answers 403: the challenge is public, so its organizer pages say 'not yours' rather than
    'not found' (the permission matrix's rows for the other challenge's organizer)."""
    answers = {}
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None, path
        answers[path] = response.status
    assert answers == dict.fromkeys(paths, 403)


@pytest.mark.e2e
def test_an_organizer_runs_a_challenge_from_its_pages(
    cast: Cast,
    release_archive: Path,
    pristine_release: tuple[Path, list[str]],
    live_server: LiveServer,
    browser: Browser,
    celery_worker_start: WorkerStart,
    tmp_path: Path,
) -> None:
    base = live_server.url
    assert not cast.organizer.is_superuser
    assert not cast.organizer.is_staff
    organizer, participant, outsider = (_logged_in(browser, base, name) for name in ("orla", "pia", "olaf"))
    current = organizer
    try:
        create_the_challenge(organizer, base)
        dataset_import = import_the_release(
            organizer, base, release_archive, celery_worker_start, tmp_path / "worker.log"
        )
        assert DatasetImport.objects.get(pk=dataset_import).requested_by == cast.organizer
        create_the_predictions_phase(organizer, base)
        create_the_algorithm_phase(organizer, base)
        add_people(organizer, base, cast)

        current = participant
        ask_to_take_part(participant, base)
        current = organizer
        approve_the_request(organizer, base, cast.participant)
        publish_an_announcement(organizer, base)

        current = participant
        participant.goto(f"{base}/challenges/{SLUG}/")
        expect(participant.locator("#my-role")).to_contain_text("Participant")
        expect(participant.locator("#announcements")).to_contain_text("Masks phase open")
        accept_the_terms(participant, base)
        release, case_names = pristine_release
        submit_predictions(participant, base, _predictions(release, case_names))
        read_the_leaderboard(participant, base, cast.participant)
        current = organizer
        see_the_announcement_e_mailed(organizer, base)

        current = outsider
        challenge = Challenge.objects.get(slug=SLUG)
        refused_everywhere(outsider, base, organizer_pages(challenge, dataset_import))
    except Exception:
        save_failure(current, "organizer-journey")
        raise
    finally:
        for page in (organizer, participant, outsider):
            page.context.close()
