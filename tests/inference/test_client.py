"""The ``isles`` command line against a live portal (tasks run eagerly, so a submission ends at once)."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from inference.client import TOKEN_REFUSED, main
from portal.submissions.models import Submission
from tests.portal.submissions import conftest as submissions_fixtures
from tests.portal.submissions.conftest import OpenPhase, good_masks, zip_bytes

pytestmark = pytest.mark.django_db(transaction=True)

# The submissions tests' open phase, with its team and ground truth, served by the live portal.
open_phase = submissions_fixtures.open_phase


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def token(open_phase: OpenPhase) -> str:
    return Token.objects.create(user=open_phase.participant).key


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "predictions.zip"
    path.write_bytes(zip_bytes(good_masks()))
    return path


def test_the_installed_isles_script_uploads_with_a_progress_bar_and_prints_the_id(
    live_server: object, open_phase: OpenPhase, token: str, archive: Path
) -> None:
    script = Path(sys.executable).parent / "isles"
    environment = {"ISLES_URL": live_server.url, "ISLES_TOKEN": token, "PATH": "/usr/bin:/bin"}

    done = subprocess.run(
        [str(script), "submit", open_phase.phase.slug, str(archive)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    submission = Submission.objects.get()
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{submission.pk}\n"
    assert "100%" in done.stderr
    assert f"isles status {submission.pk} --wait" in done.stderr


def test_submit_then_status_wait_follows_the_submission_to_its_scores(
    live_server: object, open_phase: OpenPhase, token: str, archive: Path
) -> None:
    flags = ("--url", live_server.url, "--token", token)

    submitted = _run(*flags, "submit", open_phase.phase.slug, str(archive))
    status = _run(*flags, "status", submitted[1].strip(), "--wait", "--interval", "0.1")

    assert submitted[0] == 0, submitted[2]
    assert status[0] == 0, status[2]
    assert status[1].startswith(f"Submission {submitted[1].strip()}: SUCCEEDED\n")
    assert "EVALUATING (Checks passed.)" in status[1]
    assert "mean dice: 1.0000" in status[1]


def test_a_failed_submission_shows_its_problems_and_exits_non_zero(
    live_server: object, open_phase: OpenPhase, token: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(zip_bytes({"sub-stroke0100.nii.gz": b"not a mask"}))
    flags = ("--url", live_server.url, "--token", token)

    submission_id = _run(*flags, "submit", open_phase.phase.slug, str(broken))[1].strip()
    code, out, _ = _run(*flags, "status", submission_id, "--wait", "--interval", "0.1")

    assert code == 1
    assert "FAILED" in out
    assert "sub-stroke0101" in out  # the missing case is named among the problems


def test_a_wrong_token_is_one_sentence_and_a_non_zero_exit(
    live_server: object, open_phase: OpenPhase, archive: Path
) -> None:
    code, out, err = _run(
        "--url", live_server.url, "--token", "wrong", "submit", open_phase.phase.slug, str(archive)
    )

    assert code == 1
    assert out == ""
    assert err.splitlines()[-1] == f"isles: {TOKEN_REFUSED}"
    assert not Submission.objects.exists()


def test_an_unknown_phase_is_named(live_server: object, token: str, archive: Path) -> None:
    code, _, err = _run("--url", live_server.url, "--token", token, "submit", "no-such-phase", str(archive))

    assert code == 1
    assert err.splitlines()[-1] == "isles: There is no phase 'no-such-phase' you can see."


def test_a_refused_submission_prints_the_portal_sentence(
    live_server: object, open_phase: OpenPhase, token: str, archive: Path
) -> None:
    open_phase.phase.total_submission_limit = 0
    open_phase.phase.save()

    code, _, err = _run(
        "--url", live_server.url, "--token", token, "submit", open_phase.phase.slug, str(archive)
    )

    assert code == 1
    assert err.splitlines()[-1] == "isles: Your team has used all 0 submissions of this phase."


def test_an_unreachable_portal_names_its_address(archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLES_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ISLES_TOKEN", "anything")

    code, _, err = _run("status", "1")

    assert code == 1
    assert err.startswith("isles: Cannot reach the portal at http://127.0.0.1:9:")


def test_a_leaderboard_that_does_not_exist_is_a_sentence(live_server: object, token: str) -> None:
    code, _, err = _run("--url", live_server.url, "--token", token, "leaderboard", "no-such-phase")

    assert code == 1
    assert err == "isles: There is no leaderboard for a phase 'no-such-phase'.\n"


def test_the_leaderboard_prints_each_team_with_its_rank_and_columns(
    live_server: object, open_phase: OpenPhase, token: str, archive: Path
) -> None:
    flags = ("--url", live_server.url, "--token", token)
    _run(*flags, "submit", open_phase.phase.slug, str(archive))

    code, table, err = _run(*flags, "leaderboard", open_phase.phase.slug)
    as_json = _run(*flags, "leaderboard", open_phase.phase.slug, "--json")[1]

    header, first = table.splitlines()
    assert code == 0, err
    assert header.split() == [
        "rank",
        "team",
        "dice",
        "absolute_volume_difference_ml",
        "absolute_lesion_count_difference",
        "lesion_f1",
    ]
    assert first.split()[:5] == ["1", "Penumbra", "1.000", "±", "0.000"]
    assert json.loads(as_json)["results"][0]["team"] == "Penumbra"
