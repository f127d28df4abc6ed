"""``make demo`` as a new user runs it: a fresh VAR_DIR, no services, a web server and a worker; then the
final phase as the participant tries it with the printed commands, on the local Docker engine; then
Ctrl-C, which stops every process the demo started within a bounded time, even when the demo was started
with SIGINT ignored (as a shell script starts a program in the background, and as CI runs the tests).
Whatever happens, the test leaves no process behind."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 30
"""The demo's stop (its grace time, then SIGKILL) with room for a loaded machine."""


def _descendants(pid: int) -> set[int]:
    """The processes started by ``pid``, at any depth, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie waiting to be reaped does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_until(process: subprocess.Popen[str], pattern: str, *, timeout_s: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"'{pattern}' was never printed; the command printed:\n{''.join(lines)}")


def _participant_submits_the_baseline_image_with_the_cli(*, printed: str, var_dir: Path) -> None:
    """What the demo prints for the final phase, done as the participant: save the image, submit it with
    ``isles``, follow its jobs, read the sanity case's log and find the team on the leaderboard."""
    commands = re.findall(
        r"^  (\S+/isles --url \S+ --token \S+) submit-algorithm (\S+) (\S+)$", printed, re.M
    )
    assert commands, printed
    isles, phase_slug, archive = commands[0]
    subprocess.run(
        f"docker save isles-reference/threshold | gzip > {archive}", shell=True, check=True, timeout=120
    )

    def run(arguments: str) -> str:
        done = subprocess.run(
            f"{isles} {arguments}", shell=True, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    submission_id = run(f"submit-algorithm {phase_slug} {archive}").strip()
    jobs = run(f"jobs {submission_id} --wait --interval 1")
    log = run(f"logs {submission_id}")
    leaderboard = _eventually(lambda: run(f"leaderboard {phase_slug}"), contains="Demo team")

    assert re.search(r"sub-stroke\d+ \(sanity case\)  SUCCEEDED", jobs)
    assert jobs.endswith(f"Submission {submission_id}: SUCCEEDED\n")
    assert re.search(r"threshold: \d+ lesion voxels of \d+ written", log)
    assert "Baseline: threshold (Tmax > 6 s)" in leaderboard


def _eventually(read: Callable[[], str], *, contains: str, timeout_s: float = 60) -> str:
    """``read()`` once it contains ``contains`` (the leaderboard is rebuilt just after a scoring)."""
    deadline = time.monotonic() + timeout_s
    while contains not in (text := read()) and time.monotonic() < deadline:
        time.sleep(1)
    return text


@pytest.mark.integration
def test_demo_command_serves_the_demo_challenge_and_stops_on_ctrl_c(
    tmp_path: Path, docker_client: object
) -> None:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_URL", "CELERY_"))}
    env.update({"VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "portal.settings"})
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # As a program started in the background by a shell script inherits it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    started: set[int] = set()
    try:
        # The first demo on a machine builds the baseline's image offline (about two minutes).
        printed = "".join(_read_until(demo, r"running at http://", timeout_s=420))
        assert re.search(r"participant\s+participant\s+\S+\s+[0-9a-f]{40}", printed)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/challenges/isles24-demo/", timeout=10) as page:
            assert "final infarct from acute CT" in page.read().decode()
        assert (tmp_path / "portal.sqlite3").exists()
        assert _worker_ready(tmp_path / "logs" / "worker.log"), "the Celery worker never said it was ready"
        _participant_submits_the_baseline_image_with_the_cli(printed=printed, var_dir=tmp_path)
        after = "".join(_read_until(demo, r"waits for the reader", timeout_s=120))
        results = re.search(r"its results are at (\S+)\.$", after, re.M).group(1)
        with urllib.request.urlopen(results, timeout=10) as page:  # organizers only: the login page
            assert "/accounts/login/" in page.url
        # The baseline's two variants, submitted by teams of their own, run too; then the organizer's
        # majority vote of the three is built and its page printed (in either order with the study).
        assert len(re.findall(r"^Ensemble member: Baseline: .* is submission \d+\.$", printed, re.M)) == 2
        if "majority vote" not in after:
            after += "".join(_read_until(demo, r"majority vote", timeout_s=240))
        assert "the majority vote of 3 of them" in after, after
        ensemble = re.search(r"per-case comparison are at (\S+)\.$", after, re.M).group(1)
        with urllib.request.urlopen(ensemble, timeout=10) as page:  # organizers only: the login page
            assert "/accounts/login/" in page.url
        if "Its report (" not in after:  # printed on the line after the ensemble's
            after += "".join(_read_until(demo, r"^Its report \(", timeout_s=30))
        report = re.search(r"^Its report \(.*\) is at (\S+)\.$", after, re.M).group(1)
        assert report == ensemble.rstrip("/") + "/report/"
        with urllib.request.urlopen(report, timeout=10) as page:  # organizers only: the login page
            assert "/accounts/login/" in page.url
        started = _descendants(demo.pid)
        assert len(started) >= 3, "the web server, its workers and the Celery worker"

        # The organizer's ensemble validated on the second centre in one step: its members' re-runs run
        # on the worker and succeed, and so does the majority vote of the re-runs.
        if "External validation:" not in after:
            after += "".join(_read_until(demo, r"^External validation:", timeout_s=60))
        validation = re.search(r"^External validation: .* the re-runs are at (\S+)\.$", after, re.M).group(1)
        assert validation.endswith("/algorithms/phases/isles24-demo-external/validation/")
        with urllib.request.urlopen(validation, timeout=10) as page:  # organizers only: the login page
            assert "/accounts/login/" in page.url
        _organizer_sees_the_validation_succeed(printed=printed, after=after, port=port)

        stop_begins = time.monotonic()
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=STOP_SECONDS)

        assert time.monotonic() - stop_begins < STOP_SECONDS
        assert demo.returncode == 0
        assert [pid for pid in started if _running(pid)] == []
        assert not _port_in_use(port)
    finally:
        _kill_all({demo.pid, *started, *_descendants(demo.pid)})
        demo.wait(timeout=10)


def _organizer_sees_the_validation_succeed(*, printed: str, after: str, port: int) -> None:
    """What the organizer reads from the validation page's API with their printed token: the three
    re-runs succeeded with scores, and so did the ensemble of them."""
    token = re.search(r"^  organizer\s+organizer\s+\S+\s+([0-9a-f]{40})$", printed, re.M).group(1)
    ensemble_id = re.search(
        r"their majority vote is built once they have ended \(ensemble (\d+)\)", after
    ).group(1)

    def read(path: str) -> object:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    ended = ("SUCCEEDED", "FAILED", "CANCELLED")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = read("/api/phases/isles24-demo-external/validation-runs/")
        ensemble = read(f"/api/ensembles/{ensemble_id}/")
        if all(run["status"] in ended for run in runs) and ensemble["status"] in ended:
            break
        time.sleep(2)
    assert [(run["status"], run["error"]) for run in runs] == [("SUCCEEDED", "")] * 3
    assert all("dice" in run["metrics_mean"] for run in runs)
    assert (ensemble["status"], ensemble["error"]) == ("SUCCEEDED", ""), ensemble
    assert sorted(ensemble["members"]) == sorted(run["submission"] for run in runs)


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _worker_ready(log: Path, *, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and " ready." in log.read_text():
            return True
        time.sleep(0.5)
    return False
