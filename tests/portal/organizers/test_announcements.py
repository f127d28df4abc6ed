"""Announcements: a challenge's organizer writes one on the announcements page; it is shown on the
challenge's page with its Markdown rendered safely, and with the box ticked each participant gets it by
e-mail, one message each."""

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Announcement
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, TeamMembershipFactory
from tests.portal.challenges.factories import ChallengeFactory
from tests.portal.conftest import ChallengeWithPeople

pytestmark = pytest.mark.django_db
BODY = "The **final phase** opens on Monday.\n\n<script>alert('x')</script>"


def logged_in(user: User | None) -> Client:
    assert user is not None
    client = Client()
    client.force_login(user)
    return client


def announcements_url() -> str:
    return reverse("organizer-announcements", args=["isles24"])


def test_an_announcement_is_on_the_challenge_page_and_mailed_to_each_participant(
    world: ChallengeWithPeople,
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[list[Callable[[], None]]]],
) -> None:
    member = ChallengeRoleFactory(challenge=world.challenge, user__username="member").user
    TeamMembershipFactory(team=TeamFactory(challenge=world.challenge), user=member)
    organizer = logged_in(world.people["organizer"])
    dashboard = organizer.get(reverse("organizer-dashboard", args=["isles24"])).content.decode()
    assert f'href="{announcements_url()}"' in dashboard

    with django_capture_on_commit_callbacks() as queued:
        page = organizer.post(
            announcements_url(),
            {"title": "Final phase", "body": BODY, "send_by_email": "on"},
            follow=True,
        ).content.decode()

    # The page answers before any mail goes out: a worker sends it.
    assert "&#x27;Final phase&#x27; is on the challenge&#x27;s page and is being e-mailed" in page
    assert "being e-mailed" in organizer.get(announcements_url()).content.decode()
    assert mail.outbox == []
    for send in queued:
        send()
    for send in queued:  # a second delivery of the task sends nothing more
        send()
    assert sorted(message.to[0] for message in mail.outbox) == [member.email, "participant@example.org"]
    assert all(len(message.to) == 1 for message in mail.outbox)
    assert {message.subject for message in mail.outbox} == {"ISLES 2024: Final phase"}
    assert "The **final phase** opens on Monday." in mail.outbox[0].body
    assert Announcement.objects.get().sent_by_email_at is not None
    public = Client().get(reverse("challenge-detail", args=["isles24"])).content.decode()
    start = public.index('<section id="announcements">')
    section = public[start : public.index("</section>", start)]
    assert "Final phase" in section
    assert "<strong>final phase</strong>" in section
    assert "<script>" not in public


def test_without_the_box_nothing_is_mailed(world: ChallengeWithPeople) -> None:
    organizer = logged_in(world.people["organizer"])

    page = organizer.post(announcements_url(), {"title": "Office hours", "body": "Thursdays."}, follow=True)

    assert mail.outbox == []
    assert "not e-mailed" in page.content.decode()
    assert Announcement.objects.get().sent_by_email_at is None
    participant_page = logged_in(world.people["participant"]).get(
        reverse("challenge-detail", args=["isles24"])
    )
    assert "Office hours" in participant_page.content.decode()


def test_an_announcement_without_a_body_is_refused_on_the_form(world: ChallengeWithPeople) -> None:
    page = logged_in(world.people["organizer"]).post(announcements_url(), {"title": "Empty", "body": ""})

    assert page.status_code == 200
    assert "This field is required." in page.content.decode()
    assert not Announcement.objects.exists()


def test_only_the_challenges_organizers_publish(world: ChallengeWithPeople) -> None:
    elsewhere = ChallengeRoleFactory(
        challenge=ChallengeFactory(slug="isles23"), role=ChallengeRole.Role.ORGANIZER
    ).user
    form = {"title": "Spoof", "body": "Not from the organizers.", "send_by_email": "on"}

    assert Client().post(announcements_url(), form).status_code == 302  # to the login page
    for user in (world.people["participant"], world.people["reader"], elsewhere):
        assert logged_in(user).get(announcements_url()).status_code == 403
        assert logged_in(user).post(announcements_url(), form).status_code == 403
    assert not Announcement.objects.exists()
    assert mail.outbox == []
