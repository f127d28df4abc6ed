"""Annotation campaigns leave the reader studies app with their tables and data.

The five models were ``readerstudies``'s until this app took them over: their tables stay as they are
(no row is copied). This migration takes them into the state of ``annotations`` as they stood
(``SeparateDatabaseAndState``, ``db_table`` naming the old tables), then renames each table to the name
Django gives a model of this app (``annotations_*``; PostgreSQL and SQLite both rename in place, and the
foreign keys that point at a table follow it). ``readerstudies`` ``0005`` then drops the models from its
own state without touching the database.

The content types of the five models move too (``django_content_type.app_label`` ``readerstudies`` ->
``annotations``, the same rows), so their permissions, the groups and users holding them and the
admin's log entries follow the models. A row ``annotations`` already has for a model (made by
``post_migrate`` after this migration was reversed) gives way to the older row, which keeps its id.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import portal.annotations.models
import portal.storage

MODELS = ("annotationcampaign", "campaigncase", "annotationassignment", "assignmentevent", "maskrevision")


def _content_types_move(apps, schema_editor, *, source, target):
    content_type = apps.get_model("contenttypes", "ContentType")
    rows = content_type.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if rows.filter(app_label=source, model=model).exists():
            rows.filter(app_label=target, model=model).delete()
            rows.filter(app_label=source, model=model).update(app_label=target)


def content_types_forwards(apps, schema_editor):
    _content_types_move(apps, schema_editor, source="readerstudies", target="annotations")


def content_types_backwards(apps, schema_editor):
    _content_types_move(apps, schema_editor, source="annotations", target="readerstudies")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("readerstudies", "0004_reading_time"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="AnnotationAssignment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("NOT_STARTED", "Not started"),
                                    ("IN_PROGRESS", "In progress"),
                                    ("DONE", "Done"),
                                ],
                                default="NOT_STARTED",
                                max_length=16,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "started_at",
                            models.DateTimeField(
                                blank=True, help_text="When the first revision was saved.", null=True
                            ),
                        ),
                        (
                            "done_at",
                            models.DateTimeField(
                                blank=True, help_text="When the annotator marked it done.", null=True
                            ),
                        ),
                        (
                            "annotator",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "readerstudies_annotationassignment",
                        "ordering": ["campaign_case", "annotator__username"],
                    },
                ),
                migrations.CreateModel(
                    name="AnnotationCampaign",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        (
                            "images",
                            models.JSONField(
                                help_text="Interface slugs of the images shown to draw on; the first is drawn on, on its grid."
                            ),
                        ),
                        (
                            "starting_mask",
                            models.CharField(
                                choices=[
                                    ("EMPTY", "Empty"),
                                    ("PRE_ANNOTATION", "Pre-annotation by the threshold reference algorithm"),
                                    ("UPLOADED", "Uploaded masks"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "uploaded_masks",
                            models.FileField(
                                blank=True,
                                help_text="The archive of starting masks (one per case) when they are uploaded.",
                                max_length=255,
                                storage=portal.storage.private_storage,
                                upload_to="campaigns/uploads/",
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("PREPARING", "Preparing the starting masks"),
                                    ("READY", "Open to its annotators"),
                                    ("FAILED", "Failed to prepare"),
                                ],
                                default="PREPARING",
                                max_length=16,
                            ),
                        ),
                        (
                            "error",
                            models.TextField(
                                blank=True, help_text="Why preparing the starting masks failed."
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "ready_at",
                            models.DateTimeField(
                                blank=True, help_text="When its starting masks were ready.", null=True
                            ),
                        ),
                        (
                            "challenge",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="annotation_campaigns",
                                to="challenges.challenge",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "dataset",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="annotation_campaigns",
                                to="datasets.dataset",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "readerstudies_annotationcampaign",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="AssignmentEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "from_status",
                            models.CharField(
                                choices=[
                                    ("NOT_STARTED", "Not started"),
                                    ("IN_PROGRESS", "In progress"),
                                    ("DONE", "Done"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "to_status",
                            models.CharField(
                                choices=[
                                    ("NOT_STARTED", "Not started"),
                                    ("IN_PROGRESS", "In progress"),
                                    ("DONE", "Done"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("at", models.DateTimeField(auto_now_add=True)),
                        (
                            "assignment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="events",
                                to="annotations.annotationassignment",
                            ),
                        ),
                        (
                            "by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "readerstudies_assignmentevent",
                        "ordering": ["assignment", "at", "pk"],
                    },
                ),
                migrations.CreateModel(
                    name="CampaignCase",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "starting_mask",
                            models.FileField(
                                blank=True,
                                max_length=255,
                                storage=portal.storage.private_storage,
                                upload_to=portal.annotations.models._starting_mask_path,
                            ),
                        ),
                        (
                            "agreement_basis",
                            models.JSONField(
                                default=list,
                                help_text="Ids of the finished revisions the agreement was computed from, ascending.",
                            ),
                        ),
                        (
                            "agreement",
                            models.JSONField(
                                blank=True,
                                help_text="Pairwise and starting-mask Dice and volume difference, STAPLE estimates per annotator.",
                                null=True,
                            ),
                        ),
                        (
                            "consensus_mask",
                            models.FileField(
                                blank=True,
                                help_text="The STAPLE consensus of the finished masks (two or more), uint8 on the reference grid.",
                                max_length=255,
                                storage=portal.storage.private_storage,
                                upload_to=portal.annotations.models._consensus_mask_path,
                            ),
                        ),
                        (
                            "campaign",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="campaign_cases",
                                to="annotations.annotationcampaign",
                            ),
                        ),
                        (
                            "case",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="datasets.case",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "readerstudies_campaigncase",
                        "ordering": ["campaign", "case__name"],
                    },
                ),
                migrations.AddField(
                    model_name="annotationassignment",
                    name="campaign_case",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="annotations.campaigncase",
                    ),
                ),
                migrations.CreateModel(
                    name="MaskRevision",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "number",
                            models.PositiveIntegerField(
                                help_text="1 for the first save of the assignment, then one more each."
                            ),
                        ),
                        (
                            "file",
                            models.FileField(
                                max_length=255,
                                storage=portal.storage.private_storage,
                                upload_to=portal.annotations.models._revision_path,
                            ),
                        ),
                        (
                            "sha256",
                            models.CharField(help_text="Of the stored, binarised file.", max_length=64),
                        ),
                        ("lesion_voxels", models.PositiveIntegerField()),
                        (
                            "lesion_volume_ml",
                            models.FloatField(help_text="Lesion voxels times the voxel volume, in ml."),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "assignment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="revisions",
                                to="annotations.annotationassignment",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "readerstudies_maskrevision",
                        "ordering": ["assignment", "number"],
                    },
                ),
                migrations.AddConstraint(
                    model_name="campaigncase",
                    constraint=models.UniqueConstraint(
                        fields=("campaign", "case"), name="case_once_per_campaign"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="annotationassignment",
                    constraint=models.UniqueConstraint(
                        fields=("campaign_case", "annotator"), name="annotator_once_per_case"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="maskrevision",
                    constraint=models.UniqueConstraint(
                        fields=("assignment", "number"), name="revision_number_unique"
                    ),
                ),
            ],
        ),
        migrations.AlterModelTable(name="annotationassignment", table=None),
        migrations.AlterModelTable(name="annotationcampaign", table=None),
        migrations.AlterModelTable(name="assignmentevent", table=None),
        migrations.AlterModelTable(name="campaigncase", table=None),
        migrations.AlterModelTable(name="maskrevision", table=None),
        migrations.RunPython(content_types_forwards, content_types_backwards),
    ]
