"""The clinical-data split on a database made before it: a release imported as the importer stored it
then (every clinical table in one field, outcomes included), migrated, then read by each role."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, Dataset
from releases import isles24
from releases.synthetic import write_release
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import PhaseFactory

BEFORE = [("datasets", "0002_ground_truth_versions")]
TABLE_KINDS = (isles24.SlotKind.ADMISSION_TABLE, isles24.SlotKind.OUTCOME_TABLE)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    """An executor whose test leaves the database migrated to the newest state, however it ends."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _import_as_before(executor: MigrationExecutor, release: Path) -> None:
    """What the importer wrote before the split: each case's clinical tables by name, in one field."""
    apps = executor.loader.project_state(BEFORE).apps
    challenge = apps.get_model("challenges", "Challenge").objects.create(slug="isles24", title="ISLES'24")
    dataset = apps.get_model("datasets", "Dataset").objects.create(
        challenge=challenge, slug="release", title="Release"
    )
    for split, case_files in zip((Split.TRAIN, Split.TEST), isles24.release_scan(release), strict=True):
        tables = {
            file.slot.name: isles24.clinical_table_read(file)
            for kind in TABLE_KINDS
            for file in case_files.of_kind(kind)
        }
        apps.get_model("datasets", "Case").objects.create(
            dataset=dataset, name=case_files.name, split=split, clinical_data=tables
        )


def _cases_seen(who: object, *, split: str) -> dict[str, object]:
    client = Client()
    client.force_login(who)
    return client.get(reverse("api:challenge-cases", args=["isles24"]), {"split": split}).json()["results"][0]


def test_outcomes_imported_before_the_split_reach_only_those_who_may_see_them(
    migrator: MigrationExecutor, tmp_path: Path
) -> None:
    write_release(tmp_path, cases=2, seed=3, size="small", include_images=False)
    migrator.migrate(BEFORE)
    _import_as_before(migrator, tmp_path)

    migrator.loader.build_graph()
    migrator.migrate(migrator.loader.graph.leaf_nodes())

    dataset = Dataset.objects.get(slug="release")
    PhaseFactory(
        challenge=dataset.challenge,
        dataset=dataset,
        split=Split.TEST,
        submission_kind=Phase.SubmissionKind.PREDICTIONS,
    )
    train, test = Case.objects.order_by("name")
    assert set(test.admission_data) == {"demographic_baseline"}
    assert set(test.outcome_data) == {"outcome"}
    participant, organizer = (
        ChallengeRoleFactory(challenge=dataset.challenge, role=role).user
        for role in (ChallengeRole.Role.PARTICIPANT, ChallengeRole.Role.ORGANIZER)
    )
    hidden_for_participant = _cases_seen(participant, split="test")
    assert hidden_for_participant["admission_data"] == test.admission_data
    assert hidden_for_participant["outcome_data"] is None
    assert _cases_seen(participant, split="train")["outcome_data"] == train.outcome_data
    assert _cases_seen(organizer, split="test")["outcome_data"] == test.outcome_data
