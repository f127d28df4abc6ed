"""The demo's example predictions archive: Tmax > 6 s masks of the hidden test cases, which score."""

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files import File
from django.core.management import call_command

from portal.accounts.models import User
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.demo.predictions import demo_predictions_write
from portal.demo.services import demo_setup
from portal.submissions.models import Submission
from portal.submissions.services import submission_create

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One VAR_DIR for the module: the synthetic releases are written once and reused, as on a re-run."""
    return tmp_path_factory.mktemp("demo-var")


def test_the_demo_predictions_pass_the_checks_and_score_on_the_preliminary_phase(
    var_dir: Path, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    demo = demo_setup(var_dir=var_dir)
    phase = Phase.objects.get(slug="isles24-demo-preliminary")

    with demo.predictions_archive.open("rb") as stream, django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            phase=phase, user=User.objects.get(username="participant"), upload=File(stream, name="demo.zip")
        )

    submission.refresh_from_db()
    test_cases = Case.objects.filter(dataset=phase.dataset, split=Split.TEST).order_by("name")
    with zipfile.ZipFile(demo.predictions_archive) as archive:
        assert archive.namelist() == [f"{case.name}.nii.gz" for case in test_cases]
    assert demo.predictions_archive == var_dir / "demo-data" / "demo-predictions.zip"
    assert submission.status == Submission.Status.SUCCEEDED, (submission.error, submission.problems)
    assert submission.case_results.count() == test_cases.count()
    assert 0 < submission.metrics_mean["dice"] <= 1


def test_the_demo_predictions_are_written_once(var_dir: Path) -> None:
    demo = demo_setup(var_dir=var_dir)
    written = demo.predictions_archive.stat().st_mtime_ns

    again = demo_predictions_write(
        dataset=demo.challenge.datasets.get(slug="isles24"), data_dir=demo.data_dir
    )

    assert again == demo.predictions_archive
    assert again.stat().st_mtime_ns == written
    assert not list(demo.data_dir.glob(".*.partial"))


def test_the_demo_command_prints_where_the_example_predictions_are(
    var_dir: Path, settings: object, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.VAR_DIR = var_dir

    call_command("demo", "--setup-only")

    archive = var_dir / "demo-data" / "demo-predictions.zip"
    assert f"Example predictions for the preliminary phase: {archive}" in capsys.readouterr().out
    assert archive.is_file()
