"""``isles submissions``, ``--json`` and the error sentences against a live portal: the JSON printed is
the API's answer as it came, and every refusal is the API's sentence with its code."""

import http.server
import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token

from inference.client import main
from portal.submissions.models import Submission
from tests.portal.submissions import conftest as submissions_fixtures
from tests.portal.submissions.conftest import OpenPhase, good_masks, zip_bytes

pytestmark = pytest.mark.django_db(transaction=True)

open_phase = submissions_fixtures.open_phase


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _api(live_server: LiveServer, token: str, path: str) -> Any:
    request = urllib.request.Request(live_server.url + path, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@pytest.fixture
def token(open_phase: OpenPhase) -> str:
    return Token.objects.create(user=open_phase.participant).key


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "predictions.zip"
    path.write_bytes(zip_bytes(good_masks()))
    return path


@pytest.fixture
def flags(live_server: LiveServer, token: str) -> tuple[str, ...]:
    return ("--url", live_server.url, "--token", token)


def test_submissions_lists_the_teams_submissions_newest_first_with_their_states(
    open_phase: OpenPhase, flags: tuple[str, ...], archive: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(zip_bytes({"sub-stroke0100.nii.gz": b"not a mask"}))
    first = _run(*flags, "submit", open_phase.phase.slug, str(archive))[1].strip()
    second = _run(*flags, "submit", open_phase.phase.slug, str(broken))[1].strip()

    code, out, err = _run(*flags, "submissions", open_phase.phase.slug)

    header, *rows = out.splitlines()
    assert code == 0, err
    assert header.split() == ["id", "created", "status", "final", "by"]
    assert [(row.split()[0], row.split()[3]) for row in rows] == [(second, "FAILED"), (first, "SUCCEEDED")]
    assert all(row.split()[-1] == "Penumbra" for row in rows)


def test_submissions_of_a_phase_without_any_says_so(open_phase: OpenPhase, flags: tuple[str, ...]) -> None:
    code, out, _ = _run(*flags, "submissions", open_phase.phase.slug)

    assert code == 0
    assert out == f"You have no submission to {open_phase.phase.slug} yet.\n"


def test_json_of_submissions_status_and_leaderboard_is_the_apis_answer_as_it_came(
    live_server: LiveServer, open_phase: OpenPhase, token: str, flags: tuple[str, ...], archive: Path
) -> None:
    slug = open_phase.phase.slug
    submitted = _run(*flags, "--json", "submit", slug, str(archive))
    submission_id = json.loads(submitted[1])["id"]

    listed = _run(*flags, "--json", "submissions", slug)
    status = _run(*flags, "status", str(submission_id), "--wait", "--interval", "0.1", "--json")
    board = _run(*flags, "--json", "leaderboard", slug)

    assert submitted[0] == listed[0] == status[0] == board[0] == 0
    assert submission_id == Submission.objects.get().pk
    assert "100%" in submitted[2]  # the progress bar stays on stderr
    assert json.loads(listed[1]) == _api(live_server, token, f"/api/phases/{slug}/submissions/")
    assert json.loads(status[1]) == _api(live_server, token, f"/api/submissions/{submission_id}/")
    assert f"Submission {submission_id}: SUCCEEDED" in status[2]  # the changes went to stderr
    assert json.loads(board[1]) == _api(live_server, token, f"/api/phases/{slug}/leaderboard/")


def test_a_refusal_is_the_apis_sentence_and_with_json_its_code_too(
    open_phase: OpenPhase, flags: tuple[str, ...], archive: Path
) -> None:
    open_phase.phase.total_submission_limit = 0
    open_phase.phase.save()
    sentence = "Your team has used all 0 submissions of this phase."

    plain = _run(*flags, "submit", open_phase.phase.slug, str(archive))
    as_json = _run(*flags, "--json", "submit", open_phase.phase.slug, str(archive))

    assert plain[0] == as_json[0] == 1
    assert plain[1] == ""
    assert plain[2].splitlines()[-1] == f"isles: {sentence}"
    assert json.loads(as_json[1]) == {"code": "total_limit", "detail": sentence}
    assert as_json[2].splitlines()[-1] == f"isles: {sentence}"


def test_an_unknown_phase_with_json_is_a_not_found_document(flags: tuple[str, ...]) -> None:
    code, out, err = _run(*flags, "submissions", "no-such-phase", "--json")

    assert code == 1
    assert json.loads(out) == {
        "code": "not_found",
        "detail": "There is no phase 'no-such-phase' you can see.",
    }
    assert err == "isles: There is no phase 'no-such-phase' you can see.\n"


def test_a_refused_connection_says_what_to_do_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLES_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ISLES_TOKEN", "anything")

    code, out, err = _run("--json", "submissions", "a-phase")

    assert code == 1
    assert json.loads(out)["code"] == "unreachable"
    assert err.startswith("isles: Cannot reach the portal at http://127.0.0.1:9:")
    assert err.endswith(
        "check the address (--url or ISLES_URL) and your network, then run the command again.\n"
    )


class _BadGateway(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the client's output."""


@pytest.fixture
def bad_gateway() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_5xx_page_is_a_sentence_saying_what_to_do_not_the_page(bad_gateway: str) -> None:
    code, out, err = _run("--url", bad_gateway, "--token", "anything", "--json", "status", "1")

    assert code == 1
    assert json.loads(out)["code"] == "server_error"
    assert err == (
        "isles: The portal failed (HTTP 502); wait a few minutes and run the command again, and tell the"
        " challenge's organizers if it keeps failing.\n"
    )


def test_a_usage_error_with_json_is_a_json_sentence_and_exit_status_2() -> None:
    unknown = _run("--json", "team-quit", "isles24")
    missing = _run("team-remove", "isles24", "--json")

    assert (unknown[0], unknown[2]) == (2, "")
    assert json.loads(unknown[1])["error"].startswith("Argument command: invalid choice: 'team-quit'")
    assert json.loads(unknown[1])["error"].endswith("; run `isles --help` for the usage.")
    assert (missing[0], missing[2]) == (2, "")
    assert json.loads(missing[1]) == {
        "error": "The following arguments are required: user; run `isles team-remove --help` for the usage."
    }


def test_a_usage_error_without_json_is_argparses_usage_text() -> None:
    code, out, err = _run("team-remove", "isles24")

    assert (code, out) == (2, "")
    assert err.startswith("usage: isles team-remove [-h] [--json] challenge user\n")
    assert err.endswith("isles team-remove: error: the following arguments are required: user\n")
