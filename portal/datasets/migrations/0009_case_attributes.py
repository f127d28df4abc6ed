"""Case attributes: the tables organizers upload per dataset, and each case's applied attributes."""

import django.db.models.deletion
import portal.datasets.models
import portal.storage
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0008_release_uploads"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="attributes",
            field=models.JSONField(
                blank=True,
                db_default={},
                default=dict,
                help_text=(
                    "Attributes from the dataset's last applied attribute table, column -> text (e.g. centre: "
                    "TUM); results can be split by them."
                ),
            ),
        ),
        migrations.CreateModel(
            name="CaseAttributeTable",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "file",
                    models.FileField(
                        max_length=255,
                        storage=portal.storage.private_storage,
                        upload_to=portal.datasets.models._attribute_table_path,
                    ),
                ),
                (
                    "original_name",
                    models.CharField(help_text="The file's name on the organizer's disk.", max_length=255),
                ),
                ("uploaded_at", models.DateTimeField(auto_now_add=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("RECEIVED", "Received, not read yet"),
                            ("APPLIED", "Applied"),
                            ("REFUSED", "Refused"),
                        ],
                        default="RECEIVED",
                        max_length=16,
                    ),
                ),
                (
                    "columns",
                    models.JSONField(blank=True, default=list, help_text="The attribute columns, in file order."),
                ),
                (
                    "cases_named",
                    models.PositiveIntegerField(default=0, help_text="Cases the applied table names."),
                ),
                (
                    "problems",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="Why it was refused: one sentence per bad row or column.",
                    ),
                ),
                (
                    "dataset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attribute_tables",
                        to="datasets.dataset",
                    ),
                ),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["dataset", "-uploaded_at", "-pk"]},
        ),
    ]
