"""A mask with another spacing or origin than its case's is scored on the case's grid, as before, and the
submission's page, e-mail and API say so: case by case to whoever may read per-case results, only how
many masks to a participant of a phase of hidden test cases."""

import html
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.leaderboards.models import LeaderboardSettings
from portal.submissions.models import CaseResult, Submission
from portal.submissions.services import submission_create
from tests.portal.submissions.conftest import People, mask_bytes, upload, zip_bytes

NOTE = (
    "The mask's spacing is 1 x 1 x 1 mm but the case's is 0.5 x 0.5 x 2 mm; it was scored on the case's grid."
)
COUNT = (
    "1 of this submission's masks had another spacing or origin than its case's image; "
    "it was scored on the case's grid."
)


def _submit_one_mask_on_another_spacing(people: People, capture: Callable[..., object]) -> Submission:
    """The participant's masks of both cases, sub-stroke0101's with 1 mm voxels; scored eagerly."""
    masks = {
        "sub-stroke0100.nii.gz": mask_bytes(),
        "sub-stroke0101.nii.gz": mask_bytes(spacing_mm=(1.0, 1.0, 1.0)),
    }
    with capture(execute=True):
        submission = submission_create(
            phase=people.open_phase.phase,
            user=people.open_phase.participant,
            upload=upload(zip_bytes(masks)),
        )
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    return submission


def _page(user: User | None, submission: Submission) -> str:
    client = Client()
    assert user is not None
    client.force_login(user)
    return html.unescape(
        client.get(reverse("submission-detail", kwargs={"pk": submission.pk})).content.decode()
    )


def _api(people: People, person: str, submission: Submission) -> dict[str, Any]:
    response = people.client(person).get(reverse("api:submission-detail", kwargs={"pk": submission.pk}))
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
def training_phase(people: People) -> Phase:
    """The phase turned into one on training cases whose per-case scores its teams may read."""
    phase = people.open_phase.phase
    Case.objects.filter(dataset=phase.dataset, split=Split.TRAIN).delete()
    Case.objects.filter(dataset=phase.dataset).update(split=Split.TRAIN)
    Phase.objects.filter(pk=phase.pk).update(split=Split.TRAIN)
    LeaderboardSettings.objects.update_or_create(
        phase=phase, defaults={"show_case_scores_to_participants": True}
    )
    phase.refresh_from_db()
    return phase


def test_a_mask_on_another_spacing_is_scored_on_the_case_grid_and_its_case_keeps_the_note(
    people: People, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    submission = _submit_one_mask_on_another_spacing(people, django_capture_on_commit_callbacks)

    results = {result.case.name: result for result in CaseResult.objects.filter(submission=submission)}

    assert results["sub-stroke0101"].notes == [NOTE]
    assert results["sub-stroke0100"].notes == []
    assert results["sub-stroke0101"].metrics["dice"] == pytest.approx(1.0)
    assert results["sub-stroke0101"].metrics["absolute_volume_difference_ml"] == pytest.approx(0.0)
    assert results["sub-stroke0101"].error == ""


def test_on_hidden_test_cases_the_participant_is_told_how_many_masks_and_the_organizer_which_case(
    people: People, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    submission = _submit_one_mask_on_another_spacing(people, django_capture_on_commit_callbacks)

    participant_page = _page(people.users["participant"], submission)
    organizer_page = _page(people.users["organizer"], submission)
    as_participant = _api(people, "teammate", submission)
    as_organizer = _api(people, "organizer", submission)

    assert COUNT in participant_page
    assert "sub-stroke0101" not in participant_page
    assert NOTE in organizer_page
    assert COUNT not in organizer_page
    [message] = mail.outbox
    assert message.to == [people.open_phase.participant.email]
    assert COUNT in message.body
    assert "sub-stroke0101" not in message.body
    assert (as_participant["case_results"], as_participant["masks_noted"]) == (None, 1)
    assert as_organizer["masks_noted"] is None
    assert [(result["case"], result["notes"]) for result in as_organizer["case_results"]] == [
        ("sub-stroke0100", []),
        ("sub-stroke0101", [NOTE]),
    ]


def test_where_the_team_reads_per_case_scores_the_page_e_mail_and_api_name_the_case_beside_its_note(
    people: People, training_phase: Phase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    submission = _submit_one_mask_on_another_spacing(people, django_capture_on_commit_callbacks)

    page = _page(people.users["teammate"], submission)
    answer = _api(people, "participant", submission)

    assert NOTE in page
    assert COUNT not in page
    [message] = mail.outbox
    assert f"sub-stroke0101: {NOTE}" in message.body
    assert "sub-stroke0100:" not in message.body
    assert answer["masks_noted"] is None
    assert [(result["case"], result["notes"]) for result in answer["case_results"]] == [
        ("sub-stroke0100", []),
        ("sub-stroke0101", [NOTE]),
    ]


def test_masks_on_the_case_grid_get_no_note_anywhere(
    people: People, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            phase=people.open_phase.phase,
            user=people.open_phase.participant,
            upload=people.open_phase.upload_good(),
        )

    assert "masks-noted" not in _page(people.users["participant"], submission)
    assert "spacing" not in mail.outbox[0].body
    assert _api(people, "participant", submission)["masks_noted"] == 0
