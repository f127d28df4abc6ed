"""Participant approval: where a challenge's organizers approve participants, joining asks them; the person
reads that the request waits, and neither downloads nor submits until an organizer approves it on the
participants page. A rejection's reason is e-mailed and shown; without approval, joining works as before."""

import io
import zipfile

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, Invitation, ParticipationRequest, User
from portal.accounts.selectors import user_roles
from portal.accounts.services import challenge_join, invitation_accept
from portal.errors import PortalError
from portal.submissions.models import Submission
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory
from tests.portal.conftest import ChallengeWithPeople

pytestmark = pytest.mark.django_db
WAITING = "Your request to take part is waiting for the organizers&#x27; approval."


@pytest.fixture
def approving(world: ChallengeWithPeople) -> ChallengeWithPeople:
    world.challenge.participant_approval = True
    world.challenge.save(update_fields=["participant_approval"])
    return world


def logged_in(user: User | None) -> Client:
    assert user is not None
    client = Client()
    client.force_login(user)
    return client


def ask(user: User) -> tuple[Client, str]:
    """The person presses the challenge page's button; the page they land on."""
    client = logged_in(user)
    page = client.get(reverse("challenge-detail", args=["isles24"])).content.decode()
    assert "Ask to take part" in page
    landed = client.post(reverse("challenge-join", args=["isles24"]), follow=True)
    return client, landed.content.decode()


def decide(world: ChallengeWithPeople, applicant: User, decision: str, reason: str) -> str:
    organizer = logged_in(world.people["organizer"])
    page = organizer.get(reverse("organizer-participants", args=["isles24"])).content.decode()
    requests = page[page.index('id="participation-requests"') : page.index('<table id="participants">')]
    assert applicant.username in requests
    request = ParticipationRequest.objects.get(user=applicant)
    url = reverse("organizer-participation-request-decide", args=["isles24", request.pk])
    assert f'action="{url}"' in requests
    response = organizer.post(url, {"decision": decision, "reason": reason}, follow=True)
    return response.content.decode()


def predictions_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sub-stroke0100.nii.gz", b"not a mask")
    return buffer.getvalue()


def test_an_approved_request_makes_a_participant_who_downloads_and_submits(
    approving: ChallengeWithPeople,
) -> None:
    phase = approving.release_test_images()
    applicant = UserFactory(username="applicant")
    client, page = ask(applicant)

    assert WAITING in page
    assert "Ask to take part" not in page
    assert user_roles(user=applicant, challenge=approving.challenge) == frozenset()
    assert client.get(reverse("image-download", args=[approving.train_image.pk])).status_code == 404
    submissions_url = reverse("phase-submissions", args=[phase.slug])
    assert 'name="file"' not in client.get(submissions_url).content.decode()  # no upload form
    upload = io.BytesIO(predictions_zip())
    upload.name = "predictions.zip"
    client.post(submissions_url, {"file": upload})
    assert not Submission.objects.exists()

    decided = decide(approving, applicant, "approve", "Welcome aboard.")

    assert "applicant now takes part in ISLES 2024." in decided
    assert user_roles(user=applicant, challenge=approving.challenge) == {ChallengeRole.Role.PARTICIPANT}
    (message,) = mail.outbox
    assert message.to == [applicant.email]
    assert "approved" in message.subject
    assert "Welcome aboard." in message.body
    page = client.get(reverse("challenge-detail", args=["isles24"])).content.decode()
    assert WAITING not in page
    assert "Participant" in page
    assert client.get(reverse("image-download", args=[approving.train_image.pk])).status_code == 200
    assert 'name="file"' in client.get(submissions_url).content.decode()
    assert "applicant" in decided[decided.index('<table id="participants">') :]


def test_a_rejected_request_tells_its_reason_and_cannot_be_repeated(approving: ChallengeWithPeople) -> None:
    applicant = UserFactory(username="applicant")
    client, _ = ask(applicant)

    decided = decide(approving, applicant, "reject", "Give your institution's address.")

    assert "You declined applicant&#x27;s request" in decided
    (message,) = mail.outbox
    assert "declined" in message.subject
    assert "Give your institution's address." in message.body
    declined = "The organizers declined your request to take part: Give your institution&#x27;s address."
    assert declined in client.get(reverse("challenge-detail", args=["isles24"])).content.decode()
    again = client.post(reverse("challenge-join", args=["isles24"]), follow=True).content.decode()
    assert declined in again
    assert user_roles(user=applicant, challenge=approving.challenge) == frozenset()
    # Rejecting it again is refused with a sentence.
    request = ParticipationRequest.objects.get(user=applicant)
    url = reverse("organizer-participation-request-decide", args=["isles24", request.pk])
    page = logged_in(approving.people["organizer"]).post(url, {"decision": "reject"}, follow=True)
    assert "applicant&#x27;s request was rejected already." in page.content.decode()
    assert user_roles(user=applicant, challenge=approving.challenge) == frozenset()
    assert len(mail.outbox) == 1


def test_a_rejected_request_can_be_approved_after_all_but_not_twice(approving: ChallengeWithPeople) -> None:
    applicant = UserFactory(username="applicant")
    client, _ = ask(applicant)
    decide(approving, applicant, "reject", "Give your institution's address.")
    assert "Approve after all" in decide(approving, applicant, "reject", "")  # refused, still offered

    approved = decide(approving, applicant, "approve", "Thank you, address received.")

    assert "applicant now takes part in ISLES 2024." in approved
    assert user_roles(user=applicant, challenge=approving.challenge) == {ChallengeRole.Role.PARTICIPANT}
    assert "approved" in mail.outbox[-1].subject
    assert "Thank you, address received." in mail.outbox[-1].body
    assert "declined" not in client.get(reverse("challenge-detail", args=["isles24"])).content.decode()
    request = ParticipationRequest.objects.get(user=applicant)
    url = reverse("organizer-participation-request-decide", args=["isles24", request.pk])
    page = logged_in(approving.people["organizer"]).post(url, {"decision": "approve"}, follow=True)
    assert "applicant&#x27;s request was approved already." in page.content.decode()
    assert len(mail.outbox) == 2


def test_without_approval_joining_makes_a_participant_at_once(world: ChallengeWithPeople) -> None:
    outsider = world.people["outsider"]
    assert outsider is not None
    client = logged_in(outsider)

    page = client.post(reverse("challenge-join", args=["isles24"]), follow=True).content.decode()

    assert "You take part in ISLES 2024." in page
    assert user_roles(user=outsider, challenge=world.challenge) == {ChallengeRole.Role.PARTICIPANT}
    assert not ParticipationRequest.objects.exists()


def test_the_api_answers_202_with_the_sentence_while_the_request_waits(
    approving: ChallengeWithPeople,
) -> None:
    client = logged_in(UserFactory(username="applicant"))

    response = client.post(reverse("api:challenge-join", args=["isles24"]))

    assert response.status_code == 202
    assert response.json() == {"detail": "Your request to take part is waiting for the organizers' approval."}


def test_one_person_one_side_holds_for_requests(approving: ChallengeWithPeople) -> None:
    for person in ("organizer", "reader"):
        user = approving.people[person]
        assert user is not None
        with pytest.raises(ValidationError, match="cannot take part"):
            challenge_join(challenge=approving.challenge, user=user)
    assert not ParticipationRequest.objects.exists()


def test_a_team_invitation_is_not_a_way_around_approval(approving: ChallengeWithPeople) -> None:
    captain = approving.people["participant"]
    assert captain is not None
    team = TeamFactory(challenge=approving.challenge, name="Stroke Lab")
    invitation = Invitation.objects.create(team=team, invited_by=captain)
    newcomer = UserFactory(username="newcomer")

    with pytest.raises(PortalError, match="ask to take part on its page"):
        invitation_accept(token=invitation.token, user=newcomer)

    assert user_roles(user=newcomer, challenge=approving.challenge) == frozenset()
    assert not team.memberships.exists()


def test_only_the_challenges_organizers_decide(approving: ChallengeWithPeople) -> None:
    applicant = UserFactory(username="applicant")
    ask(applicant)
    url = reverse(
        "organizer-participation-request-decide",
        args=["isles24", ParticipationRequest.objects.get(user=applicant).pk],
    )
    elsewhere = ChallengeRoleFactory(
        challenge=ChallengeFactory(slug="isles23"), role=ChallengeRole.Role.ORGANIZER
    ).user

    assert Client().post(url, {"decision": "approve"}).status_code == 302  # to the login page
    for user in (approving.people["participant"], approving.people["reader"], elsewhere):
        assert logged_in(user).post(url, {"decision": "approve"}).status_code == 403
    assert ParticipationRequest.objects.get(user=applicant).status == ParticipationRequest.Status.PENDING
    assert mail.outbox == []
