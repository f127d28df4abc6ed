"""Annotation campaigns are the ``annotations`` app's now: its ``0001`` took over their tables and content
types, so this migration only drops the five models from this app's state; the database is untouched."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("annotations", "0001_initial"),
        ("readerstudies", "0004_reading_time"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="MaskRevision"),
                migrations.DeleteModel(name="AssignmentEvent"),
                migrations.DeleteModel(name="AnnotationAssignment"),
                migrations.DeleteModel(name="CampaignCase"),
                migrations.DeleteModel(name="AnnotationCampaign"),
            ],
        ),
    ]
