"""A column added to a table that already holds rows carries a database default, not only a Python one.

During a deploy the previous release's web and worker processes still write rows for a while; a NOT NULL
column they do not know, without a default in the database, makes each such write fail. So does a
migration test that writes rows at an older state of one app while another app is at its newest. Django's
``default`` lives in Python only; ``db_default`` puts it in the table. Migrations written before this rule
are listed, not rewritten (they are applied everywhere already).
"""

from django.apps import apps
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader

BEFORE_THE_RULE = {
    ("algorithms", "0002_step_claims"),
    ("annotations", "0002_step_claims"),
    ("challenges", "0003_ground_truth_versions"),
    ("challenges", "0004_phase_upload_max_mb"),
    ("datasets", "0003_clinical_admission_and_outcome"),
    ("datasets", "0004_step_claims"),
    ("datasets", "0006_release_paths"),
    ("leaderboards", "0002_entry_api_document"),
    ("leaderboards", "0004_outcome_correlations"),
    ("readerstudies", "0004_reading_time"),
    ("readerstudies", "0006_step_claims"),
    ("submissions", "0002_ground_truth_versions"),
    ("submissions", "0003_step_claims"),
    ("submissions", "0006_case_result_notes"),
}
"""Migrations released before the rule, with columns that have a Python default only."""


def columns_without_a_database_default() -> list[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = {config.label for config in apps.get_app_configs() if config.name.startswith("portal.")}
    found = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app not in ours:
            continue
        for operation in migration.operations:
            if not isinstance(operation, migrations.AddField):
                continue
            field = operation.field
            # A relation has no default to give: a new required one needs a nullable step first.
            needs_one = not field.null and not field.is_relation
            if needs_one and field.db_default is models.NOT_PROVIDED and (app, name) not in BEFORE_THE_RULE:
                found.append(f"{app}.{name}: {operation.model_name}.{operation.name}")
    return found


def test_every_column_added_to_an_existing_table_has_a_database_default() -> None:
    assert columns_without_a_database_default() == []
