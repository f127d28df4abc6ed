"""Jobs shared fairly between teams (issue 18): when each job began waiting (``queued_at``, now for the jobs
already there), and an index for the waiting jobs and a phase's recent ones."""

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("algorithms", "0005_upload_check_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="queued_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(),
                default=django.utils.timezone.now,
                help_text="When the job began to wait for a worker: made, or re-queued by an organizer.",
            ),
        ),
        migrations.AlterField(
            model_name="job",
            name="started_at",
            field=models.DateTimeField(blank=True, help_text="When a worker last claimed it.", null=True),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["status", "queued_at"], name="job_waiting"),
        ),
    ]
