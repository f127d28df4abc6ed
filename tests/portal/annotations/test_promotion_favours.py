"""Promoting a consensus whose campaign started from a competing submission's output: the reference made
from it would favour that submission, so the campaign page says so in a sentence and the promotion needs
an explicit confirmation; a submission whose output differs is not named, and nothing is asked then."""

from collections.abc import Callable

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User
from portal.algorithms.models import Job
from portal.annotations import services
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign
from portal.challenges.models import Phase
from portal.datasets.models import GroundTruthVersion
from portal.submissions.models import Submission
from tests.portal.accounts.factories import TeamFactory
from tests.portal.annotations.campaign_world import CampaignWorld, empty_mask, tmax_map, volume_bytes


@pytest.fixture
def campaign(world: CampaignWorld, django_capture_on_commit_callbacks: Callable) -> AnnotationCampaign:
    """The threshold algorithm's pre-annotation of the first case, corrected by two readers (who keep it)."""
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
    kept = volume_bytes((tmax_map() > 6.0).astype(np.uint8))
    with django_capture_on_commit_callbacks(execute=True):
        for username in ("reader", "second_reader"):
            assignment = AnnotationAssignment.objects.get(
                campaign_case__campaign=made, annotator__username=username
            )
            user = world.people[username]
            services.mask_revision_save(assignment_id=assignment.pk, user=user, content=kept)
            services.annotation_assignment_done(assignment_id=assignment.pk, user=user)
    return made


def algorithm_output(world: CampaignWorld, *, team: str, mask: np.ndarray) -> Submission:
    """A succeeded algorithm submission of ``team`` whose container wrote ``mask`` for the first case."""
    participant = world.people["participant"]
    submission = Submission.objects.create(
        phase=world.phase,
        creator=participant,
        team=TeamFactory(challenge=world.phase.challenge, name=team),
        kind=Phase.SubmissionKind.ALGORITHM,
        file="algorithms/uploads/image.tar.gz",
        sha256="0" * 64,
        size_bytes=1,
        status=Submission.Status.SUCCEEDED,
    )
    Job.objects.create(
        submission=submission,
        case=world.cases[0],
        status=Job.Status.SUCCEEDED,
        segmentation=ContentFile(volume_bytes(mask), name="output.nii.gz"),
    )
    return submission


def organizer_of(world: CampaignWorld) -> Client:
    client = Client()
    user: User = world.people["organizer"]
    client.force_login(user)
    return client


def test_a_consensus_started_from_a_competing_output_is_promoted_only_once_confirmed(
    world: CampaignWorld, campaign: AnnotationCampaign
) -> None:
    threshold = algorithm_output(world, team="Threshold baseline", mask=(tmax_map() > 6.0).astype(np.uint8))
    other = empty_mask()
    other[1, 1:3, 1:3] = 1
    algorithm_output(world, team="Deep Lab", mask=other)
    organizer = organizer_of(world)
    sentence = (
        f"This campaign&#x27;s starting masks are the output of submission {threshold.pk} by Threshold "
        f"baseline in {world.phase.title}, scored on this dataset: a reference made from this campaign would "
        "favour it."
    )

    page = organizer.get(reverse("annotation-campaign-detail", args=[campaign.pk])).content.decode()
    assert sentence in page
    assert "Deep Lab" not in page
    assert 'name="favouring_confirmed"' in page
    promote = reverse("annotation-campaign-promote", args=[campaign.pk])
    refused = organizer.post(promote, {"annotator": ""}, follow=True).content.decode()
    assert f"{sentence} Confirm that you promote it all the same." in refused
    assert not GroundTruthVersion.objects.filter(dataset=world.phase.dataset, number=2).exists()

    organizer.post(promote, {"annotator": "", "favouring_confirmed": "on"})

    version = GroundTruthVersion.objects.get(dataset=world.phase.dataset, number=2)
    assert version.source == GroundTruthVersion.Source.CONSENSUS


def test_outputs_unlike_the_starting_masks_ask_for_nothing(
    world: CampaignWorld, campaign: AnnotationCampaign
) -> None:
    other = empty_mask()
    other[1, 1:3, 1:3] = 1
    algorithm_output(world, team="Deep Lab", mask=other)
    organizer = organizer_of(world)

    page = organizer.get(reverse("annotation-campaign-detail", args=[campaign.pk])).content.decode()
    assert 'id="promote-favours"' not in page
    assert 'name="favouring_confirmed"' not in page
    organizer.post(reverse("annotation-campaign-promote", args=[campaign.pk]), {"annotator": ""})

    assert GroundTruthVersion.objects.filter(dataset=world.phase.dataset, number=2).exists()
