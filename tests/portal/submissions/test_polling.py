"""The submission API answers a page that polls it with 304 while nothing changed, and with the new
state (and a new ETag) once something did."""

from django.test import Client
from django.urls import reverse

from portal.submissions.models import Submission
from portal.submissions.services import submission_create
from portal.submissions.tasks import submission_check_task, submission_evaluate_task
from tests.portal.submissions.conftest import OpenPhase


def _logged_in(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_submission_api_answers_304_until_the_submission_changes(open_phase: OpenPhase) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    client = _logged_in(open_phase.participant)
    url = reverse("api:submission-detail", kwargs={"pk": submission.pk})

    first = client.get(url)
    unchanged = client.get(url, headers={"if-none-match": first["ETag"]})
    submission_check_task(submission_id=submission.pk)
    checked = client.get(url, headers={"if-none-match": first["ETag"]})
    submission_evaluate_task(submission_id=submission.pk)
    scored = client.get(url, headers={"if-none-match": checked["ETag"]})

    assert first.status_code == 200
    assert (unchanged.status_code, unchanged.content, unchanged["ETag"]) == (304, b"", first["ETag"])
    assert checked.status_code == 200
    assert checked["ETag"] != first["ETag"]
    assert checked.json()["status"] == Submission.Status.EVALUATING
    assert scored.status_code == 200
    assert scored.json()["status"] == Submission.Status.SUCCEEDED
    assert len({first["ETag"], checked["ETag"], scored["ETag"]}) == 3


def test_a_final_choice_changes_the_submissions_etag(open_phase: OpenPhase) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    submission_check_task(submission_id=submission.pk)
    submission_evaluate_task(submission_id=submission.pk)
    client = _logged_in(open_phase.participant)
    url = reverse("api:submission-detail", kwargs={"pk": submission.pk})
    before = client.get(url)["ETag"]

    client.post(reverse("api:submission-select-final", kwargs={"pk": submission.pk}))

    assert client.get(url, headers={"if-none-match": before}).status_code == 200
