"""An algorithm upload in flight when uploads became chunked uploads (``portal.uploads``), migrated: the
bytes that arrived, once one partial file, become the upload's first part, so the participant resumes
where the upload stood."""

from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from portal.storage import private_storage
from tests.portal.accounts.factories import UserFactory
from tests.portal.challenges.factories import PhaseFactory

BEFORE = [("algorithms", "0002_step_claims")]
AFTER = [("algorithms", "0003_chunked_uploads")]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    """An executor whose test leaves the database migrated to the newest state, however it ends."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_an_upload_in_flight_keeps_what_arrived_as_its_first_part(migrator: MigrationExecutor) -> None:
    migrator.migrate(BEFORE)
    apps = migrator.loader.project_state(BEFORE).apps
    # Only the algorithms app went back: the other tables are as today's models make them.
    phase = PhaseFactory()
    user = UserFactory()
    name = private_storage().save("algorithms/uploads/in-flight.tar.gz", ContentFile(b"abcd"))
    upload = apps.get_model("algorithms", "AlgorithmUpload").objects.create(
        phase_id=phase.pk, user_id=user.pk, file_name=name, total_bytes=10, received_bytes=4
    )

    migrator.loader.build_graph()
    migrator.migrate(AFTER)

    migrated = migrator.loader.project_state(AFTER).apps.get_model("algorithms", "AlgorithmUpload")
    part_names = migrated.objects.get(pk=upload.pk).part_names
    assert part_names == [f"{name}.part-000000000000000"]
    with private_storage().open(part_names[0], "rb") as part:
        assert part.read() == b"abcd"
    assert not private_storage().exists(name)
