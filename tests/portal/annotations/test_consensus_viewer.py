"""Before promoting a campaign's consensus, its organizer opens each case's STAPLE consensus in the viewer
over the images the campaign shows; nobody else reaches it, and a case without a consensus has no page."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User
from portal.annotations import services
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign
from tests.portal.annotations.campaign_world import CampaignWorld, empty_mask, volume_bytes


@pytest.fixture
def campaign(world: CampaignWorld, django_capture_on_commit_callbacks: Callable) -> AnnotationCampaign:
    with django_capture_on_commit_callbacks(execute=True):
        return services.annotation_campaign_create(
            created_by=world.people["organizer"],
            challenge=world.phase.challenge,
            dataset=world.phase.dataset,
            title="Correct the threshold",
            cases=world.cases[:1],
            images=["preprocessed-tmax-map", "non-contrast-ct"],
            starting_mask=AnnotationCampaign.StartingMask.PRE_ANNOTATION,
            annotators=[world.people["reader"], world.people["second_reader"]],
        )


def client_of(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def finish_both(world: CampaignWorld, campaign: AnnotationCampaign) -> None:
    mask = empty_mask()
    mask[1, 1:3, 1:3] = 1
    for username in ("reader", "second_reader"):
        assignment = AnnotationAssignment.objects.get(
            campaign_case__campaign=campaign, annotator__username=username
        )
        user = world.people[username]
        services.mask_revision_save(assignment_id=assignment.pk, user=user, content=volume_bytes(mask))
        services.annotation_assignment_done(assignment_id=assignment.pk, user=user)


def test_the_organizer_opens_a_cases_consensus_in_the_viewer_before_promoting_it(
    world: CampaignWorld, campaign: AnnotationCampaign, django_capture_on_commit_callbacks: Callable
) -> None:
    case = world.cases[0]
    viewer_url = reverse("annotation-consensus-viewer", args=[campaign.pk, case.pk])
    organizer = client_of(world.people["organizer"])
    before = organizer.get(reverse("annotation-campaign-detail", args=[campaign.pk])).content.decode()
    assert viewer_url not in before
    assert organizer.get(viewer_url).status_code == 404  # no consensus yet

    with django_capture_on_commit_callbacks(execute=True):
        finish_both(world, campaign)
    page = organizer.get(reverse("annotation-campaign-detail", args=[campaign.pk])).content.decode()
    assert f'href="{viewer_url}"' in page

    viewer = organizer.get(viewer_url)
    assert viewer.status_code == 200
    data = viewer.context["viewer_data"]
    assert [image["name"] for image in data["images"]] == [
        "preprocessed-tmax-map.nii.gz",
        "non-contrast-ct.nii.gz",
    ]
    assert data["overlay"]["label"] == "STAPLE consensus (not promoted)"
    volume = organizer.get(data["overlay"]["url"])
    assert volume.status_code == 200
    stored = campaign.campaign_cases.get().consensus_mask
    with stored.open("rb") as handle:
        assert b"".join(volume.streaming_content) == handle.read()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["reader", "participant", "outsider"])
def test_nobody_but_an_organizer_reaches_the_consensus(
    world: CampaignWorld,
    campaign: AnnotationCampaign,
    django_capture_on_commit_callbacks: Callable,
    name: str,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        finish_both(world, campaign)
    client = client_of(world.people[name])
    case = world.cases[0]

    for route in ("annotation-consensus-viewer", "annotation-consensus-volume"):
        assert client.get(reverse(route, args=[campaign.pk, case.pk])).status_code == 404
