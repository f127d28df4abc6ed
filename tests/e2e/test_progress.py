"""The jobs and submission pages follow a submission in progress in a real Chromium: a job or status that
changes in the database shows on the open page without a reload, and the page loads its final state once
the submission has ended."""

from collections.abc import Sequence

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import Browser, expect
from pytest_django.live_server_helper import LiveServer

from portal.algorithms.models import Job
from portal.challenges.models import Phase
from portal.submissions.models import Submission, SubmissionStateChange
from tests.e2e.viewer_pages import logged_in_page, session_cookie
from tests.portal.algorithms import conftest as algorithm_fixtures
from tests.portal.algorithms.conftest import AlgorithmPhase

algorithm_phase = algorithm_fixtures.algorithm_phase
Status = Submission.Status


def _submission(algorithm_phase: AlgorithmPhase, *, path: Sequence[str]) -> Submission:
    """An algorithm submission that went through the statuses of ``path``, made as rows: no step runs, the
    test moves it."""
    submission = Submission.objects.create(
        phase=algorithm_phase.phase,
        creator=algorithm_phase.participant,
        kind=Phase.SubmissionKind.ALGORITHM,
        file=ContentFile(b"image", name="image.tar.gz"),
        sha256="0" * 64,
        size_bytes=5,
        status=path[-1],
    )
    for from_status, to_status in zip(("", *path), path, strict=False):
        SubmissionStateChange.objects.create(
            submission=submission, from_status=from_status, to_status=to_status
        )
    return submission


@pytest.fixture
def evaluating(transactional_db: None, algorithm_phase: AlgorithmPhase) -> Submission:
    """An algorithm submission whose jobs are queued."""
    submission = _submission(algorithm_phase, path=(Status.PENDING, Status.CHECKING, Status.EVALUATING))
    for index, case in enumerate(algorithm_phase.cases):
        Job.objects.create(submission=submission, case=case, is_sanity=index == 0)
    return submission


@pytest.mark.e2e
def test_the_jobs_page_shows_a_job_and_the_submission_change_without_a_reload(
    evaluating: Submission, algorithm_phase: AlgorithmPhase, live_server: LiveServer, browser: Browser
) -> None:
    cookie = session_cookie(username=algorithm_phase.participant.username, live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    page.goto(f"{live_server.url}/algorithms/submissions/{evaluating.pk}/jobs/")
    sanity_status = page.locator("#jobs tbody tr").first.locator("td").nth(1)
    expect(sanity_status).to_have_text("Queued")
    expect(page.locator("#progress-note")).to_have_text(
        "This page updates itself while the submission is in progress."
    )
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    evaluating.jobs.filter(is_sanity=True).update(status=Job.Status.RUNNING)
    expect(sanity_status).to_have_text("Running")
    assert page.evaluate("window.loadedOnce") is True

    evaluating.jobs.filter(is_sanity=True).update(
        status=Job.Status.FAILED, exit_code=1, failure="It exited with code 1."
    )
    expect(page.locator("#jobs tbody tr").first).to_contain_text("It exited with code 1.")
    Submission.objects.filter(pk=evaluating.pk).update(status=Status.FAILED, error="The sanity case failed.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Jobs of submission {evaluating.pk}: Failed")
    expect(page.locator("#error")).to_have_text("The sanity case failed.")


@pytest.mark.e2e
def test_the_submission_page_shows_a_status_change_without_a_reload(
    transactional_db: None, algorithm_phase: AlgorithmPhase, live_server: LiveServer, browser: Browser
) -> None:
    checking = _submission(algorithm_phase, path=(Status.PENDING, Status.CHECKING))
    cookie = session_cookie(username=algorithm_phase.participant.username, live_server_url=live_server.url)
    page = logged_in_page(browser, cookie)
    page.goto(f"{live_server.url}/submissions/{checking.pk}/")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    Submission.objects.filter(pk=checking.pk).update(status=Status.EVALUATING)
    SubmissionStateChange.objects.create(
        submission=checking, from_status=Status.CHECKING, to_status=Status.EVALUATING, note="Image accepted"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Submission {checking.pk}: Evaluating")
    expect(page.locator("#history tbody tr")).to_have_count(3)
    expect(page.locator("#history tbody tr").last).to_contain_text("Image accepted")
    assert page.evaluate("window.loadedOnce") is True
