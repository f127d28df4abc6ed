"""Annotation campaigns leave the reader studies app with their data: a campaign made while its models were
``readerstudies``'s (a case with a starting mask, two annotators, status changes, a saved revision, the
content types with a permission held and an admin log entry), migrated, then read and carried on through
the annotations app."""

from collections.abc import Iterator

import numpy as np
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from portal.annotations import selectors, services
from portal.annotations.masks import mask_array_read
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign, CampaignCase
from portal.storage import private_storage
from tests.portal.annotations.campaign_world import (
    CampaignWorld,
    campaign_world_create,
    empty_mask,
    volume_bytes,
)

BEFORE = [("annotations", None), ("readerstudies", "0004_reading_time")]
"""Before the annotations app: it has no migration applied, reader studies the last one of that time."""
MODELS = ("annotationcampaign", "campaigncase", "annotationassignment", "assignmentevent", "maskrevision")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    """An executor whose test leaves the database migrated to the newest state, however it ends."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def _content_types_as_before() -> dict[str, int]:
    """The content type rows the old code's ``post_migrate`` made for the five models, by model."""
    ContentType.objects.clear_cache()
    ids = {}
    for model in MODELS:
        content_type, _ = ContentType.objects.get_or_create(app_label="readerstudies", model=model)
        Permission.objects.get_or_create(
            content_type=content_type, codename=f"change_{model}", defaults={"name": f"Can change {model}"}
        )
        ids[model] = content_type.pk
    return ids


def _campaign_as_before(executor: MigrationExecutor, world: CampaignWorld) -> int:
    """A READY campaign of one case for two readers, as the reader studies app stored it; the reader has
    saved one revision (IN_PROGRESS), the second reader nothing yet."""
    apps = executor.loader.project_state(BEFORE[1:]).apps
    old = {name: apps.get_model("readerstudies", name) for name in MODELS}
    reader, second_reader = world.people["reader"], world.people["second_reader"]
    campaign = old["annotationcampaign"].objects.create(
        challenge_id=world.phase.challenge_id,
        dataset_id=world.phase.dataset_id,
        title="Drawn before the move",
        images=["non-contrast-ct"],
        starting_mask="EMPTY",
        status="READY",
        ready_at=timezone.now(),
        created_by_id=world.people["organizer"].pk,
    )
    mask = volume_bytes(empty_mask())
    case = world.cases[0]
    campaign_case = old["campaigncase"].objects.create(
        campaign=campaign,
        case_id=case.pk,
        starting_mask=private_storage().save(
            f"campaigns/{campaign.pk}/starting/{case.pk}.nii.gz", ContentFile(mask)
        ),
    )
    drawing = old["annotationassignment"].objects.create(
        campaign_case=campaign_case, annotator_id=reader.pk, status="IN_PROGRESS", started_at=timezone.now()
    )
    old["annotationassignment"].objects.create(campaign_case=campaign_case, annotator_id=second_reader.pk)
    old["assignmentevent"].objects.create(
        assignment=drawing, from_status="NOT_STARTED", to_status="IN_PROGRESS", by_id=reader.pk
    )
    lesion = empty_mask()
    lesion[1, 2, 3] = 1
    old["maskrevision"].objects.create(
        assignment=drawing,
        number=1,
        file=private_storage().save("campaigns/revisions/old/1.nii.gz", ContentFile(volume_bytes(lesion))),
        sha256="0" * 64,
        lesion_voxels=1,
        lesion_volume_ml=0.0005,
        created_by_id=reader.pk,
    )
    return campaign.pk


def test_a_campaign_made_in_the_reader_studies_app_lives_on_in_the_annotations_app(
    migrator: MigrationExecutor,
) -> None:
    migrator.migrate(BEFORE)
    assert {f"readerstudies_{model}" for model in MODELS} <= _tables()
    world = campaign_world_create()
    organizer, reader, second_reader = (
        world.people[name] for name in ("organizer", "reader", "second_reader")
    )
    content_type_ids = _content_types_as_before()
    change_campaign = Permission.objects.get(
        content_type_id=content_type_ids["annotationcampaign"], codename="change_annotationcampaign"
    )
    organizer.user_permissions.add(change_campaign)
    Group.objects.create(name="campaign editors").permissions.add(change_campaign)
    campaign_id = _campaign_as_before(migrator, world)
    LogEntry.objects.create(
        user=organizer,
        content_type_id=content_type_ids["annotationcampaign"],
        object_id=str(campaign_id),
        object_repr="Drawn before the move",
        action_flag=CHANGE,
    )

    migrator.loader.build_graph()
    migrator.migrate(migrator.loader.graph.leaf_nodes())

    tables = _tables()
    assert {f"annotations_{model}" for model in MODELS} <= tables
    assert not {f"readerstudies_{model}" for model in MODELS} & tables
    ContentType.objects.clear_cache()
    moved = {model: ContentType.objects.get_by_natural_key("annotations", model).pk for model in MODELS}
    assert moved == content_type_ids
    assert not ContentType.objects.filter(app_label="readerstudies", model__in=MODELS).exists()
    assert ContentType.objects.get_for_model(AnnotationCampaign).pk == content_type_ids["annotationcampaign"]
    organizer = type(organizer).objects.get(pk=organizer.pk)  # a fresh permission cache
    assert organizer.has_perm("annotations.change_annotationcampaign")
    assert Group.objects.get(name="campaign editors").permissions.get().natural_key() == (
        "change_annotationcampaign",
        "annotations",
        "annotationcampaign",
    )
    assert (
        LogEntry.objects.get(object_id=str(campaign_id)).get_edited_object().title == "Drawn before the move"
    )

    campaign = AnnotationCampaign.objects.get(pk=campaign_id)
    assert campaign.status == AnnotationCampaign.Status.READY
    campaign_case = CampaignCase.objects.get(campaign=campaign)
    assert not mask_array_read(campaign_case.starting_mask).any()
    progress = selectors.annotation_campaign_progress(campaign=campaign)
    assert [user.username for user in progress.annotators] == ["reader", "second_reader"]
    assert (progress.done, progress.total) == (0, 2)
    drawing = selectors.annotation_assignment_get(
        user=reader, assignment_id=progress.cases[0].cells[0].assignment.pk
    )
    assert [(event.from_status, event.to_status) for event in drawing.events.all()] == [
        ("NOT_STARTED", "IN_PROGRESS")
    ]
    newest = selectors.mask_revision_newest(assignment=drawing)
    assert newest is not None
    assert newest.number == 1
    assert int(mask_array_read(newest.file).sum()) == 1

    # New rows take ids after the old ones in the renamed tables, and the work goes on where it stopped.
    revision = services.mask_revision_save(
        assignment_id=drawing.pk, user=reader, content=volume_bytes(empty_mask())
    )
    assert revision.number == 2
    assert revision.pk > newest.pk
    services.annotation_assignment_done(assignment_id=drawing.pk, user=reader)
    second = AnnotationAssignment.objects.get(campaign_case=campaign_case, annotator=second_reader)
    second_revision = services.mask_revision_save(
        assignment_id=second.pk, user=second_reader, content=volume_bytes(empty_mask())
    )
    services.annotation_assignment_done(assignment_id=second.pk, user=second_reader)
    assert selectors.annotation_campaign_progress(campaign=campaign).done == 2
    campaign_case.refresh_from_db()
    assert campaign_case.agreement_basis == [revision.pk, second_revision.pk]
    assert campaign_case.agreement["pairwise"][0]["dice"] == 1.0  # two empty masks agree
    assert np.array_equal(mask_array_read(campaign_case.consensus_mask), empty_mask().astype(bool))
