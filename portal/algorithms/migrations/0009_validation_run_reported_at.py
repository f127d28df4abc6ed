"""Re-runs are reported to their organizers once per validation (``validation_end_tell``): the re-runs that
had ended before count as reported, so the next validation's e-mail does not list them again."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.utils import timezone

ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


def ended_reruns_reported(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    validation_run = apps.get_model("algorithms", "ValidationRun")
    validation_run.objects.filter(submission__status__in=ENDED, reported_at__isnull=True).update(
        reported_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("algorithms", "0008_validation_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="validationrun",
            name="reported_at",
            field=models.DateTimeField(
                blank=True,
                help_text=(
                    "When the organizers who made it were e-mailed that every re-run on the phase had ended, "
                    "this one among them; empty until then."
                ),
                null=True,
            ),
        ),
        migrations.RunPython(ended_reruns_reported, migrations.RunPython.noop),
    ]
