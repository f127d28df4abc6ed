"""The algorithm pages: the upload page for participants, and the jobs page whose logs follow the phase's
rule (organizers always, participants where the phase allows)."""

from pathlib import Path

from django.test import Client
from pytest_django import DjangoAssertNumQueries

from portal.accounts.models import User
from portal.algorithms.models import AlgorithmSettings
from portal.submissions.models import Submission
from portal.submissions.services import submission_check
from tests.inference.images import image_archive_write
from tests.portal.algorithms.conftest import AlgorithmPhase, archive_upload


def _submission_with_logs(algorithm_phase: AlgorithmPhase, tmp_path: Path) -> Submission:
    client = algorithm_phase.client_for(algorithm_phase.participant)
    body = archive_upload(
        client, phase=algorithm_phase.phase, archive=image_archive_write(tmp_path / "i.tar")
    )
    submission_check(submission_id=body["submission"])
    submission = Submission.objects.get(pk=body["submission"])
    submission.jobs.filter(is_sanity=True).update(
        status="FAILED", exit_code=1, stderr_tail="weights.pt not found\n", failure="It exited with code 1."
    )
    submission.jobs.filter(case__name="sub-stroke0100").update(stderr_tail="hidden image max 3071\n")
    return submission


def _page(user: object, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_upload_page_offers_participants_the_chunked_uploader_and_the_command(
    algorithm_phase: AlgorithmPhase,
) -> None:
    page = _page(algorithm_phase.participant, f"/algorithms/phases/{algorithm_phase.phase.slug}/upload/")

    assert 'id="algorithm-upload"' in page
    assert "js/algorithm-upload.mjs" in page
    assert f"isles submit-algorithm {algorithm_phase.phase.slug} image.tar.gz" in page


def test_the_upload_page_tells_an_organizer_only_participants_submit(algorithm_phase: AlgorithmPhase) -> None:
    page = _page(algorithm_phase.organizer, f"/algorithms/phases/{algorithm_phase.phase.slug}/upload/")

    assert 'id="cannot-submit"' in page
    assert 'id="algorithm-upload"' not in page


def test_the_jobs_page_shows_logs_to_organizers_and_to_participants_only_where_the_phase_allows(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    submission = _submission_with_logs(algorithm_phase, tmp_path)
    url = f"/algorithms/submissions/{submission.pk}/jobs/"

    hidden = _page(algorithm_phase.participant, url)
    organizer = _page(algorithm_phase.organizer, url)
    AlgorithmSettings.objects.filter(phase=algorithm_phase.phase).update(logs_visible_to_participants=True)
    shown = _page(algorithm_phase.participant, url)

    assert "It exited with code 1." in hidden
    assert "weights.pt not found" not in hidden
    assert "shows its jobs&#x27; logs to its organizers only" in hidden
    assert "weights.pt not found" in organizer
    assert "hidden image max 3071" in organizer
    assert "weights.pt not found" in shown  # the sanity case is a training case
    assert "hidden image max 3071" not in shown
    assert "Logs of hidden test cases are shown to the organizers only" in shown


def test_another_teams_jobs_page_is_not_found(algorithm_phase: AlgorithmPhase, tmp_path: Path) -> None:
    submission = _submission_with_logs(algorithm_phase, tmp_path)
    stranger = Client()
    stranger.force_login(User.objects.create(username="stranger"))

    assert stranger.get(f"/algorithms/submissions/{submission.pk}/jobs/").status_code == 404


def test_the_phase_and_submission_pages_link_to_the_algorithm_pages(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    submission = _submission_with_logs(algorithm_phase, tmp_path)

    phase_page = _page(algorithm_phase.participant, f"/submissions/phases/{algorithm_phase.phase.slug}/")
    detail_page = _page(algorithm_phase.participant, f"/submissions/{submission.pk}/")

    assert f"/algorithms/phases/{algorithm_phase.phase.slug}/upload/" in phase_page
    assert f"/algorithms/submissions/{submission.pk}/jobs/" in detail_page


def test_the_jobs_api_reads_a_fixed_number_of_queries(
    algorithm_phase: AlgorithmPhase, tmp_path: Path, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    submission = _submission_with_logs(algorithm_phase, tmp_path)
    client = algorithm_phase.client_for(algorithm_phase.organizer)

    with django_assert_num_queries(3):  # the submission, the roles, the jobs with their cases
        jobs = client.get(f"/api/submissions/{submission.pk}/jobs/").json()

    assert [job["case"] for job in jobs] == ["sub-stroke0001", "sub-stroke0100", "sub-stroke0101"]
    assert jobs[0]["stderr_tail"] == "weights.pt not found\n"


def test_the_jobs_page_shows_what_the_check_found(algorithm_phase: AlgorithmPhase, tmp_path: Path) -> None:
    config = {"architecture": "amd64", "os": "linux", "config": {"User": "root", "Entrypoint": ["/p"]}}
    client = algorithm_phase.client_for(algorithm_phase.participant)
    body = archive_upload(
        client, phase=algorithm_phase.phase, archive=image_archive_write(tmp_path / "i.tar", config=config)
    )
    submission_check(submission_id=body["submission"])
    submission = Submission.objects.get(pk=body["submission"])

    page = _page(algorithm_phase.participant, f"/algorithms/submissions/{submission.pk}/jobs/")

    assert submission.status == Submission.Status.FAILED
    assert "What the check found" in page
    assert submission.problems[0].replace("'", "&#x27;") in page


def test_the_jobs_page_polls_the_api_while_the_submission_is_in_progress(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    submission = _submission_with_logs(algorithm_phase, tmp_path)

    page = _page(algorithm_phase.participant, f"/algorithms/submissions/{submission.pk}/jobs/")

    assert f'data-jobs-url="/api/submissions/{submission.pk}/jobs/"' in page
    assert f'data-submission-url="/api/submissions/{submission.pk}/"' in page
    assert "js/submission-progress.mjs" in page


def test_the_jobs_api_answers_304_until_a_job_changes(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    submission = _submission_with_logs(algorithm_phase, tmp_path)
    client = algorithm_phase.client_for(algorithm_phase.participant)
    url = f"/api/submissions/{submission.pk}/jobs/"
    first = client.get(url)

    unchanged = client.get(url, headers={"if-none-match": first["ETag"]})
    submission.jobs.filter(case__name="sub-stroke0101").update(status="RUNNING")
    changed = client.get(url, headers={"if-none-match": first["ETag"]})

    assert (first.status_code, unchanged.status_code, changed.status_code) == (200, 304, 200)
    assert changed["ETag"] != first["ETag"]
    assert [job["status"] for job in changed.json() if job["case"] == "sub-stroke0101"] == ["RUNNING"]
