"""Split each case's clinical tables into what is known at admission and follow-up outcomes.

Until now one field held every table of a case, and outcomes (e.g. the 90-day mRS of hidden test cases)
were served with the rest and given to algorithm containers. The tables the ISLES'24 release keeps under
its acute session (``demographic_baseline``) stay as admission data; every other table becomes an
outcome, so that a table nobody classified is hidden rather than shown.
"""

from django.db import migrations, models

ADMISSION_TABLES = ("demographic_baseline",)


def split_tables(apps, schema_editor):
    Case = apps.get_model("datasets", "Case")
    for case in Case.objects.exclude(admission_data={}).iterator():
        tables = case.admission_data or {}
        case.admission_data = {name: row for name, row in tables.items() if name in ADMISSION_TABLES}
        case.outcome_data = {name: row for name, row in tables.items() if name not in ADMISSION_TABLES}
        case.save(update_fields=["admission_data", "outcome_data"])


def join_tables(apps, schema_editor):
    Case = apps.get_model("datasets", "Case")
    for case in Case.objects.exclude(outcome_data={}).iterator():
        case.admission_data = {**(case.admission_data or {}), **case.outcome_data}
        case.save(update_fields=["admission_data"])


class Migration(migrations.Migration):
    dependencies = [("datasets", "0002_ground_truth_versions")]

    operations = [
        migrations.RenameField(model_name="case", old_name="clinical_data", new_name="admission_data"),
        migrations.AlterField(
            model_name="case",
            name="admission_data",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text=(
                    "Clinical tables known at admission, by name (e.g. demographic_baseline: age, sex, NIHSS "
                    "at admission). What an algorithm container receives."
                ),
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="outcome_data",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text=(
                    "Follow-up clinical tables, by name (e.g. outcome: 90-day mRS). Ground truth too: shown to "
                    "participants for training cases only, never given to containers."
                ),
            ),
        ),
        migrations.RunPython(split_tables, join_tables),
    ]
