"""Re-runs that had ended before validations were reported once per validation count as reported, so the
organizer's next summary e-mail lists only the re-runs of that validation; one still running is not."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from portal.algorithms.models import ValidationRun
from portal.submissions.models import Submission
from tests.portal.accounts.factories import UserFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.submissions.review_world import submission_create

BEFORE = [("algorithms", "0008_validation_runs")]
AFTER = [("algorithms", "0009_validation_run_reported_at")]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    """An executor whose test leaves the database migrated to the newest state, however it ends."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_ended_reruns_count_as_reported_and_running_ones_do_not(migrator: MigrationExecutor) -> None:
    migrator.migrate(BEFORE)
    apps = migrator.loader.project_state(BEFORE).apps
    phase, organizer = PhaseFactory(), UserFactory()
    original = submission_create(phase, UserFactory(), {})
    reruns = {
        status: submission_create(phase, organizer, {}, status=status)
        for status in (Submission.Status.SUCCEEDED, Submission.Status.FAILED, Submission.Status.EVALUATING)
    }
    old_run = apps.get_model("algorithms", "ValidationRun")
    for rerun in reruns.values():
        old_run.objects.create(submission_id=rerun.pk, original_id=original.pk)

    migrator.loader.build_graph()
    migrator.migrate(AFTER)

    reported = dict(ValidationRun.objects.values_list("submission__status", "reported_at"))
    assert reported[Submission.Status.SUCCEEDED] is not None
    assert reported[Submission.Status.FAILED] is not None
    assert reported[Submission.Status.EVALUATING] is None
