"""Benchmark of downloading a training split as one streamed archive (make bench-download).

A 10-case full-size synthetic ISLES'24 release (512x512x80 at 0.4x0.4x2 mm, every image of the layout,
about 2.3 GB) is written once into ``--cache`` (about a minute a case) and imported into a fresh portal
(SQLite, in a temporary folder) as a challenge's training split. gunicorn serves it as production does
(``--worker-class gthread``, one worker, 4 threads). The benchmark then prints, from one run:
- the time to download the split's archive over the loopback, reading it through sha256 (the least a
  client does), and ``isles download`` end to end (unpacks every file, checks each against the manifest,
  writes ``MANIFEST.sha256``), each against ``tar -cf - FILES | sha256sum`` over the release's same files
  with a warm page cache (goal: within 2x);
- the web worker's resident memory before, and its peak after a 1-case and after the 10-case archive,
  against the archive's size (goal: the peak does not grow with the archive).
"""

import argparse
import hashlib
import io
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from releases.synthetic import write_release
from tests.bench.deployed_portal import free_port, gunicorn_serving, portal_environment

CASES = 10
CHUNK_BYTES = 1 << 20
MIB = 2**20


def release_full_size(cache: Path) -> Path:
    """The 10-case full-size release under ``cache``, written the first time."""
    release = cache / "full-release"
    if not release.exists():
        partial = cache / "full-release.partial"
        shutil.rmtree(partial, ignore_errors=True)
        print(
            f"writing a {CASES}-case full-size synthetic release into {release} (about {CASES} minutes, once)"
        )
        write_release(partial, cases=CASES, seed=7, size="full")
        partial.rename(release)
    return release


def _populate(release: Path) -> tuple[str, list[str]]:
    """A challenge with the release imported as its training split, and a participant's API token."""
    from rest_framework.authtoken.models import Token

    from portal.accounts.models import ChallengeRole, User
    from portal.challenges.models import Challenge, Split
    from portal.datasets.models import Dataset
    from portal.datasets.services import isles24_import

    challenge = Challenge.objects.create(slug="bench", title="Benchmark challenge")
    dataset = Dataset.objects.create(challenge=challenge, slug="release", title="Release")
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    user = User.objects.create_user(username="participant", password=secrets.token_urlsafe(16))
    ChallengeRole.objects.create(user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT)
    names = sorted(dataset.cases.values_list("name", flat=True))
    return Token.objects.create(user=user).key, names


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}.")


def _worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"gunicorn should have one worker; it has {len(children)}.")
    return int(children[0])


def _archive_read(url: str, token: str) -> tuple[float, int]:
    """Seconds to download the archive, reading it through sha256, and its length."""
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    digest = hashlib.sha256()
    size = 0
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:  # our own loopback server
        while chunk := response.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return time.perf_counter() - started, size


def _tar_sha256(release: Path) -> float:
    """Seconds for ``tar -cf - . | sha256sum`` over the release folder (run twice: the second is timed)."""
    command = f"tar -cf - -C {release} . | sha256sum > /dev/null"
    subprocess.run(command, shell=True, check=True)  # a fixed pipeline of our own
    started = time.perf_counter()
    subprocess.run(command, shell=True, check=True)
    return time.perf_counter() - started


def _cli_download(base_url: str, token: str, out_dir: Path) -> float:
    from inference.client import main as isles

    started = time.perf_counter()
    code = isles(
        ["--url", base_url, "--token", token, "download", "bench", "--split", "train", str(out_dir)],
        out=io.StringIO(),
        err=io.StringIO(),
    )
    elapsed = time.perf_counter() - started
    if code != 0:
        raise RuntimeError("isles download failed.")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("VAR_DIR", "var")) / "bench-download",
        help="where the full-size release is kept between runs (default: $VAR_DIR/bench-download)",
    )
    arguments = parser.parse_args(argv)
    release = release_full_size(arguments.cache.resolve())
    with tempfile.TemporaryDirectory(prefix="bench-download-") as scratch:
        var_dir = Path(scratch) / "var"
        var_dir.mkdir()
        environment = portal_environment(
            database_url=f"sqlite:///{var_dir / 'db.sqlite3'}", var_dir=str(var_dir)
        )
        os.environ.update(environment)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        token, names = _populate(release)
        print(f"imported {len(names)} full-size cases in {time.perf_counter() - started:.1f} s")
        _measure(release=release, token=token, names=names, scratch=Path(scratch), environment=environment)


def _measure(
    *, release: Path, token: str, names: list[str], scratch: Path, environment: dict[str, str]
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    archive_url = f"{base_url}/api/challenges/bench/archive/?split=train"
    options = ("--worker-class", "gthread", "--workers", "1", "--threads", "4")
    with gunicorn_serving(
        environment=environment, port=port, options=options, ready_path="/health/"
    ) as server:
        worker = _worker_pid(server.pid)
        _archive_read(f"{base_url}/api/challenges/bench/files/?split=train", token)
        rss_before = _status_kib(worker, "VmRSS")
        _archive_read(f"{archive_url}&case={names[0]}", token)
        peak_one = _status_kib(worker, "VmHWM")
        _archive_read(archive_url, token)  # the page cache warmed, as for tar
        archive_s, archive_bytes = _archive_read(archive_url, token)
        peak_all = _status_kib(worker, "VmHWM")
        tar_s = _tar_sha256(release)
        cli_s = _cli_download(base_url, token, scratch / "download")
    release_bytes = sum(path.stat().st_size for path in release.rglob("*") if path.is_file())
    archive_mib, growth_kib = archive_bytes / MIB, peak_all - rss_before
    print(
        f"archive: {archive_mib:.0f} MiB ({len(names)} cases);"
        f" the release folder: {release_bytes / MIB:.0f} MiB"
    )
    print(f"tar | sha256sum over the release (warm): {tar_s:.2f} s, {release_bytes / MIB / tar_s:.0f} MiB/s")
    print(
        f"archive download, read through sha256 (warm): {archive_s:.2f} s,"
        f" {archive_mib / archive_s:.0f} MiB/s;"
        f" ratio to tar | sha256sum {archive_s / tar_s:.2f}x (goal <= 2x)"
    )
    print(
        f"isles download (unpack, check every file, write the manifest): {cli_s:.2f} s,"
        f" {archive_mib / cli_s:.0f} MiB/s; ratio to tar | sha256sum {cli_s / tar_s:.2f}x"
    )
    print(
        f"web worker memory: {rss_before / 1024:.0f} MiB resident before;"
        f" peak {peak_one / 1024:.0f} MiB after a 1-case archive,"
        f" {peak_all / 1024:.0f} MiB after the {len(names)}-case one: growth"
        f" {growth_kib / 1024:.1f} MiB, {growth_kib * 1024 / archive_bytes:.4f}x the archive's size"
        " (goal: no growth with the archive)"
    )


if __name__ == "__main__":
    main()
