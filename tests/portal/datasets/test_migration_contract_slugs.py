"""The raw perfusion maps of a release imported under the old slugs, migrated to the contract's slugs
(and back): a container written from the official ISLES'24 template finds them where it reads."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("datasets", "0004_step_claims")]
AFTER = [("datasets", "0005_contract_slugs")]
OLD_SLUGS = ("non-contrast-ct", "tmax-map", "cbf-map", "cbv-map", "mtt-map", "preprocessed-tmax-map")
NEW_SLUGS = (
    "non-contrast-ct",
    "tmax-parameter-map",
    "cbf-parameter-map",
    "cbv-parameter-map",
    "mtt-parameter-map",
    "preprocessed-tmax-map",
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    """An executor whose test leaves the database migrated to the newest state, however it ends."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _slugs(executor: MigrationExecutor, state: list[tuple[str, str]]) -> set[str]:
    image = executor.loader.project_state(state).apps.get_model("datasets", "Image")
    return set(image.objects.values_list("interface", flat=True))


def test_images_imported_under_the_old_slugs_take_the_contract_slugs_and_back(
    migrator: MigrationExecutor,
) -> None:
    migrator.migrate(BEFORE)
    apps = migrator.loader.project_state(BEFORE).apps
    challenge = apps.get_model("challenges", "Challenge").objects.create(slug="isles24", title="ISLES'24")
    dataset = apps.get_model("datasets", "Dataset").objects.create(
        challenge=challenge, slug="release", title="Release"
    )
    case = apps.get_model("datasets", "Case").objects.create(dataset=dataset, name="sub-stroke0001")
    for slug in OLD_SLUGS:
        apps.get_model("datasets", "Image").objects.create(
            case=case,
            interface=slug,
            file=f"cases/{slug}.nii.gz",
            sha256="0" * 64,
            size_bytes=1,
            shape=[2, 2, 2],
            spacing_mm=[1, 1, 1],
            pixel_type="int16",
        )

    migrator.loader.build_graph()
    migrator.migrate(AFTER)
    assert _slugs(migrator, AFTER) == set(NEW_SLUGS)

    migrator.loader.build_graph()
    migrator.migrate(BEFORE)
    assert _slugs(migrator, BEFORE) == set(OLD_SLUGS)
