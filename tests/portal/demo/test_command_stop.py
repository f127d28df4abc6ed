"""The demo stops its web server and worker within a bounded time, whatever they are doing: a process that
ignores SIGTERM (as a Celery worker in a long task waits for it) is killed with its whole group."""

import os
import signal
import subprocess
import time
from pathlib import Path

from portal.demo.management.commands.demo import _processes_stop

# A shell that ignores SIGTERM, with a child in its process group (as a worker's pool or beat).
STUBBORN = "trap '' TERM; sleep 60 & wait"


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for a parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone_within(pid: int, *, seconds: float) -> bool:
    """Whether the process has stopped running within ``seconds``: a SIGKILL sent to its group is delivered
    by the kernel in its own time, which a loaded machine stretches past the moment the stop returns."""
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_processes_that_ignore_sigterm_are_killed_with_their_group_after_the_grace_time() -> None:
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    stubborn = subprocess.Popen(["sh", "-c", STUBBORN], process_group=0)
    polite = subprocess.Popen(["sleep", "60"], process_group=0)
    try:
        time.sleep(0.3)
        child = int(subprocess.check_output(["pgrep", "-g", str(stubborn.pid), "sleep"]).split()[0])
        started = time.monotonic()

        _processes_stop((stubborn, polite), grace_s=1.0)

        assert time.monotonic() - started < 5
        assert stubborn.returncode == -signal.SIGKILL
        assert polite.returncode == -signal.SIGTERM
        assert _gone_within(child, seconds=2.0)
    finally:
        for process in (stubborn, polite):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for number, handler in previous.items():
            signal.signal(number, handler)
