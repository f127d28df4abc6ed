"""The submissions API: upload, follow, cancel and choose the final submission, and who sees what."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.leaderboards.models import LeaderboardSettings
from portal.submissions.models import Submission
from portal.submissions.services import submission_create
from tests.portal.submissions.conftest import OpenPhase, People, mask_bytes, upload, zip_bytes

Status = Submission.Status
PEOPLE = ("anonymous", "participant", "teammate", "other_team", "organizer", "reader")


@pytest.fixture
def scored(open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]) -> Submission:
    """A submission of the team that was checked and scored (tasks run eagerly)."""
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
        )
    submission.refresh_from_db()
    assert submission.status == Status.SUCCEEDED, submission.error
    return submission


def _submissions_url(open_phase: OpenPhase) -> str:
    return reverse("api:phase-submissions", kwargs={"slug": open_phase.phase.slug})


def test_a_participant_uploads_with_a_token_and_follows_the_submission_to_its_scores(
    people: People, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    client = people.client("participant")

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(_submissions_url(people.open_phase), {"file": people.open_phase.upload_good()})
    detail = client.get(reverse("api:submission-detail", kwargs={"pk": created.json()["id"]})).json()

    assert created.status_code == 201
    assert created.json()["status"] == "PENDING"
    assert detail["status"] == "SUCCEEDED"
    assert [change["to_status"] for change in detail["state_changes"]] == [
        "PENDING",
        "CHECKING",
        "EVALUATING",
        "SUCCEEDED",
    ]
    assert detail["metrics_mean"]["dice"] == pytest.approx(1.0)
    assert detail["problems"] == []
    assert detail["case_results"] is None


def test_an_upload_over_the_daily_limit_is_refused_with_its_sentence_and_code(people: People) -> None:
    client = people.client("participant")
    for _ in range(2):
        assert (
            client.post(
                _submissions_url(people.open_phase), {"file": people.open_phase.upload_good()}
            ).status_code
            == 201
        )

    refused = client.post(_submissions_url(people.open_phase), {"file": people.open_phase.upload_good()})

    assert refused.status_code == 400
    assert refused.json() == {
        "code": "daily_limit",
        "detail": "Your team has used its 2 submissions for today; the next one is possible after 00:00 UTC.",
    }


def test_an_upload_without_a_file_is_refused(people: People) -> None:
    refused = people.client("participant").post(_submissions_url(people.open_phase), {})

    assert refused.status_code == 400
    assert "file" in refused.json()


def test_a_broken_archive_lists_every_problem(
    people: People, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    archive = zip_bytes({"sub-stroke0100.nii.gz": mask_bytes(shape=(3, 3, 3)), "notes.nii.gz": b"not a mask"})
    client = people.client("participant")

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(_submissions_url(people.open_phase), {"file": upload(archive)}).json()
    detail = client.get(reverse("api:submission-detail", kwargs={"pk": created["id"]})).json()

    assert detail["status"] == "FAILED"
    assert detail["metrics_mean"] is None
    assert len(detail["problems"]) >= 3
    assert detail["error"].startswith(f"The archive has {len(detail['problems'])} problems")


@pytest.mark.parametrize(
    ("person", "status_code", "code"),
    [
        ("anonymous", 401, "not_authenticated"),
        ("organizer", 400, "not_participant"),
        ("reader", 400, "not_participant"),
    ],
)
def test_only_participants_may_upload(people: People, person: str, status_code: int, code: str) -> None:
    response = people.client(person).post(
        _submissions_url(people.open_phase), {"file": people.open_phase.upload_good()}
    )

    assert response.status_code == status_code
    assert response.json()["code"] == code
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("anonymous", 401),
        ("participant", 200),
        ("teammate", 200),
        ("other_team", 404),
        ("organizer", 200),
        ("reader", 404),
    ],
)
def test_a_submission_is_seen_by_its_team_and_the_organizers_only(
    people: People, scored: Submission, person: str, expected: int
) -> None:
    response = people.client(person).get(reverse("api:submission-detail", kwargs={"pk": scored.pk}))

    assert response.status_code == expected


@pytest.mark.parametrize(
    ("person", "listed"),
    [("participant", 1), ("teammate", 1), ("other_team", 0), ("organizer", 1), ("reader", 0)],
)
def test_the_phase_list_shows_the_team_its_own_submissions_and_organizers_all(
    people: People, scored: Submission, person: str, listed: int
) -> None:
    response = people.client(person).get(_submissions_url(people.open_phase))

    assert response.status_code == 200
    assert len(response.json()) == listed


def test_the_phase_list_takes_a_fixed_number_of_queries(
    people: People, scored: Submission, django_assert_num_queries: Callable[..., object]
) -> None:
    client = people.client("organizer")
    client.get(_submissions_url(people.open_phase))
    submission_create(
        phase=people.open_phase.phase, user=people.open_phase.loner, upload=people.open_phase.upload_good()
    )

    with django_assert_num_queries(4):
        response = client.get(_submissions_url(people.open_phase))

    assert len(response.json()) == 2


def test_per_case_scores_of_a_hidden_test_phase_are_for_organizers_only(
    people: People, scored: Submission
) -> None:
    url = reverse("api:submission-detail", kwargs={"pk": scored.pk})

    as_organizer = people.client("organizer").get(url).json()
    as_participant = people.client("participant").get(url).json()

    assert [result["case"] for result in as_organizer["case_results"]] == ["sub-stroke0100", "sub-stroke0101"]
    assert as_organizer["case_results"][0]["metrics"]["dice"] == pytest.approx(1.0)
    assert as_participant["case_results"] is None


def test_a_phase_of_training_cases_that_shows_per_case_scores_shows_them_to_the_team_only(
    people: People, scored: Submission
) -> None:
    phase = people.open_phase.phase
    Case.objects.filter(dataset=phase.dataset, split=Split.TRAIN).delete()
    Case.objects.filter(dataset=phase.dataset).update(split=Split.TRAIN)
    Phase.objects.filter(pk=phase.pk).update(split=Split.TRAIN)
    LeaderboardSettings.objects.update_or_create(
        phase=phase, defaults={"show_case_scores_to_participants": True}
    )
    url = reverse("api:submission-detail", kwargs={"pk": scored.pk})

    as_teammate = people.client("teammate").get(url).json()
    as_other_team = people.client("other_team").get(url)

    assert [result["case"] for result in as_teammate["case_results"]] == ["sub-stroke0100", "sub-stroke0101"]
    assert as_other_team.status_code == 404


def test_a_phase_of_hidden_test_cases_never_shows_participants_their_per_case_scores(
    people: People, scored: Submission
) -> None:
    LeaderboardSettings.objects.update_or_create(
        phase=people.open_phase.phase, defaults={"show_case_scores_to_participants": True}
    )
    url = reverse("api:submission-detail", kwargs={"pk": scored.pk})

    assert people.client("teammate").get(url).json()["case_results"] is None
    assert len(people.client("organizer").get(url).json()["case_results"]) == 2


def test_an_unknown_phase_is_a_404(people: People) -> None:
    response = people.client("participant").get(reverse("api:phase-submissions", kwargs={"slug": "nope"}))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(("person", "expected"), [("teammate", 200), ("other_team", 404), ("anonymous", 401)])
def test_a_pending_submission_is_cancelled_by_its_team_only(
    people: People, person: str, expected: int
) -> None:
    open_phase = people.open_phase
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )

    response = people.client(person).post(reverse("api:submission-cancel", kwargs={"pk": submission.pk}))

    submission.refresh_from_db()
    assert response.status_code == expected
    assert submission.status == (Status.CANCELLED if expected == 200 else Status.PENDING)


def test_a_cancelled_submission_records_the_change_and_frees_its_place_in_the_limits(people: People) -> None:
    open_phase = people.open_phase
    client = people.client("participant")
    first = client.post(_submissions_url(open_phase), {"file": open_phase.upload_good()}).json()
    client.post(_submissions_url(open_phase), {"file": open_phase.upload_good()})

    cancelled = client.post(reverse("api:submission-cancel", kwargs={"pk": first["id"]})).json()
    third = client.post(_submissions_url(open_phase), {"file": open_phase.upload_good()})

    assert cancelled["status"] == "CANCELLED"
    assert [change["to_status"] for change in cancelled["state_changes"]] == ["PENDING", "CANCELLED"]
    assert third.status_code == 201


def test_a_scored_submission_cannot_be_cancelled(people: People, scored: Submission) -> None:
    response = people.client("participant").post(reverse("api:submission-cancel", kwargs={"pk": scored.pk}))

    assert response.status_code == 400
    assert response.json()["code"] == "not_cancellable"


def test_the_team_selects_one_final_submission_per_phase(
    people: People, scored: Submission, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    open_phase = people.open_phase
    with django_capture_on_commit_callbacks(execute=True):
        second = submission_create(
            phase=open_phase.phase, user=open_phase.teammate, upload=open_phase.upload_good()
        )
    client = people.client("teammate")

    client.post(reverse("api:submission-select-final", kwargs={"pk": scored.pk}))
    chosen = client.post(reverse("api:submission-select-final", kwargs={"pk": second.pk}))

    assert chosen.status_code == 200
    assert list(Submission.objects.filter(is_final_selection=True).values_list("pk", flat=True)) == [
        second.pk
    ]


@pytest.mark.parametrize(("person", "expected"), [("organizer", 403), ("other_team", 404)])
def test_only_the_team_selects_its_final_submission(
    people: People, scored: Submission, person: str, expected: int
) -> None:
    response = people.client(person).post(reverse("api:submission-select-final", kwargs={"pk": scored.pk}))

    assert response.status_code == expected
    assert not Submission.objects.filter(is_final_selection=True).exists()


def test_a_submission_that_was_not_scored_cannot_be_final(people: People) -> None:
    open_phase = people.open_phase
    pending = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )

    response = people.client("participant").post(
        reverse("api:submission-select-final", kwargs={"pk": pending.pk})
    )

    assert response.status_code == 400
    assert response.json()["code"] == "not_succeeded"


def test_the_openapi_schema_describes_the_submission_endpoints(db: None) -> None:
    schema = Client().get(reverse("api:schema"), {"format": "json"}).json()

    assert {
        "/api/phases/{slug}/submissions/",
        "/api/submissions/{id}/",
        "/api/submissions/{id}/cancel/",
        "/api/submissions/{id}/select-final/",
    } <= set(schema["paths"])


def test_a_submission_without_a_team_shows_team_null_as_the_schema_allows(open_phase: OpenPhase) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good()
    )
    client = Client()
    client.force_login(open_phase.loner)

    shown = client.get(reverse("api:submission-detail", kwargs={"pk": submission.pk})).json()
    schema = Client().get(reverse("api:schema"), {"format": "json"}).json()

    assert shown["team"] is None
    assert schema["components"]["schemas"]["SubmissionDetail"]["properties"]["team"]["nullable"] is True
