"""Who may do what with an annotation campaign over HTTP: the assignment API (read, save a revision, mark
done), the permission-checked files, and the organizer's pages (progress, promotion, the phase's version).
An annotator reaches only their own assignments, an organizer every one of the challenge's; anyone else
gets a 404, so nobody learns that an assignment exists."""

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User
from portal.annotations import services
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign, MaskRevision
from portal.challenges.models import Phase
from portal.datasets.models import GroundTruthVersion
from tests.portal.annotations.campaign_world import (
    CampaignWorld,
    empty_mask,
    volume_bytes,
)

OCTET = "application/octet-stream"


@pytest.fixture
def campaign(world: CampaignWorld, django_capture_on_commit_callbacks: Callable) -> AnnotationCampaign:
    """A pre-annotated campaign of the first case for the reader and the second reader."""
    with django_capture_on_commit_callbacks(execute=True):
        made = services.annotation_campaign_create(
            created_by=world.people["organizer"],
            challenge=world.phase.challenge,
            dataset=world.phase.dataset,
            title="Correct the threshold",
            cases=world.cases[:1],
            images=["non-contrast-ct", "preprocessed-tmax-map"],
            starting_mask=AnnotationCampaign.StartingMask.PRE_ANNOTATION,
            annotators=[world.people["reader"], world.people["second_reader"]],
        )
    return made


@pytest.fixture
def assignment(campaign: AnnotationCampaign) -> AnnotationAssignment:
    """The reader's assignment."""
    return AnnotationAssignment.objects.get(campaign_case__campaign=campaign, annotator__username="reader")


def client_of(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def mask_bytes() -> bytes:
    mask = empty_mask()
    mask[1, 1:3, 1:3] = 1
    return volume_bytes(mask)


def people(world: CampaignWorld, name: str) -> User | None:
    return None if name == "anonymous" else world.people[name]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("reader", 200), ("organizer", 200), ("second_reader", 404), ("outsider", 404), ("anonymous", 401)],
)
def test_reading_an_assignment(
    world: CampaignWorld, assignment: AnnotationAssignment, name: str, expected: int
) -> None:
    response = client_of(people(world, name)).get(
        reverse("api:annotation-assignment", kwargs={"pk": assignment.pk})
    )

    assert response.status_code == expected
    if expected == 200:
        data = response.json()
        assert data["case"] == "sub-stroke0001"
        assert data["is_annotator"] is (name == "reader")
        assert [image["interface"] for image in data["images"]] == [
            "non-contrast-ct",
            "preprocessed-tmax-map",
        ]
        # Described as the case viewer describes them: the map in its range and unit, the CT windowed.
        ct, tmax = data["images"]
        assert (ct["label"], ct["is_ct"], ct["parameter_map"]) == ("NCCT", True, None)
        assert tmax["label"] == "Tmax (in NCCT space)"
        assert tmax["parameter_map"] == {
            "label": "Tmax",
            "quantity": "time to the maximum of the residue function",
            "unit": "s",
            "low": 0.0,
            "high": 10.0,
            "colormap": "warm",
        }
        assert data["newest_revision"] is None
        assert (data["done"], data["total"]) == (0, 1)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("reader", 201), ("organizer", 403), ("second_reader", 404), ("outsider", 404), ("anonymous", 401)],
)
def test_saving_a_revision(
    world: CampaignWorld, assignment: AnnotationAssignment, name: str, expected: int
) -> None:
    response = client_of(people(world, name)).put(
        reverse("api:annotation-mask", kwargs={"pk": assignment.pk}), mask_bytes(), content_type=OCTET
    )

    assert response.status_code == expected
    assert MaskRevision.objects.count() == (1 if expected == 201 else 0)
    if expected == 201:
        assert response.json()["number"] == 1


def test_a_refused_mask_answers_its_sentence(world: CampaignWorld, assignment: AnnotationAssignment) -> None:
    response = client_of(world.people["reader"]).put(
        reverse("api:annotation-mask", kwargs={"pk": assignment.pk}), b"scribbles", content_type=OCTET
    )

    assert response.status_code == 400
    assert (
        response.json()["detail"]
        == "The mask is not a readable NIfTI image; save it again from the drawing page."
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("reader", 200), ("organizer", 403), ("second_reader", 404), ("outsider", 404), ("anonymous", 401)],
)
def test_marking_done(
    world: CampaignWorld, assignment: AnnotationAssignment, name: str, expected: int
) -> None:
    services.mask_revision_save(
        assignment_id=assignment.pk, user=world.people["reader"], content=mask_bytes()
    )

    response = client_of(people(world, name)).post(
        reverse("api:annotation-done", kwargs={"pk": assignment.pk})
    )

    assert response.status_code == expected
    assignment.refresh_from_db()
    assert (assignment.status == AnnotationAssignment.Status.DONE) is (expected == 200)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("organizer", 200), ("reader", 403), ("second_reader", 404), ("outsider", 404), ("anonymous", 401)],
)
def test_reopening_a_done_case(
    world: CampaignWorld, assignment: AnnotationAssignment, name: str, expected: int
) -> None:
    reader = world.people["reader"]
    services.mask_revision_save(assignment_id=assignment.pk, user=reader, content=mask_bytes())
    services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)
    before = client_of(world.people["organizer"]).get(
        reverse("api:annotation-assignment", kwargs={"pk": assignment.pk})
    )

    response = client_of(people(world, name)).post(
        reverse("api:annotation-reopen", kwargs={"pk": assignment.pk}),
        {"reason": "The lesion's posterior edge is missing."},
        content_type="application/json",
    )

    assert response.status_code == expected
    assert before.json()["reopen_url"] == reverse("api:annotation-reopen", kwargs={"pk": assignment.pk})
    assignment.refresh_from_db()
    assert (assignment.status == AnnotationAssignment.Status.IN_PROGRESS) is (expected == 200)
    if expected == 200:
        assert response.json()["reopen_url"] is None  # open again: nothing to reopen
        seen = (
            client_of(reader).get(reverse("api:annotation-assignment", kwargs={"pk": assignment.pk})).json()
        )
        assert seen["reopened"]["by"] == "organizer"
        assert seen["reopened"]["reason"] == "The lesion's posterior edge is missing."
        assert seen["reopen_url"] is None  # the annotator does not organize


def test_reopening_without_a_reason_says_what_to_do(
    world: CampaignWorld, assignment: AnnotationAssignment
) -> None:
    response = client_of(world.people["organizer"]).post(
        reverse("api:annotation-reopen", kwargs={"pk": assignment.pk}),
        {"reason": ""},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "reason" in response.json()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("reader", 200), ("organizer", 200), ("second_reader", 404), ("outsider", 404), ("anonymous", 302)],
)
def test_files_of_an_assignment(
    world: CampaignWorld, assignment: AnnotationAssignment, name: str, expected: int
) -> None:
    services.mask_revision_save(
        assignment_id=assignment.pk, user=world.people["reader"], content=mask_bytes()
    )
    client = client_of(people(world, name))

    urls = [
        reverse("annotation-image", kwargs={"pk": assignment.pk, "index": 0}),
        reverse("annotation-image", kwargs={"pk": assignment.pk, "index": 1}),
        reverse("annotation-starting-mask", kwargs={"pk": assignment.pk}),
        reverse("annotation-revision-file", kwargs={"pk": assignment.pk, "number": 1}),
        reverse("annotation-draw", kwargs={"pk": assignment.pk}),
    ]

    assert [client.get(url).status_code for url in urls] == [expected] * len(urls)


def test_files_that_do_not_exist_are_404(world: CampaignWorld, assignment: AnnotationAssignment) -> None:
    client = client_of(world.people["reader"])

    assert (
        client.get(reverse("annotation-image", kwargs={"pk": assignment.pk, "index": 2})).status_code == 404
    )
    revision = reverse("annotation-revision-file", kwargs={"pk": assignment.pk, "number": 1})
    assert client.get(revision).status_code == 404


def test_an_annotator_sees_nothing_of_a_campaign_still_preparing(
    world: CampaignWorld, assignment: AnnotationAssignment
) -> None:
    AnnotationCampaign.objects.update(status=AnnotationCampaign.Status.PREPARING)

    response = client_of(world.people["reader"]).get(
        reverse("api:annotation-assignment", kwargs={"pk": assignment.pk})
    )

    assert response.status_code == 404


@pytest.mark.parametrize(("name", "expected"), [("organizer", 200), ("reader", 404), ("outsider", 404)])
def test_the_campaign_page_is_for_organizers(
    world: CampaignWorld, campaign: AnnotationCampaign, name: str, expected: int
) -> None:
    response = client_of(world.people[name]).get(
        reverse("annotation-campaign-detail", kwargs={"pk": campaign.pk})
    )

    assert response.status_code == expected


@pytest.mark.parametrize(("name", "expected"), [("organizer", 200), ("reader", 403), ("participant", 403)])
def test_the_creation_form_is_for_organizers(world: CampaignWorld, name: str, expected: int) -> None:
    url = reverse("annotation-campaign-create", kwargs={"challenge_slug": world.phase.challenge.slug})

    assert client_of(world.people[name]).get(url).status_code == expected


def test_an_organizer_creates_a_campaign_in_the_form(
    world: CampaignWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    url = reverse("annotation-campaign-create", kwargs={"challenge_slug": world.phase.challenge.slug})
    form = {
        "title": "Second look",
        "dataset": world.phase.dataset.pk,
        "cases": [case.pk for case in world.cases],
        "images": ["non-contrast-ct"],
        "starting_mask": "EMPTY",
        "annotators": [world.people["reader"].pk],
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(world.people["organizer"]).post(url, form)

    campaign = AnnotationCampaign.objects.get(title="Second look")
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation-campaign-detail", kwargs={"pk": campaign.pk})
    campaign.refresh_from_db()
    assert campaign.status == AnnotationCampaign.Status.READY
    listing = client_of(world.people["reader"]).get(reverse("readerstudy-list")).content.decode()
    for assignment in AnnotationAssignment.objects.filter(campaign_case__campaign=campaign):
        assert reverse("annotation-draw", kwargs={"pk": assignment.pk}) in listing


def _finish_both(world: CampaignWorld, campaign: AnnotationCampaign) -> None:
    for username in ("reader", "second_reader"):
        assignment = AnnotationAssignment.objects.get(
            campaign_case__campaign=campaign, annotator__username=username
        )
        user = world.people[username]
        services.mask_revision_save(assignment_id=assignment.pk, user=user, content=mask_bytes())
        services.annotation_assignment_done(assignment_id=assignment.pk, user=user)


def test_the_organizer_promotes_the_consensus_and_switches_the_phase_to_it(
    world: CampaignWorld, campaign: AnnotationCampaign, django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _finish_both(world, campaign)
    organizer = client_of(world.people["organizer"])
    page = organizer.get(reverse("annotation-campaign-detail", kwargs={"pk": campaign.pk})).content.decode()
    assert "reader · second_reader" in page
    assert "1.000" in page  # identical masks: Dice 1

    organizer.post(reverse("annotation-campaign-promote", kwargs={"pk": campaign.pk}), {"annotator": ""})
    version = GroundTruthVersion.objects.get(dataset=world.phase.dataset, number=2)
    assert version.source == GroundTruthVersion.Source.CONSENSUS
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = organizer.post(
            reverse("annotation-phase-version", kwargs={"pk": campaign.pk}),
            {"phase": world.phase.pk, "version": 2},
        )

    assert response.status_code == 302
    assert Phase.objects.get(pk=world.phase.pk).ground_truth_version == 2
    assert callbacks  # the re-scoring is queued once the switch commits


def test_a_reader_cannot_promote(world: CampaignWorld, campaign: AnnotationCampaign) -> None:
    _finish_both(world, campaign)

    response = client_of(world.people["reader"]).post(
        reverse("annotation-campaign-promote", kwargs={"pk": campaign.pk}), {"annotator": ""}
    )

    assert response.status_code == 404
    assert not GroundTruthVersion.objects.filter(number=2).exists()


def _reopen_form_action(page: str) -> list[str]:
    """The Reopen forms a campaign page offers, by the URL they post to."""
    return re.findall(r'<form method="post" action="([^"]+)" class="reopen-form"', page)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("organizer", 302), ("reader", 403), ("second_reader", 404), ("outsider", 404), ("anonymous", 302)],
)
def test_the_campaign_page_reopens_a_done_case(
    world: CampaignWorld, assignment: AnnotationAssignment, name: str, expected: int
) -> None:
    """The organizer's campaign page offers Reopen beside each done assignment (and only there), with
    the drawing page's form; it reopens through the same service and says so on the campaign page."""
    reader = world.people["reader"]
    services.mask_revision_save(assignment_id=assignment.pk, user=reader, content=mask_bytes())
    services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)
    campaign_url = reverse("annotation-campaign-detail", kwargs={"pk": assignment.campaign_case.campaign_id})
    reopen_url = reverse("annotation-assignment-reopen", kwargs={"pk": assignment.pk})
    organizer = client_of(world.people["organizer"])
    offered = _reopen_form_action(organizer.get(campaign_url).content.decode())

    response = client_of(people(world, name)).post(
        reopen_url, {"reason": "The lesion's posterior edge is missing."}, follow=name == "organizer"
    )

    assert offered == [reopen_url], "Reopen is offered for the done case only (the second reader's is not)"
    assignment.refresh_from_db()
    assert (assignment.status == AnnotationAssignment.Status.IN_PROGRESS) is (name == "organizer")
    if name == "organizer":
        assert response.redirect_chain == [(campaign_url, 302)]
        assert "is reopened: reader can change the mask" in response.content.decode()
        assert _reopen_form_action(response.content.decode()) == []
        assert assignment.events.last().note == "The lesion's posterior edge is missing."
    else:
        assert response.status_code == expected


def test_the_campaign_page_refuses_a_reopening_without_a_reason_with_its_sentence(
    world: CampaignWorld, assignment: AnnotationAssignment
) -> None:
    reader = world.people["reader"]
    services.mask_revision_save(assignment_id=assignment.pk, user=reader, content=mask_bytes())
    services.annotation_assignment_done(assignment_id=assignment.pk, user=reader)

    response = client_of(world.people["organizer"]).post(
        reverse("annotation-assignment-reopen", kwargs={"pk": assignment.pk}), {"reason": " "}, follow=True
    )

    assert "Say in a sentence why the case is reopened" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == AnnotationAssignment.Status.DONE
