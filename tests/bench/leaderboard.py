"""Benchmark of the leaderboard on PostgreSQL (make bench-leaderboard).

It creates its own database (``--database-url``, default ``postgres://postgres@127.0.0.1:5432/isles_bench``,
dropped and created afresh, and dropped at the end), migrates it, and bulk-creates one phase with
``--cases`` hidden test cases (with NIHSS and 90-day mRS) and ``--submissions`` scored submissions of as
many teams, each with every case's four metrics and volumes. It then prints:
- the time of ``leaderboard_rebuild`` (the ranks) after one new result (median of ``--repeats`` new
  submissions; goal: under 1 s), of the stability step it queues (``leaderboard_stability_rebuild``),
  and, for comparison, of ``evaluation.ranking``'s bootstrap alone on a table of the same size;
- the leaderboard API (``/api/phases/<slug>/leaderboard/``, first page of 100 entries) served by gunicorn
  with 2 workers, loaded for ``--seconds`` by ``--clients`` concurrent clients from a second process:
  p50 and p95 latency (goal: p95 under 100 ms) and requests per second.
"""

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
from numpy.typing import NDArray

from tests.bench.deployed_portal import (
    REPOSITORY,
    database_recreate,
    free_port,
    gunicorn_serving,
    portal_environment,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/isles_bench"
PHASE_SLUG = "bench-final"


def _environment(database_url: str, var_dir: str) -> dict[str, str]:
    """The deployed portal's settings on PostgreSQL, with what the load needs."""
    return portal_environment(
        database_url=database_url,
        var_dir=var_dir,
        # 20 clients from one address that the API's throttles would otherwise answer 429: DRF's user
        # throttle counts an anonymous client by its address too, so both rates are lifted.
        API_THROTTLE_ANON="100000/second",
        API_THROTTLE_USER="100000/second",
        # The rebuild queues the stability step; here it goes to a folder broker and is timed on its own.
        CELERY_TASK_ALWAYS_EAGER="0",
    )


def _populate(*, cases: int, submissions: int) -> None:
    """One public challenge and phase, its cases, and one scored submission per team, in bulk."""
    import datetime

    from django.utils import timezone

    from portal.accounts.models import ChallengeRole, Team, User
    from portal.challenges.models import Challenge, Phase, Split
    from portal.datasets.models import Case, Dataset
    from portal.submissions.models import Submission

    rng = np.random.default_rng(0)
    challenge = Challenge.objects.create(slug="bench", title="Benchmark challenge")
    dataset = Dataset.objects.create(challenge=challenge, slug="bench-release", title="Benchmark release")
    phase = Phase.objects.create(
        challenge=challenge,
        slug=PHASE_SLUG,
        title="Final",
        submission_kind=Phase.SubmissionKind.PREDICTIONS,
        opens_at=timezone.now() - datetime.timedelta(days=1),
        dataset=dataset,
        split=Split.TEST,
    )
    reference_ml = rng.gamma(2.0, 30.0, size=cases)
    Case.objects.bulk_create(
        Case(
            dataset=dataset,
            name=f"sub-stroke{index:04d}",
            split=Split.TEST,
            admission_data={"demographic_baseline": {"nihss_admission": int(min(42, 2 + volume / 8))}},
            outcome_data={"outcome": {"mrs_90d": int(min(6, volume / 30))}},
        )
        for index, volume in enumerate(reference_ml)
    )
    case_ids = list(Case.objects.filter(dataset=dataset).order_by("name").values_list("pk", flat=True))
    users = User.objects.bulk_create(
        User(username=f"bench{index}", email=f"bench{index}@example.org", password="!")
        for index in range(submissions)
    )
    ChallengeRole.objects.bulk_create(
        ChallengeRole(user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT) for user in users
    )
    teams = Team.objects.bulk_create(
        Team(challenge=challenge, name=f"Team {index}") for index in range(submissions)
    )
    rows = Submission.objects.bulk_create(
        Submission(
            phase=phase,
            creator=user,
            team=team,
            kind=phase.submission_kind,
            file="submissions/bench.zip",
            sha256="0" * 64,
            size_bytes=1,
            status=Submission.Status.SUCCEEDED,
        )
        for user, team in zip(users, teams, strict=True)
    )
    for submission in rows:
        _results_create(submission=submission, case_ids=case_ids, reference_ml=reference_ml, rng=rng)


def _results_create(
    *, submission: object, case_ids: list[int], reference_ml: NDArray[np.float64], rng: np.random.Generator
) -> None:
    """Every case's result for a submission of a random skill, with its predicted and reference volumes."""
    from portal.submissions.models import CaseResult

    skill = float(rng.uniform(0.1, 0.8))
    dice = np.clip(rng.normal(skill, 0.2, size=len(case_ids)), 0.0, 1.0)
    predicted = np.maximum(0.0, reference_ml * rng.normal(1.0, 0.3, size=len(case_ids)))
    CaseResult.objects.bulk_create(
        CaseResult(
            submission=submission,
            case_id=case_id,
            metrics={
                "dice": float(dice[index]),
                "absolute_volume_difference_ml": float(abs(predicted[index] - reference_ml[index])),
                "absolute_lesion_count_difference": int(rng.integers(0, 6)),
                "lesion_f1": float(np.clip(dice[index] + rng.normal(0, 0.1), 0.0, 1.0)),
                "predicted_volume_ml": float(predicted[index]),
                "reference_volume_ml": float(reference_ml[index]),
            },
        )
        for index, case_id in enumerate(case_ids)
    )


def _rebuild_times(*, repeats: int) -> tuple[float, list[float], list[float]]:
    """The rebuild (ranks) and its stability step from scratch, then the ranks and the stability after
    each of ``repeats`` new scored submissions."""
    from portal.accounts.models import ChallengeRole, Team, User
    from portal.challenges.models import Phase
    from portal.leaderboards.services import leaderboard_rebuild, leaderboard_stability_rebuild
    from portal.submissions.models import CaseResult, Submission

    phase = Phase.objects.get(slug=PHASE_SLUG)
    started = time.perf_counter()
    leaderboard_rebuild(phase=phase)
    leaderboard_stability_rebuild(phase=phase)
    first = time.perf_counter() - started
    case_ids = list(phase.dataset.cases.order_by("name").values_list("pk", flat=True))
    some_results = CaseResult.objects.filter(submission=Submission.objects.filter(phase=phase).first())
    reference_ml = np.array(
        [result.metrics["reference_volume_ml"] for result in some_results.order_by("case__name")], dtype=float
    )
    rng = np.random.default_rng(1)
    after_one, stability = [], []
    for index in range(repeats):
        user = User.objects.create(username=f"late{index}", email=f"late{index}@example.org", password="!")
        ChallengeRole.objects.create(
            user=user, challenge=phase.challenge, role=ChallengeRole.Role.PARTICIPANT
        )
        team = Team.objects.create(challenge=phase.challenge, name=f"Late team {index}")
        submission = Submission.objects.create(
            phase=phase,
            creator=user,
            team=team,
            kind=phase.submission_kind,
            file="submissions/bench.zip",
            sha256="0" * 64,
            size_bytes=1,
            status=Submission.Status.SUCCEEDED,
        )
        _results_create(submission=submission, case_ids=case_ids, reference_ml=reference_ml, rng=rng)
        started = time.perf_counter()
        leaderboard_rebuild(phase=phase)
        after_one.append(time.perf_counter() - started)
        started = time.perf_counter()
        leaderboard_stability_rebuild(phase=phase)
        stability.append(time.perf_counter() - started)
    return first, after_one, stability


def _bootstrap_time(arguments: argparse.Namespace) -> float:
    """The pure ranking package's share: 1000 bootstrap samples of a random table of the bench's size."""
    from evaluation.ranking import RankedMetric, bootstrap_rank_stability

    rng = np.random.default_rng(2)
    table = {
        f"s{submission}": {
            f"c{case}": {"dice": float(rng.uniform()), "volume": float(rng.uniform(0, 50))}
            for case in range(arguments.cases)
        }
        for submission in range(arguments.submissions + arguments.repeats)
    }
    metrics = [RankedMetric("dice", True), RankedMetric("volume", False)]
    started = time.perf_counter()
    bootstrap_rank_stability(table, metrics, samples=1000, seed=0)
    return time.perf_counter() - started


def load(url: str, *, clients: int, seconds: float) -> None:
    """Request ``url`` from ``clients`` threads for ``seconds``; print latencies and throughput."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                    ok = response.status == 200
            except OSError as error:
                ok = False
                body = error.read().decode(errors="replace")[:200] if hasattr(error, "read") else ""
                with lock:
                    errors.append(f"{error} {body}".strip())
            elapsed = time.perf_counter() - started
            if ok:
                with lock:
                    latencies.append(elapsed)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    cut = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    print(
        f"API {clients} clients, {wall:.1f} s: {len(latencies)} answers, {len(errors)} errors, "
        f"{len(latencies) / wall:.0f} requests/s, p50 {cut[49] * 1000:.1f} ms, p95 {cut[94] * 1000:.1f} ms "
        f"(goal: p95 < 100 ms)"
    )
    for error, count in collections.Counter(errors).most_common(3):
        print(f"  {count} errors: {error}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("ISLES_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--submissions", type=int, default=500)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)  # the load process itself
    arguments = parser.parse_args(argv)
    if arguments.load:
        load(arguments.load, clients=arguments.clients, seconds=arguments.seconds)
        return

    # The portal's files and its database last only as long as the benchmark, even when it fails.
    with tempfile.TemporaryDirectory(prefix="isles-bench-") as var_dir:
        environment = _environment(arguments.database_url, var_dir)
        os.environ.update(environment)
        database_recreate(arguments.database_url)
        try:
            _measure(arguments=arguments, environment=environment)
        finally:
            from django.db import connections

            connections.close_all()
            database_recreate(arguments.database_url, create=False)


def _measure(*, arguments: argparse.Namespace, environment: dict[str, str]) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _populate(cases=arguments.cases, submissions=arguments.submissions)
    print(
        f"Created {arguments.submissions} submissions x {arguments.cases} cases x 4 metrics "
        f"in {time.perf_counter() - started:.1f} s"
    )
    first, after_one, stability = _rebuild_times(repeats=arguments.repeats)
    print(f"ranks and stability from scratch: {first:.2f} s (clinical correlations of every entry)")
    print(
        f"leaderboard_rebuild (ranks) after one new result: median {statistics.median(after_one):.2f} s "
        f"(runs: {', '.join(f'{value:.2f}' for value in after_one)}; goal: < 1 s)"
    )
    print(
        f"leaderboard_stability_rebuild after it (bootstrap, pairwise tests, one new correlation): median "
        f"{statistics.median(stability):.2f} s (runs: {', '.join(f'{value:.2f}' for value in stability)})"
    )
    print(f"evaluation.ranking.bootstrap_rank_stability alone, same size: {_bootstrap_time(arguments):.2f} s")
    from django.db import connections

    connections.close_all()
    _serve_and_load(arguments=arguments, environment=environment)


def _serve_and_load(*, arguments: argparse.Namespace, environment: dict[str, str]) -> None:
    port = free_port()
    path = f"/api/phases/{PHASE_SLUG}/leaderboard/"
    url = f"http://127.0.0.1:{port}{path}"
    with gunicorn_serving(environment=environment, port=port, ready_path=path):
        with urllib.request.urlopen(url, timeout=30) as response:
            size = len(response.read())
        print(f"API answer: {size / 1024:.0f} KiB for the first 100 entries")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.bench.leaderboard",
                "--load",
                url,
                "--clients",
                str(arguments.clients),
                "--seconds",
                str(arguments.seconds),
            ],
            cwd=REPOSITORY,
            check=True,
        )


if __name__ == "__main__":
    main()
