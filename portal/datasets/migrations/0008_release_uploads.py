"""Release archives uploaded in chunks by organizers, the import that unpacks one, and an import's progress."""

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("challenges", "0005_phase_team_freeze_at"),
        ("datasets", "0007_data_cards"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetimport",
            name="progress_done",
            field=models.PositiveIntegerField(
                db_default=0, default=0, help_text="Files unpacked or cases imported."
            ),
        ),
        migrations.AddField(
            model_name="datasetimport",
            name="progress_stage",
            field=models.CharField(
                db_default="",
                blank=True,
                help_text="What the import is doing now, e.g. importing a case.",
                max_length=200,
            ),
        ),
        migrations.AddField(
            model_name="datasetimport",
            name="progress_total",
            field=models.PositiveIntegerField(
                db_default=0, default=0, help_text="Of how many (0: not known yet)."
            ),
        ),
        migrations.AlterField(
            model_name="datasetimport",
            name="source_path",
            field=models.CharField(
                help_text="Release folder on the server, or the uploaded archive's name.", max_length=500
            ),
        ),
        migrations.CreateModel(
            name="ReleaseUpload",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                (
                    "file_name",
                    models.CharField(
                        help_text="Name of the whole file in private storage, once every chunk arrived.",
                        max_length=255,
                    ),
                ),
                ("total_bytes", models.PositiveBigIntegerField()),
                ("received_bytes", models.PositiveBigIntegerField(default=0)),
                (
                    "part_names",
                    models.JSONField(
                        db_default=models.Value([], output_field=models.JSONField()),
                        blank=True,
                        default=list,
                        help_text="The stored parts holding the bytes received so far, in order (joined once whole).",
                    ),
                ),
                (
                    "sha256",
                    models.CharField(
                        db_default="",
                        blank=True,
                        help_text="Of the whole file, once it arrived.",
                        max_length=64,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "original_name",
                    models.CharField(help_text="The archive's name on the organizer's disk.", max_length=255),
                ),
                (
                    "challenge",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="release_uploads",
                        to="challenges.challenge",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.AddField(
            model_name="datasetimport",
            name="upload",
            field=models.ForeignKey(
                blank=True,
                help_text="The uploaded release archive this import unpacks (none: a folder on the server).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="imports",
                to="datasets.releaseupload",
            ),
        ),
    ]
