"""Creating and editing a challenge from its organizer pages, as an organizer does it in a browser: the
real forms, submitted with the test client, and what the organizer then sees."""

import datetime
import io

import PIL.Image
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import user_is_organizer
from portal.challenges.models import Challenge
from portal.datasets.models import DataCard
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.conftest import ChallengeWithPeople

pytestmark = pytest.mark.django_db


def png(width: int = 40, height: int = 20) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile("logo.png", buffer.getvalue(), content_type="image/png")


def creator() -> User:
    user = UserFactory(username="creator")
    user.user_permissions.add(Permission.objects.get(codename="add_challenge"))
    return user


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "title": "ISLES 2026",
        "slug": "isles-2026",
        "summary": "Segment the final infarct.",
        "description": "## Task\n\nSegment **every** lesion.",
        "rules": "1. One team per person.",
        "time_zone": "Europe/Berlin",
        "starts_at": "2026-03-01T09:00",
        "ends_at": "2026-09-30T18:00",
        "visibility": "invite-only",
        "participant_approval": "on",
        "licence": "CC BY-NC 4.0",
        "citation": "Hernandez Petzsche et al., 2022.",
        "terms": "Use the data for research only.",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def test_a_user_the_site_admin_allowed_creates_a_challenge_and_becomes_its_organizer() -> None:
    user = creator()
    client = client_of(user)

    assert "Create a challenge" in client.get(reverse("challenge-list")).content.decode()
    response = client.post(reverse("organizer-challenge-create"), form(logo=png()), follow=True)

    challenge = Challenge.objects.get(slug="isles-2026")
    assert response.redirect_chain[-1][0] == reverse("organizer-dashboard", args=["isles-2026"])
    page = response.content.decode()
    assert "ISLES 2026 is created, and you are its organizer." in page
    assert "Invite-only" in page
    assert "participants need approval" in page
    assert user_is_organizer(user=user, challenge=challenge)
    # Typed as Berlin wall-clock times (CET in March, CEST in September), stored as UTC.
    assert challenge.starts_at == datetime.datetime(2026, 3, 1, 8, 0, tzinfo=datetime.UTC)
    assert challenge.ends_at == datetime.datetime(2026, 9, 30, 16, 0, tzinfo=datetime.UTC)
    assert not challenge.is_public
    assert challenge.participant_approval
    card = DataCard.objects.get(challenge=challenge)
    assert (card.licence, card.terms, card.terms_version) == (
        "CC BY-NC 4.0",
        "Use the data for research only.",
        1,
    )

    shown = client.get(reverse("challenge-detail", args=["isles-2026"])).content.decode()
    assert challenge.logo.url in shown
    assert "From 2026-03-01 09:00 until 2026-09-30 18:00 (Europe/Berlin)" in shown
    assert "<h2>Task</h2>" in shown
    assert "<strong>every</strong>" in shown
    assert "<li>One team per person.</li>" in shown
    assert 'id="organize-link"' in shown


def test_creating_a_challenge_needs_the_site_admins_permission(world: ChallengeWithPeople) -> None:
    organizer = world.people["organizer"]
    assert organizer is not None
    client = client_of(organizer)

    assert "Create a challenge" not in client.get(reverse("challenge-list")).content.decode()
    assert client.get(reverse("organizer-challenge-create")).status_code == 403
    assert client.post(reverse("organizer-challenge-create"), form()).status_code == 403
    assert not Challenge.objects.filter(slug="isles-2026").exists()


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"title": " "}, "This field is required."),
        ({"slug": "ISLES 2026"}, "cannot be the challenge&#x27;s address: use lowercase letters and digits"),
        ({"slug": "isles24"}, "Another challenge already has the address isles24: choose another."),
        (
            {"ends_at": "2026-02-01T09:00"},
            "The challenge ends (2026-02-01 08:00 UTC) before it starts (2026-03-01 08:00 UTC)",
        ),
        (
            {"starts_at": "2026-03-29T02:30"},
            "2026-03-29 02:30 does not exist in Europe/Berlin: the clocks skip that hour. Pick another time.",
        ),
        ({"time_zone": "Mars/Olympus"}, "Mars/Olympus is not a time zone name: write one like Europe/Berlin"),
        (
            {"logo": SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", content_type="image/png")},
            "The logo is not an image the portal can read: upload a PNG, JPEG or WebP file.",
        ),
        ({"licence": ""}, "Name the data&#x27;s licence (e.g. CC BY-NC 4.0)"),
        ({"terms": ""}, "Write the data-use terms participants accept before their first download."),
    ],
)
def test_each_refused_field_is_named_with_a_sentence_and_nothing_is_saved(
    world: ChallengeWithPeople, changes: dict[str, object], sentence: str
) -> None:
    client = client_of(creator())

    response = client.post(reverse("organizer-challenge-create"), form(**changes))

    assert response.status_code == 200
    assert sentence in response.content.decode()
    assert not Challenge.objects.filter(title="ISLES 2026").exists()
    assert not ChallengeRole.objects.filter(user__username="creator").exists()


def test_a_logo_too_large_is_refused_with_its_size(world: ChallengeWithPeople) -> None:
    client = client_of(creator())
    large = SimpleUploadedFile("logo.png", b"\x89PNG" + b"0" * 1_200_000, content_type="image/png")

    page = client.post(reverse("organizer-challenge-create"), form(logo=large)).content.decode()

    assert "The logo is 1.2 MB; upload one of at most 1 MB." in page


def test_the_organizer_edits_the_challenge_and_its_terms_and_moves_it_to_a_new_address(
    world: ChallengeWithPeople,
) -> None:
    organizer = world.people["organizer"]
    assert organizer is not None
    client = client_of(organizer)
    DataCard.objects.create(challenge=world.challenge, licence="CC BY 4.0", terms="Old terms.")
    edit = reverse("organizer-challenge-edit", args=["isles24"])

    shown = client.get(edit).content.decode()
    assert 'value="ISLES 2024"' in shown
    assert "Old terms." in shown
    response = client.post(
        edit,
        form(title="ISLES 2024 (extended)", slug="isles-2024", terms="New terms.", participant_approval=None),
        follow=True,
    )

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("organizer-dashboard", args=["isles-2024"])
    assert "ISLES 2024 (extended) is saved." in page
    assert "The data-use terms changed (now version 2): every participant accepts them again" in page
    world.challenge.refresh_from_db()
    assert (world.challenge.slug, world.challenge.participant_approval) == ("isles-2024", False)
    assert client.get(reverse("challenge-detail", args=["isles24"])).status_code == 404


def test_the_logo_is_replaced_and_removed(world: ChallengeWithPeople) -> None:
    organizer = world.people["organizer"]
    assert organizer is not None
    client = client_of(organizer)
    edit = reverse("organizer-challenge-edit", args=["isles24"])

    client.post(edit, form(slug="isles24", logo=png()))
    world.challenge.refresh_from_db()
    assert world.challenge.logo.name.startswith("challenges/logos/")
    with world.challenge.logo.open() as logo, PIL.Image.open(logo) as image:
        assert image.size == (40, 20)

    client.post(edit, form(slug="isles24", logo_clear="on"))
    world.challenge.refresh_from_db()
    assert not world.challenge.logo


@pytest.mark.parametrize("page", ["organizer-dashboard", "organizer-challenge-edit", "organizer-people"])
def test_an_organizer_of_another_challenge_is_refused_every_organizer_page(
    world: ChallengeWithPeople, page: str
) -> None:
    other = ChallengeRoleFactory(role=ChallengeRole.Role.ORGANIZER, user__username="elsewhere").user
    client = client_of(other)

    assert client.get(reverse(page, args=["isles24"])).status_code == 403
    assert client.post(reverse(page, args=["isles24"]), form(slug="isles24")).status_code in (403, 405)
    world.challenge.refresh_from_db()
    assert world.challenge.title == "ISLES 2024"
