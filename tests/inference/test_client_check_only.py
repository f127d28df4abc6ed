"""``isles submit --check-only`` and ``isles submit-algorithm --check-only`` against a live portal: the try
is checked as a submission is, ends CHECKED (``status --wait`` exits 0), is said to be not scored and not
counted, and ``--json`` prints the API's answer as it came."""

import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token

from inference.client import main
from portal.submissions.models import Submission
from tests.inference.images import image_archive_write
from tests.portal.algorithms import conftest as algorithm_fixtures
from tests.portal.algorithms.conftest import AlgorithmPhase
from tests.portal.submissions import conftest as submissions_fixtures
from tests.portal.submissions.conftest import OpenPhase, good_masks, mask_bytes, zip_bytes

pytestmark = pytest.mark.django_db(transaction=True)

open_phase = submissions_fixtures.open_phase
algorithm_phase = algorithm_fixtures.algorithm_phase
CHECK_ONLY = "Check only: not scored, not counted."


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _flags(live_server: LiveServer, user: object) -> tuple[str, ...]:
    return ("--url", live_server.url, "--token", Token.objects.create(user=user).key)


def test_submit_check_only_ends_checked_and_says_it_was_not_scored_nor_counted(
    live_server: LiveServer, open_phase: OpenPhase, tmp_path: Path
) -> None:
    archive = tmp_path / "predictions.zip"
    archive.write_bytes(zip_bytes(good_masks()))
    flags = _flags(live_server, open_phase.participant)

    code, out, err = _run(*flags, "submit", "--check-only", open_phase.phase.slug, str(archive))
    waited = _run(*flags, "status", out.strip(), "--wait", "--interval", "0.1")

    attempt = Submission.objects.get()
    assert code == 0, err
    assert out == f"{attempt.pk}\n"
    assert f"Check-only try {attempt.pk} is " in err
    assert CHECK_ONLY in err
    assert attempt.check_only
    assert waited[0] == 0, waited
    assert f"Submission {attempt.pk} to {open_phase.phase.slug}: CHECKED\n" in waited[1]
    assert f"CHECKED (Checks passed. {CHECK_ONLY})" in waited[1]


def test_submit_check_only_with_json_prints_the_apis_answer_and_a_broken_mask_fails_the_wait(
    live_server: LiveServer, open_phase: OpenPhase, tmp_path: Path
) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(zip_bytes({"sub-stroke0100.nii.gz": mask_bytes(shape=(6, 5, 3))}))
    flags = _flags(live_server, open_phase.participant)

    code, out, err = _run(*flags, "--json", "submit", open_phase.phase.slug, str(archive), "--check-only")
    document = json.loads(out)
    waited = _run(*flags, "status", str(document["id"]), "--wait", "--interval", "0.1")

    assert code == 0, err
    assert document["check_only"] is True
    assert document["state_changes"][0]["note"] == f"Uploaded. {CHECK_ONLY}"
    assert waited[0] == 1
    assert "sub-stroke0100.nii.gz is 6x5x3 voxels but case sub-stroke0100 is 6x5x4." in waited[1]
    request = urllib.request.Request(
        f"{live_server.url}/api/submissions/{document['id']}/",
        headers={"Authorization": f"Token {flags[-1]}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        api: dict[str, Any] = json.load(answer)
    assert api["check_only"] is True
    assert api["status"] == "FAILED"


def test_submit_algorithm_check_only_starts_a_check_only_upload(
    live_server: LiveServer, algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    root_image = {"architecture": "amd64", "os": "linux", "config": {"User": "0", "Cmd": ["/bin/predict"]}}
    archive = image_archive_write(tmp_path / "image.tar", config=root_image)
    flags = _flags(live_server, algorithm_phase.participant)

    code, out, err = _run(
        *flags, "--json", "submit-algorithm", algorithm_phase.phase.slug, str(archive), "--check-only"
    )

    upload = json.loads(out)
    attempt = Submission.objects.get()
    assert code == 0, err
    assert upload["check_only"] is True
    assert upload["submission"] == attempt.pk
    assert "then its sanity case runs (check only: not scored, not counted)" in err
    assert attempt.check_only
    assert attempt.status == "FAILED"
    assert "root" in attempt.problems[0]
