"""Running a check of participant files in a child process, under a memory and a wall-clock budget.

A check reads files a participant made, so one crafted file must not grow the worker without limit or keep
the single check queue busy: the work runs in a child forked from the worker, its address space limited
with ``setrlimit(RLIMIT_AS)`` (and its CPU time, so a child left behind ends on its own), and it is killed
when its time is up. The child says which file it is reading as it goes, so a breach becomes a sentence
naming the file. Forking (not a fresh interpreter) costs milliseconds and needs no import in the child;
it works from Celery's daemonic pool processes, where ``multiprocessing`` refuses to start children.

No Django here: the work is a plain function, and its result a list of sentences.
"""

import json
import os
import resource
import select
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Final, NoReturn

__all__ = ["BudgetExceeded", "CheckBudget", "CheckCrashed", "Progress", "bounded_call"]

Progress = Callable[[str], None]
"""Called by the work with the name of the file it starts reading."""

# CPU seconds a child may use beyond its wall-clock budget before the kernel ends it (only a child whose
# parent died, and so never killed it, ever gets there).
_CPU_MARGIN_SECONDS: Final = 30
_READ_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class CheckBudget:
    """How long a check may take and how much memory it may add to the worker's."""

    seconds: float
    memory_bytes: int


class BudgetExceeded(Exception):
    """The check ran out of time or memory; the message is a sentence that names the file being read."""


class CheckCrashed(Exception):
    """The child failed in a way that is not the budget's: a bug of ours, with the child's traceback."""


def bounded_call(work: Callable[[Progress], list[str]], *, budget: CheckBudget) -> list[str]:
    """Run ``work(progress)`` in a forked child under ``budget`` and return its list of sentences.

    Raises ``BudgetExceeded`` (a sentence naming the file last reported through ``progress``) when the
    child takes longer than ``budget.seconds`` (it is killed) or needs more than ``budget.memory_bytes``
    on top of what it inherited; ``CheckCrashed`` when it raises anything else or dies of a signal.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child_run(work, write_end=write_end, budget=budget)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        messages, finished = _messages_read(pipe, deadline=time.monotonic() + budget.seconds)
    if not finished:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    reading = next((message["reading"] for message in reversed(messages) if "reading" in message), None)
    where = "" if reading is None else f" (while reading {reading})"
    if not finished:
        raise BudgetExceeded(
            f"Checking took longer than its {budget.seconds:g} s{where}; send smaller or fewer files."
        )
    outcome = messages[-1] if messages else {}
    if "memory" in outcome:
        raise BudgetExceeded(
            f"Checking needed more than its {budget.memory_bytes / 1e6:,.0f} MB of memory{where}; "
            "send masks on the cases' grids."
        )
    result = outcome.get("result")
    if isinstance(result, list) and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return [str(sentence) for sentence in result]
    raise CheckCrashed(
        str(outcome.get("error") or f"The check's child process ended with status {status}{where}.")
    )


def _messages_read(pipe: IO[bytes], *, deadline: float) -> tuple[list[dict[str, object]], bool]:
    """Read the child's JSON lines until it closes the pipe (True) or the deadline passes (False)."""
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
            return _messages(buffer), False
        chunk = os.read(pipe.fileno(), _READ_BYTES)
        if not chunk:
            return _messages(buffer), True
        buffer += chunk


def _messages(buffer: bytes) -> list[dict[str, object]]:
    messages = []
    for line in buffer.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # a line cut by the kill
        if isinstance(message, dict):
            messages.append(message)
    return messages


def _child_run(work: Callable[[Progress], list[str]], *, write_end: int, budget: CheckBudget) -> NoReturn:
    """The child: limit itself, run the work, report on the pipe, and leave without running any of the
    parent's clean-up (``os._exit``: no atexit handlers, no flushing of the parent's buffers)."""
    code = 1
    try:
        with os.fdopen(write_end, "w", encoding="utf-8", errors="backslashreplace") as pipe:

            def send(message: dict[str, object]) -> None:
                pipe.write(json.dumps(message) + "\n")
                pipe.flush()

            try:
                _limits_set(budget)
                result = work(lambda name: send({"reading": name}))
                send({"result": list(result)})
                code = 0
            except MemoryError:
                send({"memory": True})
            except BaseException:  # everything, SystemExit included: the parent decides what it means
                send({"error": traceback.format_exc()})
    finally:
        os._exit(code)


def _limits_set(budget: CheckBudget) -> None:
    """Cap the address space at what the child inherited plus the budget, and its CPU time."""
    cpu_seconds = int(budget.seconds) + _CPU_MARGIN_SECONDS
    _limit_lower(resource.RLIMIT_CPU, cpu_seconds)
    inherited = _address_space_bytes()
    if inherited is not None:
        _limit_lower(resource.RLIMIT_AS, inherited + budget.memory_bytes)


def _limit_lower(kind: int, value: int) -> None:
    """Set a resource limit to ``value``, or leave it where the system already holds it lower."""
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _address_space_bytes() -> int | None:
    """This process's virtual memory size (Linux's /proc); None where the system does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
