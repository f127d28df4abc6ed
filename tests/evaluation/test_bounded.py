"""A check run in a child process: its result comes back, and a breach of its time or memory budget is a
sentence naming the file it was reading, not a worker grown or blocked."""

import os
import time

import numpy as np
import pytest

from evaluation.bounded import BudgetExceeded, CheckBudget, CheckCrashed, Progress, bounded_call

BUDGET = CheckBudget(seconds=20, memory_bytes=256 * 1024**2)


def test_bounded_call_returns_the_checks_sentences_from_another_process() -> None:
    def work(progress: Progress) -> list[str]:
        progress("sub-stroke0100.nii.gz")
        return [f"checked in {os.getpid()}"]

    [sentence] = bounded_call(work, budget=BUDGET)

    assert sentence != f"checked in {os.getpid()}"


def test_a_check_over_its_time_is_stopped_and_named() -> None:
    def work(progress: Progress) -> list[str]:
        progress("sub-stroke0100.nii.gz")
        time.sleep(60)
        return []

    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as breach:
        bounded_call(work, budget=CheckBudget(seconds=1, memory_bytes=BUDGET.memory_bytes))

    assert time.monotonic() - started < 10
    assert str(breach.value) == (
        "Checking took longer than its 1 s (while reading sub-stroke0100.nii.gz); send smaller or fewer "
        "files."
    )


def test_a_check_over_its_memory_is_stopped_and_named() -> None:
    def work(progress: Progress) -> list[str]:
        progress("sub-stroke0101.mha")
        return [str(np.ones(2 * 1024**3, np.uint8).sum())]

    with pytest.raises(BudgetExceeded) as breach:
        bounded_call(work, budget=BUDGET)

    assert str(breach.value) == (
        "Checking needed more than its 268 MB of memory (while reading sub-stroke0101.mha); send masks on "
        "the cases' grids."
    )


def test_a_check_that_fails_otherwise_is_our_error_with_its_traceback() -> None:
    def work(progress: Progress) -> list[str]:
        raise KeyError("a bug of ours")

    with pytest.raises(CheckCrashed, match="KeyError: 'a bug of ours'"):
        bounded_call(work, budget=BUDGET)
