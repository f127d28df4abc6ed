"""``isles submit-algorithm`` against a live portal: a chunked upload with a progress bar that resumes
from the portal's offset. The image's user is root, so its checks fail at once and nothing runs."""

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token

from inference.client import main
from portal.algorithms.models import AlgorithmSettings
from portal.submissions.models import Submission
from tests.inference.images import image_archive_write
from tests.portal.algorithms import conftest as algorithm_fixtures
from tests.portal.algorithms.conftest import COPY_DWI, AlgorithmPhase, chunk_put

pytestmark = pytest.mark.django_db(transaction=True)

algorithm_phase = algorithm_fixtures.algorithm_phase
ROOT_IMAGE = {"architecture": "amd64", "os": "linux", "config": {"User": "0", "Cmd": ["/bin/predict"]}}


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_submit_algorithm_resumes_an_upload_from_the_portals_offset_and_prints_the_submission(
    live_server: LiveServer, algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    archive = image_archive_write(
        tmp_path / "image.tar.gz", config=ROOT_IMAGE, layer_bytes=50_000, compress=True
    )
    content = archive.read_bytes()
    client = algorithm_phase.client_for(algorithm_phase.participant)
    upload_id = client.post(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/",
        {"total_bytes": len(content)},
        format="json",
    ).json()["id"]
    chunk_put(client, upload_id=upload_id, content=content, start=0, end=len(content) // 2)  # then cut
    token = Token.objects.create(user=algorithm_phase.participant).key

    code, out, err = _run(
        "--url", live_server.url, "--token", token,
        "submit-algorithm", algorithm_phase.phase.slug, str(archive), "--resume", upload_id,
    )  # fmt: skip

    submission = Submission.objects.get()
    assert code == 0, err
    assert out == f"{submission.pk}\n"
    assert "100%" in err
    assert submission.sha256 == hashlib.sha256(content).hexdigest()
    assert submission.status == "FAILED"
    assert "root" in submission.problems[0]


def test_submit_algorithm_to_a_phase_nobody_can_see_says_so(
    live_server: LiveServer, algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    archive = image_archive_write(tmp_path / "image.tar", config=ROOT_IMAGE)
    token = Token.objects.create(user=algorithm_phase.participant).key

    code, _, err = _run(
        "--url", live_server.url, "--token", token,
        "submit-algorithm", "no-such-phase", str(archive),
    )  # fmt: skip

    assert code == 1
    assert err == "isles: There is no phase 'no-such-phase' you can see.\n"


@pytest.mark.integration
def test_jobs_and_logs_follow_an_algorithm_case_by_case_and_show_the_sanity_cases_log(
    live_server: LiveServer, algorithm_phase: AlgorithmPhase, saved_image: Callable[[str], Path]
) -> None:
    token = Token.objects.create(user=algorithm_phase.participant).key
    flags = ("--url", live_server.url, "--token", token)
    _, out, _ = _run(*flags, "submit-algorithm", algorithm_phase.phase.slug, str(saved_image(COPY_DWI)))
    submission_id = out.strip()

    jobs_code, jobs_out, _ = _run(*flags, "jobs", submission_id, "--wait", "--interval", "0.2")
    hidden_code, _, hidden_err = _run(*flags, "logs", submission_id)
    AlgorithmSettings.objects.filter(phase=algorithm_phase.phase).update(logs_visible_to_participants=True)
    logs_code, logs_out, _ = _run(*flags, "logs", submission_id)
    case_code, _, case_err = _run(*flags, "logs", submission_id, "--case", "sub-stroke0101")

    assert jobs_code == 0
    assert "sub-stroke0001 (sanity case)  SUCCEEDED" in jobs_out
    assert "sub-stroke0101  SUCCEEDED" in jobs_out
    assert jobs_out.endswith(f"Submission {submission_id}: SUCCEEDED\n")
    assert (hidden_code, hidden_err) == (
        1,
        "isles: The log of sub-stroke0001 is not shown to you. This phase shows its jobs' logs to its "
        "organizers only.\n",
    )
    assert logs_code == 0
    assert logs_out.startswith("Job of sub-stroke0001: SUCCEEDED\n--- stdout (last lines) ---\nsegmenting\n")
    assert case_code == 1  # a hidden test case's log, whatever the phase's settings say
    assert "Logs of hidden test cases are shown to the organizers only" in case_err
