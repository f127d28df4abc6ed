"""A challenge's data card: the facts read from its cases (modalities with their grids and spacings, cases
per split), and the data-use terms each participant accepts, per version, with the time and their consent
to reruns of their team's algorithm on validation data."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Split
from portal.datasets.models import DataCard, DataTermsAcceptance
from portal.datasets.selectors import data_card_get, data_terms_accepted
from portal.datasets.services import data_terms_accept
from portal.errors import PortalError
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory


@pytest.fixture
def dataset(db: None) -> object:
    dataset = DatasetFactory()
    for split, shape in ((Split.TRAIN, [6, 5, 4]), (Split.TRAIN, [7, 5, 4]), (Split.TEST, [6, 5, 4])):
        case = CaseFactory(dataset=dataset, split=split)
        ImageFactory(case=case, shape=shape, spacing_mm=[0.5, 0.5, 2.0 if split == Split.TRAIN else 1.5])
    ImageFactory(case=dataset.cases.first(), interface="tmax-parameter-map")
    return dataset


def test_the_card_reads_the_modalities_and_cases_per_split_from_the_imported_cases(dataset: object) -> None:
    view = data_card_get(challenge=dataset.challenge)

    assert view.card is None  # the organizers wrote nothing yet
    assert view.cases_by_split == {Split.TEST: 1, Split.TRAIN: 2}
    ncct, tmax = view.modalities
    assert (ncct.interface, ncct.cases, ncct.shapes) == ("non-contrast-ct", 3, ((6, 5, 4), (7, 5, 4)))
    assert (ncct.spacing_min, ncct.spacing_max) == ((0.5, 0.5, 1.5), (0.5, 0.5, 2.0))
    assert (tmax.interface, tmax.cases) == ("tmax-parameter-map", 1)


def test_a_participant_accepts_each_version_of_the_terms_once_with_its_time_and_consent(
    dataset: object,
) -> None:
    challenge = dataset.challenge
    participant = ChallengeRoleFactory(challenge=challenge).user
    card = DataCard.objects.create(
        challenge=challenge, licence="CC BY-NC 4.0", terms="Use for research only."
    )

    before = data_terms_accepted(user=participant, challenge=challenge)
    first = data_terms_accept(user=participant, challenge=challenge, consents_to_reruns=True)
    again = data_terms_accept(user=participant, challenge=challenge, consents_to_reruns=False)
    accepted = data_terms_accepted(user=participant, challenge=challenge)
    card.terms_version = 2
    card.save()

    assert (before, accepted) == (False, True)
    assert (again.pk, again.consents_to_reruns) == (first.pk, True)  # the first acceptance stands
    assert first.accepted_at is not None
    assert not data_terms_accepted(user=participant, challenge=challenge)  # new terms: accept again
    assert (
        data_terms_accept(user=participant, challenge=challenge, consents_to_reruns=False).terms_version == 2
    )
    assert DataTermsAcceptance.objects.filter(user=participant).count() == 2


def test_terms_are_accepted_only_by_participants_and_only_once_written(dataset: object) -> None:
    challenge = dataset.challenge
    participant = ChallengeRoleFactory(challenge=challenge).user
    outsider = UserFactory()
    organizer = ChallengeRoleFactory(challenge=challenge, role=ChallengeRole.Role.ORGANIZER).user

    with pytest.raises(PortalError, match="written no data-use terms") as no_terms:
        data_terms_accept(user=participant, challenge=challenge, consents_to_reruns=True)
    DataCard.objects.create(challenge=challenge, licence="CC0", terms="Anything.")
    with pytest.raises(PortalError, match="Join the challenge") as not_participant:
        data_terms_accept(user=outsider, challenge=challenge, consents_to_reruns=True)

    assert (no_terms.value.code, not_participant.value.code) == ("no_terms", "not_participant")
    assert data_terms_accepted(user=organizer, challenge=challenge)  # the terms are the organizers' own
    assert not data_terms_accepted(user=outsider, challenge=challenge)


def _participant_with_a_training_image(dataset: object) -> tuple[object, object]:
    participant = ChallengeRoleFactory(challenge=dataset.challenge).user
    image = dataset.cases.filter(split=Split.TRAIN).first().images.first()
    return participant, image


def test_a_participant_downloads_only_after_accepting_the_terms_which_the_refusal_points_to(
    dataset: object,
) -> None:
    challenge = dataset.challenge
    DataCard.objects.create(challenge=challenge, licence="CC BY-NC 4.0", terms="For research only.")
    participant, image = _participant_with_a_training_image(dataset)
    client = Client()
    client.force_login(participant)
    api = APIClient()
    api.force_authenticate(participant)

    page_refused = client.get(f"/datasets/images/{image.pk}/download/")
    api_refused = api.get(f"/api/challenges/{challenge.slug}/archive/?split=train")
    card_before = api.get(f"/api/challenges/{challenge.slug}/data-card/").json()
    accepted = client.post(f"/datasets/{challenge.slug}/card/", {"consents": "on"})
    page_after = client.get(f"/datasets/images/{image.pk}/download/")
    api_after = api.get(f"/api/challenges/{challenge.slug}/files/?split=train")

    assert page_refused.status_code == 403
    assert f"/datasets/{challenge.slug}/card/" in page_refused.content.decode()
    assert api_refused.status_code == 403
    assert api_refused.json()["code"] == "terms_not_accepted"
    assert card_before["terms_accepted"] is False
    assert accepted.status_code == 302
    assert DataTermsAcceptance.objects.get(user=participant).consents_to_reruns is True
    assert page_after.status_code == 200
    assert api_after.status_code == 200


def test_the_apis_refusal_gives_the_data_cards_full_address_and_the_page_its_path(dataset: object) -> None:
    challenge = dataset.challenge
    DataCard.objects.create(challenge=challenge, licence="CC BY-NC 4.0", terms="For research only.")
    participant, image = _participant_with_a_training_image(dataset)
    client = Client()
    client.force_login(participant)
    api = APIClient()
    api.force_authenticate(participant)
    sentence = f"Accept the data-use terms of {challenge.title} before you download its data: "

    page = client.get(f"/datasets/images/{image.pk}/download/").content.decode()
    file = api.get(f"/api/images/{image.pk}/file/").json()
    listing = api.get(f"/api/challenges/{challenge.slug}/files/?split=train").json()

    assert f"{sentence}/datasets/{challenge.slug}/card/" in page
    assert (
        file
        == listing
        == {
            "code": "terms_not_accepted",
            "detail": f"{sentence}http://testserver/datasets/{challenge.slug}/card/",
        }
    )


def test_the_data_card_page_and_api_show_the_terms_and_what_the_data_holds(dataset: object) -> None:
    challenge = dataset.challenge
    DataCard.objects.create(
        challenge=challenge,
        licence="CC BY-NC 4.0",
        citation="Hernandez Petzsche et al. (2022)",
        terms="Cite us.",
    )
    participant, _ = _participant_with_a_training_image(dataset)
    api = APIClient()
    api.force_authenticate(participant)

    page = Client().get(f"/datasets/{challenge.slug}/card/").content.decode()
    accepted = api.post(
        f"/api/challenges/{challenge.slug}/data-card/accept/", {"consents_to_reruns": False}, format="json"
    )
    card = api.get(f"/api/challenges/{challenge.slug}/data-card/").json()

    assert "CC BY-NC 4.0" in page
    assert "non-contrast-ct" in page
    assert "Log in" in page  # an anonymous visitor reads the card and is asked to log in to accept
    assert accepted.status_code == 200
    assert accepted.json()["consents_to_reruns"] is False
    assert card["terms_accepted"] is True
    assert card["cases_by_split"] == {"TEST": 1, "TRAIN": 2}
    assert [modality["interface"] for modality in card["modalities"]] == [
        "non-contrast-ct",
        "tmax-parameter-map",
    ]
