"""An organizer unsticks a submission: queues its current step again, or stops it with a sentence for its
team; nobody else may, and a step a live worker holds is not re-queued under it."""

import datetime
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.submissions.models import Submission
from portal.submissions.selectors import submission_list_counted
from portal.submissions.services import submission_create
from tests.portal.submissions.conftest import People

Status = Submission.Status


@pytest.fixture
def stuck(people: People) -> Submission:
    """A submission whose check was claimed by a worker that died an hour ago."""
    open_phase = people.open_phase
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    Submission.objects.filter(pk=submission.pk).update(
        status=Status.CHECKING,
        attempt=2,
        claimed_by="gpu-host-3 pid 812 claim 0a1b",
        heartbeat_at=timezone.now() - datetime.timedelta(hours=1),
    )
    return submission


def _api(people: People, person: str, submission: Submission, action: str, **data: str) -> Client:
    url = reverse(f"api:submission-{action}", args=[submission.pk])
    return people.client(person).post(url, data, content_type="application/json")


def test_an_organizer_queues_a_stuck_check_again_with_its_attempts_counted_afresh(
    people: People, stuck: Submission, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(people, "organizer", stuck, "requeue")

    stuck.refresh_from_db()
    assert response.status_code == 200
    assert stuck.status == Status.SUCCEEDED  # the check and the evaluation ran again (eagerly here)
    assert stuck.state_changes.filter(note="Its check queued again by organizer.").count() == 1


def test_an_organizer_stops_a_stuck_submission_with_a_sentence_its_team_reads(
    people: People, stuck: Submission
) -> None:
    response = _api(people, "organizer", stuck, "stop", reason="Its archive hangs every worker.")

    stuck.refresh_from_db()
    page = people.client("teammate").get(reverse("api:submission-detail", args=[stuck.pk])).json()
    assert response.status_code == 200
    assert stuck.status == Status.FAILED
    assert page["error"].startswith("An organizer stopped this submission: Its archive hangs every worker.")
    assert stuck.state_changes.filter(to_status=Status.FAILED, note="Stopped by organizer.").exists()
    assert not submission_list_counted(
        phase=people.open_phase.phase, team=stuck.team, user=stuck.creator
    ).exists()


@pytest.mark.parametrize(
    ("person", "status"), [("anonymous", 401), ("participant", 403), ("other_team", 404), ("reader", 404)]
)
@pytest.mark.parametrize("action", ["requeue", "stop"])
def test_only_an_organizer_unsticks_a_submission(
    people: People, stuck: Submission, person: str, status: int, action: str
) -> None:
    response = _api(people, person, stuck, action, reason="Because.")

    stuck.refresh_from_db()
    assert response.status_code == status
    assert (stuck.status, stuck.attempt) == (Status.CHECKING, 2)


@pytest.mark.parametrize(("person", "status"), [("participant", 403), ("other_team", 404), ("reader", 404)])
@pytest.mark.parametrize("action", ["requeue", "stop"])
def test_the_pages_refuse_to_unstick_a_submission_as_the_api_does(
    people: People, stuck: Submission, person: str, status: int, action: str
) -> None:
    client = Client()
    client.force_login(people.users[person])

    response = client.post(reverse(f"submission-{action}", args=[stuck.pk]), {"reason": "Because."})

    stuck.refresh_from_db()
    assert response.status_code == status
    assert (stuck.status, stuck.attempt) == (Status.CHECKING, 2)


def test_a_step_a_live_worker_holds_is_not_queued_again(people: People, stuck: Submission) -> None:
    Submission.objects.filter(pk=stuck.pk).update(heartbeat_at=timezone.now())

    response = _api(people, "organizer", stuck, "requeue")

    assert response.status_code == 400
    assert response.json()["code"] == "held"
    assert "right now" in response.json()["detail"]


def test_a_submission_that_has_ended_is_neither_queued_again_nor_stopped(
    people: People, stuck: Submission
) -> None:
    Submission.objects.filter(pk=stuck.pk).update(status=Status.SUCCEEDED)

    requeued = _api(people, "organizer", stuck, "requeue")
    stopped = _api(people, "organizer", stuck, "stop", reason="Too late.")

    assert [requeued.json()["code"], stopped.json()["code"]] == ["ended", "ended"]


def test_the_submission_page_shows_the_step_and_its_controls_to_organizers_only(
    people: People, stuck: Submission
) -> None:
    pages = {}
    for person in ("organizer", "participant"):
        client = Client()
        client.force_login(people.users[person])
        pages[person] = client.get(reverse("submission-detail", args=[stuck.pk])).content.decode()

    assert "gpu-host-3 pid 812 claim 0a1b" in pages["organizer"]
    assert "stopped answering" in pages["organizer"]
    assert reverse("submission-requeue", args=[stuck.pk]) in pages["organizer"]
    assert 'id="step"' not in pages["participant"]
    assert reverse("submission-stop", args=[stuck.pk]) not in pages["participant"]
