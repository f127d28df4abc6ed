"""Rows imported before the release paths were recorded, migrated: each image takes its path in the
release from the layout; a mask, whose name differs between releases, keeps an empty path (and is
downloaded under the portal's name) until the release is imported again."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from releases import isles24

BEFORE = [("datasets", "0005_contract_slugs")]
AFTER = [("datasets", "0006_release_paths")]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    """An executor whose test leaves the database migrated to the newest state, however it ends."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_images_imported_before_take_their_release_paths_from_the_layout_and_masks_none(
    migrator: MigrationExecutor, release: Path
) -> None:
    migrator.migrate(BEFORE)
    apps = migrator.loader.project_state(BEFORE).apps
    challenge = apps.get_model("challenges", "Challenge").objects.create(slug="isles24", title="ISLES'24")
    dataset = apps.get_model("datasets", "Dataset").objects.create(
        challenge=challenge, slug="release", title="Release"
    )
    expected: dict[tuple[str, str], str] = {}
    for case_files in isles24.release_scan(release):
        case = apps.get_model("datasets", "Case").objects.create(dataset=dataset, name=case_files.name)
        for file in case_files.of_kind(isles24.SlotKind.IMAGE):
            apps.get_model("datasets", "Image").objects.create(
                case=case,
                interface=file.slot.name,
                file=f"cases/{file.slot.name}.nii.gz",
                sha256="0" * 64,
                size_bytes=1,
                shape=[2, 2, 2],
                spacing_mm=[1, 1, 1],
                pixel_type="int16",
            )
            expected[case_files.name, file.slot.name] = file.relative_path
        apps.get_model("datasets", "GroundTruth").objects.create(
            case=case,
            file="cases/mask.nii.gz",
            sha256="0" * 64,
            shape=[2, 2, 2],
            spacing_mm=[1, 1, 1],
            lesion_volume_ml=0.0,
            source_encoding="uint8 {0, 1}",
        )

    migrator.loader.build_graph()
    migrator.migrate(AFTER)

    after = migrator.loader.project_state(AFTER).apps
    images = after.get_model("datasets", "Image").objects.values_list(
        "case__name", "interface", "release_path"
    )
    assert {(case, interface): path for case, interface, path in images} == expected
    masks = after.get_model("datasets", "GroundTruth").objects.values_list("release_path", flat=True)
    assert set(masks) == {""}
