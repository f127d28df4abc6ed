"""Benchmark of GPU workers on hosts of their own (make bench-workers).

The portal runs as a deployment would (gunicorn, DEBUG off, its own PostgreSQL database ``--database-url``
made afresh, a Redis broker ``--broker-url``); each gpu worker is ``python -m inference.remote_worker`` with
its own home, cache and temporary folder, no database and no share of the portal's disk, fetching every
file through the worker API's signed links. The algorithm is a busybox container that sleeps
``--sleep-s`` (2 s), then copies its DWI input to its output; ``--container-io`` says how the workers give
a job's files to its container (volumes, the default, or bind). It prints:

- the makespan of ``--jobs`` jobs (two teams, one submission each) on one worker and on two, and the
  throughput ratio (goal: at least 1.8x);
- the platform's overhead per job on one worker: the makespan divided by the jobs, less the sleep
  (claiming, fetching and staging, starting the container, collecting, reporting; goal: at most 1 s);
- under a 10:1 load on two workers (one team's ``--jobs`` jobs queued, then another team's tenth as many
  and its sanity case, ``--late-s`` later), each team's p50 and p95 wait from queued to started, and the
  small team's sanity case's wait: it runs when the next worker is free (at most one job per worker), and
  then the two teams share the workers, one each, not the big team's queue first.

Needs PostgreSQL, Redis and a Docker engine with busybox-static on the host.
"""

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

from tests.bench.deployed_portal import (
    database_recreate,
    free_port,
    gunicorn_serving,
    portal_environment,
    process_running,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/isles_bench_workers"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"
SHAPE = [32, 32, 16]
SPACING_MM = [1.0, 1.0, 3.0]
INPUTS = ("dwi-brain-mri", "adc-brain-mri", "flair-brain-mri")
COPY_DWI = (
    "mkdir -p /output/images/stroke-lesion-segmentation"
    " && cp /input/images/dwi-brain-mri/*.mha /output/images/stroke-lesion-segmentation/output.mha"
)


def _environment(*, database_url: str, broker_url: str, var_dir: str, portal_url: str) -> dict[str, str]:
    return portal_environment(
        database_url=database_url,
        var_dir=var_dir,
        CELERY_BROKER_URL=broker_url,
        ISLES_PORTAL_URL=portal_url,
    )


def _wait(what: str, check: object, *, seconds: float, logs: Sequence[Path]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    shown = "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-2000:]}" for log in logs if log.exists())
    raise RuntimeError(f"Waited {seconds:.0f} s for {what}.\n{shown}")


class JobTimes(NamedTuple):
    """When a job was queued, started and ended (epoch seconds), how, whose and whether a sanity job."""

    queued: float
    started: float
    finished: float
    status: str
    team: int
    is_sanity: bool


class Portal:
    """The bench's phase, teams and image in the database, and the runs it queues."""

    def __init__(self, *, archive: Path, cases: int) -> None:
        import datetime
        import hashlib

        from django.core.files.base import ContentFile
        from django.utils import timezone

        from inference.image_checks import image_tar_inspect
        from portal.accounts.models import ChallengeRole, Team, TeamMembership, User
        from portal.algorithms.models import AlgorithmSettings
        from portal.challenges.models import Challenge, Phase, Split
        from portal.datasets.models import Case, Dataset, Image
        from tests.portal.datasets.factories import nifti_bytes

        challenge = Challenge.objects.create(slug="bench-workers", title="Workers benchmark")
        dataset = Dataset.objects.create(challenge=challenge, slug="bench", title="Bench cases")
        self.phase = Phase.objects.create(
            challenge=challenge,
            slug="bench-final",
            title="Final",
            submission_kind=Phase.SubmissionKind.ALGORITHM,
            dataset=dataset,
            split=Split.TEST,
            opens_at=timezone.now() - datetime.timedelta(days=1),
            closes_at=timezone.now() + datetime.timedelta(days=1),
        )
        AlgorithmSettings.objects.create(
            phase=self.phase,
            interface_set=AlgorithmSettings.InterfaceSetName.ISLES22,
            time_limit_s=60,
            memory_gb=0.25,
            cpus=0.5,
            pids=32,
            tmpfs_mb=16,
            output_max_mb=16,
        )
        content = nifti_bytes(shape=SHAPE, spacing_mm=SPACING_MM, fill=3)
        digest = hashlib.sha256(content).hexdigest()
        self.cases = []
        for index in range(cases + 1):
            case = Case.objects.create(
                dataset=dataset,
                name=f"sub-stroke{index:04d}",
                split=Split.TRAIN if index == 0 else Split.TEST,
            )
            for interface in INPUTS:
                Image.objects.create(
                    case=case,
                    interface=interface,
                    file=ContentFile(content, name=f"{interface}.nii.gz"),
                    sha256=digest,
                    size_bytes=len(content),
                    shape=SHAPE,
                    spacing_mm=SPACING_MM,
                    pixel_type="int16",
                )
            self.cases.append(case)
        self.sanity_case, self.cases = self.cases[0], self.cases[1:]
        self.teams = []
        for name in ("team-a", "team-b"):
            user = User.objects.create_user(
                username=f"{name}-captain", email=f"{name}@bench.invalid", password=secrets.token_urlsafe()
            )
            ChallengeRole.objects.create(challenge=challenge, user=user, role=ChallengeRole.Role.PARTICIPANT)
            team = Team.objects.create(challenge=challenge, name=name)
            TeamMembership.objects.create(team=team, user=user, challenge=challenge)
            self.teams.append((team, user))
        self.archive_content = archive.read_bytes()
        self.image_id = image_tar_inspect(archive, max_size_bytes=1 << 30).image_id

    def submission(self, *, team_index: int, cases: int, sanity_waits: bool) -> int:
        """An EVALUATING submission of the team with ``cases`` queued jobs, and its sanity job queued
        before them when ``sanity_waits``, else already succeeded."""
        import hashlib

        from django.core.files.base import ContentFile
        from django.utils import timezone

        from portal.algorithms.models import AlgorithmImage, Job
        from portal.challenges.models import Phase
        from portal.submissions.models import Submission

        team, user = self.teams[team_index]
        digest = hashlib.sha256(self.archive_content + secrets.token_bytes(8)).hexdigest()
        submission = Submission.objects.create(
            phase=self.phase,
            creator=user,
            team=team,
            kind=Phase.SubmissionKind.ALGORITHM,
            status=Submission.Status.EVALUATING,
            sha256=digest,
            size_bytes=len(self.archive_content),
            file=ContentFile(self.archive_content, name="image.tar"),
        )
        AlgorithmImage.objects.create(
            submission=submission,
            phase=self.phase,
            file=ContentFile(self.archive_content, name="image.tar"),
            sha256=hashlib.sha256(self.archive_content).hexdigest(),
            size_bytes=len(self.archive_content),
            image_id=self.image_id,
            status=AlgorithmImage.Status.ACCEPTED,
        )
        now = timezone.now()
        if sanity_waits:
            Job.objects.create(submission=submission, case=self.sanity_case, is_sanity=True)
        else:
            Job.objects.create(
                submission=submission,
                case=self.sanity_case,
                is_sanity=True,
                status=Job.Status.SUCCEEDED,
                started_at=now,
                finished_at=now,
            )
        Job.objects.bulk_create(Job(submission=submission, case=case) for case in self.cases[:cases])
        return int(submission.pk)

    @staticmethod
    def dispatch(count: int) -> None:
        from portal.algorithms.tasks import job_next_task

        for _ in range(count):
            job_next_task.delay()

    @staticmethod
    def jobs_of(submissions: Sequence[int]) -> list["JobTimes"]:
        """The times of each job a worker ran (not the sanity jobs made as already succeeded)."""
        from portal.algorithms.models import Job

        rows = Job.objects.filter(submission_id__in=submissions, attempt__gt=0)
        return [
            JobTimes(
                queued=job.queued_at.timestamp(),
                started=job.started_at.timestamp(),
                finished=job.finished_at.timestamp(),
                status=job.status,
                team=job.submission.team_id,
                is_sanity=job.is_sanity,
            )
            for job in rows.select_related("submission")
        ]

    @staticmethod
    def all_ended(submissions: Sequence[int]) -> bool:
        from portal.algorithms.models import Job

        waiting = (Job.Status.QUEUED, Job.Status.RUNNING)
        return not Job.objects.filter(submission_id__in=submissions, status__in=waiting).exists()


_JOB_ENDED = re.compile(
    r"claimed in (?P<claim>[\d.]+) s, run in (?P<run>[\d.]+) s \(staged in (?P<stage>[\d.]+) s, container"
    r" (?P<container>[\d.]+) s, collected in (?P<collect>[\d.]+) s\), reported in (?P<report>[\d.]+) s"
)


def _job_phases(logs: Sequence[Path]) -> dict[str, list[float]]:
    """Each phase's times, from the "Job N ended" lines of ``inference.remote_worker``'s logs."""
    phases: dict[str, list[float]] = {name: [] for name in _JOB_ENDED.groupindex}
    for log in logs:
        for found in _JOB_ENDED.finditer(log.read_text(errors="replace") if log.exists() else ""):
            for name, value in found.groupdict().items():
                phases[name].append(float(value))
    return {name: values for name, values in phases.items() if values}


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.workers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--sleep-s", type=float, default=2.0)
    parser.add_argument("--late-s", type=float, default=5.0)
    parser.add_argument(
        "--container-io",
        choices=("volumes", "bind"),
        default=os.environ.get("ISLES_CONTAINER_IO") or "volumes",
        help="how the workers give a job's files to its container (ISLES_CONTAINER_IO; default volumes)",
    )
    arguments = parser.parse_args(argv)

    import django
    import docker
    import redis

    from tests.inference.images import algorithm_images, engine_input_volumes, image_save

    database_recreate(arguments.database_url)
    redis.Redis.from_url(arguments.broker_url).flushdb()
    with tempfile.TemporaryDirectory(prefix="isles-bench-workers-") as folder, ExitStack() as stack:
        root = Path(folder)
        port = free_port()
        portal_url = f"http://127.0.0.1:{port}"
        environment = _environment(
            database_url=arguments.database_url,
            broker_url=arguments.broker_url,
            var_dir=str(root / "portal"),
            portal_url=portal_url,
        )
        os.environ.update(environment)
        django.setup()
        from django.core.management import call_command

        from portal.algorithms.remote import remote_worker_add

        call_command("migrate", verbosity=0)
        client = docker.from_env()
        build = stack.enter_context(algorithm_images(client, root / "images"))
        stack.enter_context(engine_input_volumes(client))  # the cases' input volumes go at the end
        archive = image_save(client, build(f"sleep {arguments.sleep_s}; {COPY_DWI}"), root / "image.tar")
        portal = Portal(archive=archive, cases=arguments.jobs)
        logs = [root / "gunicorn.log"]
        stack.enter_context(
            gunicorn_serving(
                environment=environment,
                port=port,
                options=("--workers", "2", "--threads", "4"),
                ready_path="/api/me/",
                log=logs[0],
            )
        )

        def workers_start(count: int) -> ExitStack:
            started = ExitStack()
            for index in range(count):
                home = root / f"gpu-host-{secrets.token_hex(3)}"
                (home / "tmp").mkdir(parents=True)
                _, key = remote_worker_add(name=home.name)
                log = home / "worker.log"
                logs.append(log)
                started.enter_context(
                    process_running(
                        [sys.executable, "-m", "inference.remote_worker"],
                        environment={
                            "PATH": os.environ["PATH"],
                            "HOME": str(home),
                            "TMPDIR": str(home / "tmp"),
                            "CELERY_BROKER_URL": arguments.broker_url,
                            "ISLES_PORTAL_URL": portal_url,
                            "ISLES_WORKER_KEY": key,
                            "ISLES_WORKER_CACHE_DIR": str(home / "cache"),
                            "ISLES_CONTAINER_IO": arguments.container_io,
                            "LOG_LEVEL": "INFO",
                            **{
                                name: value
                                for name, value in os.environ.items()
                                if name.startswith("DOCKER_")
                            },
                        },
                        log=log,
                    )
                )
                _wait(
                    f"worker {index + 1} to be ready",
                    lambda log=log: b" ready." in log.read_bytes(),
                    seconds=60,
                    logs=[log],
                )
            return started

        def run(workers: int, plan: Sequence[tuple[int, int, float, bool]]) -> list[JobTimes]:
            """Queue each (team, jobs, after seconds, sanity job waits) of ``plan`` on ``workers`` new
            workers; the times of the jobs."""
            with workers_start(workers):
                began = time.monotonic()
                submissions = []
                for team_index, jobs, after_s, sanity_waits in plan:
                    time.sleep(max(0.0, began + after_s - time.monotonic()))
                    submissions.append(
                        portal.submission(team_index=team_index, cases=jobs, sanity_waits=sanity_waits)
                    )
                    portal.dispatch(jobs + sanity_waits)
                _wait(
                    "every job to end",
                    lambda: portal.all_ended(submissions),
                    seconds=60 + 10 * sum(p[1] for p in plan),
                    logs=logs,
                )
            rows = portal.jobs_of(submissions)
            failed = [row for row in rows if row.status != "SUCCEEDED"]
            if failed:
                raise RuntimeError(f"{len(failed)} job(s) did not succeed; see the logs under {root}.")
            return rows

        half = arguments.jobs // 2
        makespans = {}
        for workers in (1, 2):
            rows = run(workers, [(0, half, 0.0, False), (1, arguments.jobs - half, 0.0, False)])
            makespans[workers] = max(row.finished for row in rows) - min(row.queued for row in rows)
            print(
                f"{arguments.jobs} jobs of {arguments.sleep_s:g} s on {workers} worker(s), "
                f"container I/O {arguments.container_io}: "
                f"{makespans[workers]:.1f} s ({arguments.jobs / makespans[workers]:.2f} jobs/s)"
            )
        print(f"throughput ratio, 2 workers / 1: {makespans[1] / makespans[2]:.2f}x (goal >= 1.8x)")
        phases = _job_phases(logs)
        print(
            "where a job's time goes (medians over the workers' logs): "
            + ", ".join(f"{name} {statistics.median(values):.2f} s" for name, values in phases.items())
        )
        overhead = makespans[1] / arguments.jobs - arguments.sleep_s
        print(
            f"platform overhead per job (1 worker, makespan / jobs - sleep): {overhead:.2f} s (goal <= 1 s)"
        )

        small = max(1, arguments.jobs // 10)
        rows = run(2, [(0, arguments.jobs, 0.0, False), (1, small, arguments.late_s, True)])
        for team_index, label in (
            (0, f"team A ({arguments.jobs} jobs)"),
            (1, f"team B ({small} jobs and its sanity case, {arguments.late_s:g} s later)"),
        ):
            team_id = portal.teams[team_index][0].pk
            waits = [row.started - row.queued for row in rows if row.team == team_id]
            print(
                f"10:1 load on 2 workers, {label}: wait p50 {statistics.median(waits):.1f} s, "
                f"p95 {_p95(waits):.1f} s"
            )
        (sanity,) = (row for row in rows if row.is_sanity)
        job_s = statistics.median(row.finished - row.started for row in rows)
        print(
            f"team B's sanity case waited {sanity.started - sanity.queued:.1f} s (a job takes {job_s:.1f} s;"
            " goal: at most one job per worker)"
        )
    redis.Redis.from_url(arguments.broker_url).flushdb()
    database_recreate(arguments.database_url, create=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
