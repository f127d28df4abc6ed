"""The submission pages: upload form, the team's list, one submission, cancel and final choice."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, User
from portal.submissions.models import Submission
from portal.submissions.services import submission_create
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, TeamMembershipFactory
from tests.portal.submissions.conftest import OpenPhase, mask_bytes, upload, zip_bytes

Status = Submission.Status


@pytest.fixture
def users(open_phase: OpenPhase) -> dict[str, User | None]:
    challenge = open_phase.phase.challenge
    other = ChallengeRoleFactory(challenge=challenge, user__username="other_team").user
    TeamMembershipFactory(team=TeamFactory(challenge=challenge, name="Core"), user=other)
    people: dict[str, User | None] = {
        "anonymous": None,
        "participant": open_phase.participant,
        "teammate": open_phase.teammate,
        "other_team": other,
    }
    for role in (ChallengeRole.Role.ORGANIZER, ChallengeRole.Role.READER):
        people[role.value.lower()] = ChallengeRoleFactory(
            challenge=challenge, role=role, user__username=role.value.lower()
        ).user
    return people


def _client(users: dict[str, User | None], person: str) -> Client:
    client = Client()
    user = users[person]
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def scored(open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]) -> Submission:
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
        )
    submission.refresh_from_db()
    return submission


def test_a_participant_submits_through_the_form_and_sees_the_scores_in_the_list(
    open_phase: OpenPhase,
    users: dict[str, User | None],
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    client = _client(users, "participant")
    url = reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug})

    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(url, {"file": open_phase.upload_good()}, follow=True)
    page = client.get(url).content.decode()

    submission = Submission.objects.get()
    assert "was received; it is checked now" in posted.content.decode()
    assert "My team's submissions" in page
    assert "Succeeded" in page
    assert "dice 1.000" in page
    assert reverse("submission-detail", kwargs={"pk": submission.pk}) in page


def test_a_refused_upload_shows_the_sentence_on_the_form(
    open_phase: OpenPhase, users: dict[str, User | None]
) -> None:
    open_phase.phase.total_submission_limit = 0
    open_phase.phase.save()

    response = _client(users, "participant").post(
        reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug}),
        {"file": open_phase.upload_good()},
    )

    assert response.status_code == 200
    assert "Your team has used all 0 submissions of this phase." in response.content.decode()
    assert not Submission.objects.exists()


def test_a_failed_submission_lists_its_problems_in_plain_words(
    open_phase: OpenPhase,
    users: dict[str, User | None],
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    archive = zip_bytes({"sub-stroke0100.nii.gz": mask_bytes(shape=(3, 3, 3))})
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            phase=open_phase.phase, user=open_phase.participant, upload=upload(archive)
        )
    submission.refresh_from_db()

    page = _client(users, "teammate").get(reverse("submission-detail", kwargs={"pk": submission.pk}))

    text = page.content.decode()
    assert f"Submission {submission.pk}: Failed" in text
    assert submission.error.replace("'", "&#x27;") in text
    for problem in submission.problems:
        assert problem.replace("'", "&#x27;") in text


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("anonymous", 302),
        ("participant", 200),
        ("teammate", 200),
        ("other_team", 404),
        ("organizer", 200),
        ("reader", 404),
    ],
)
def test_a_submission_page_is_for_its_team_and_the_organizers(
    users: dict[str, User | None], scored: Submission, person: str, expected: int
) -> None:
    response = _client(users, person).get(reverse("submission-detail", kwargs={"pk": scored.pk}))

    assert response.status_code == expected


@pytest.mark.parametrize(
    ("person", "sees_it"),
    [("participant", True), ("other_team", False), ("organizer", True), ("reader", False)],
)
def test_the_phase_page_lists_only_the_submissions_the_person_may_see(
    open_phase: OpenPhase, users: dict[str, User | None], scored: Submission, person: str, sees_it: bool
) -> None:
    response = _client(users, person).get(
        reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug})
    )

    assert response.status_code == 200
    assert (reverse("submission-detail", kwargs={"pk": scored.pk}) in response.content.decode()) is sees_it


def test_the_phase_page_asks_an_anonymous_visitor_to_log_in(open_phase: OpenPhase) -> None:
    response = Client().get(reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug}))

    assert response.status_code == 302
    assert response["location"].startswith(reverse("account_login"))


@pytest.mark.parametrize(("person", "shown"), [("organizer", True), ("participant", False)])
def test_per_case_scores_of_a_hidden_test_phase_show_to_organizers_only(
    users: dict[str, User | None], scored: Submission, person: str, shown: bool
) -> None:
    text = _client(users, person).get(reverse("submission-detail", kwargs={"pk": scored.pk})).content.decode()

    assert ("sub-stroke0101" in text) is shown
    assert ("shown to its organizers only" in text) is not shown


def test_the_cancel_button_cancels_a_pending_submission(
    open_phase: OpenPhase, users: dict[str, User | None]
) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    client = _client(users, "teammate")
    assert (
        ">Cancel</button>"
        in client.get(reverse("submission-detail", kwargs={"pk": submission.pk})).content.decode()
    )

    page = client.post(
        reverse("submission-cancel", kwargs={"pk": submission.pk}), follow=True
    ).content.decode()

    submission.refresh_from_db()
    assert submission.status == Status.CANCELLED
    assert "was cancelled; it does not count" in page
    assert ">Cancel</button>" not in page


def test_another_team_cannot_cancel_a_submission(
    open_phase: OpenPhase, users: dict[str, User | None]
) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )

    response = _client(users, "other_team").post(reverse("submission-cancel", kwargs={"pk": submission.pk}))

    submission.refresh_from_db()
    assert response.status_code == 404
    assert submission.status == Status.PENDING


def test_select_as_final_marks_the_submission_final(
    users: dict[str, User | None], scored: Submission
) -> None:
    client = _client(users, "teammate")

    page = client.post(
        reverse("submission-select-final", kwargs={"pk": scored.pk}), follow=True
    ).content.decode()

    scored.refresh_from_db()
    assert scored.is_final_selection
    assert "is now your final submission" in page
    assert ">Select as final</button>" not in page


def test_the_challenge_page_links_each_phase_to_its_submissions(
    open_phase: OpenPhase, users: dict[str, User | None]
) -> None:
    page = _client(users, "participant").get(
        reverse("challenge-detail", kwargs={"slug": open_phase.phase.challenge.slug})
    )

    assert reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug}) in page.content.decode()


def test_the_phase_page_takes_a_fixed_number_of_queries(
    open_phase: OpenPhase,
    users: dict[str, User | None],
    scored: Submission,
    django_assert_num_queries: Callable[..., object],
) -> None:
    client = _client(users, "organizer")
    url = reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug})
    client.get(url)
    other = submission_create(phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good())

    with django_assert_num_queries(8):  # the list, and one count per state for its filter
        page = client.get(url).content.decode()

    for submission in (scored, other):
        assert reverse("submission-detail", kwargs={"pk": submission.pk}) in page


def test_an_organizer_filters_the_phase_submissions_by_state(
    open_phase: OpenPhase, users: dict[str, User | None], scored: Submission
) -> None:
    loner, phase = open_phase.loner, open_phase.phase
    pending = submission_create(phase=phase, user=loner, upload=open_phase.upload_good())
    failed = submission_create(phase=phase, user=loner, upload=open_phase.upload_good())
    Submission.objects.filter(pk=failed.pk).update(status=Submission.Status.FAILED, error="Broken.")
    client = _client(users, "organizer")
    url = reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug})

    def listed(query: str) -> tuple[set[int], str]:
        page = client.get(f"{url}{query}").content.decode()
        table = page[page.index('<table id="submissions">') : page.index("</table>")]
        shown = {pk for pk in (scored.pk, pending.pk, failed.pk) if f">{pk}</a>" in table}
        start = page.index('<p id="state-filters">')
        return shown, page[start : page.index("</p>", start)]

    everything, filters = listed("")
    in_progress, _ = listed("?state=in-progress")
    only_failed, _ = listed("?state=failed")
    unknown, _ = listed("?state=lost")

    assert everything == unknown == {scored.pk, pending.pk, failed.pk}
    assert in_progress == {pending.pk}
    assert only_failed == {failed.pk}
    assert "<strong>All (3)</strong>" in filters
    assert '<a href="?state=in-progress">In progress (1)</a>' in filters
    assert '<a href="?state=failed">Failed (1)</a>' in filters
    assert "Cancelled" not in filters  # a state no submission is in is not offered
