"""The portal as the benchmarks run it: deployed as production is (gunicorn, DEBUG off, settings from the
environment) on a free loopback port, with a database of the benchmark's own.

Every benchmark that talks to a running portal (download, leaderboard, viewer, workers) starts it here, so
they agree on what "deployed" means and each adds only what it measures under (its database, broker,
throttles, gunicorn's workers and threads).
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def portal_environment(*, database_url: str, var_dir: str, **settings: str) -> dict[str, str]:
    """This process's environment with the portal's settings as a deployment has them (DEBUG off, a fresh
    secret key, plain HTTP on the loopback as behind a TLS-terminating proxy), and ``settings`` besides."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "VAR_DIR": var_dir,
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "LOG_LEVEL": "WARNING",
        **settings,
    }


def database_recreate(database_url: str, *, create: bool = True) -> None:
    """Drop the benchmark's PostgreSQL database, and make it afresh unless ``create`` is False (at the
    end)."""
    import psycopg

    server, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            connection.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    """A loopback port no one listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    """Whether the server at ``url`` answers at all (an error status, or a redirect to the login page, is
    an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=5):  # our own loopback server
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def process_stop(process: "subprocess.Popen[bytes]") -> None:
    """Stop a process started in a session of its own, and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@contextmanager
def process_running(
    command: Sequence[str], *, environment: Mapping[str, str], log: Path | None = None
) -> Iterator["subprocess.Popen[bytes]"]:
    """Run ``command`` from the repository in a session of its own, its output to ``log`` (else
    discarded); stopped, with whatever it started, on leaving."""
    with open(os.devnull, "wb") if log is None else log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=REPOSITORY,
            env=dict(environment),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process_stop(process)


@contextmanager
def gunicorn_serving(
    *,
    environment: Mapping[str, str],
    port: int,
    options: Sequence[str] = ("--workers", "2"),
    ready_path: str = "/",
    log: Path | None = None,
    seconds: float = 60.0,
) -> Iterator["subprocess.Popen[bytes]"]:
    """gunicorn serving the portal on ``port`` with ``options``, once ``ready_path`` answers; stopped on
    leaving. Raises RuntimeError (with the log's end, if there is one) when it does not answer in time."""
    command = [sys.executable, "-m", "gunicorn", "portal.wsgi", *options, "--bind", f"127.0.0.1:{port}"]
    with process_running(command, environment=environment, log=log) as server:
        url = f"http://127.0.0.1:{port}{ready_path}"
        deadline = time.monotonic() + seconds
        while not answers(url):
            if time.monotonic() > deadline or server.poll() is not None:
                shown = "" if log is None or not log.exists() else log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"gunicorn did not answer {url} within {seconds:.0f} s.\n{shown}")
            time.sleep(0.2)
        yield server


def load_average() -> str:
    """The 1-minute load average and the CPUs, for every figure: software WebGL and the server share the
    CPUs with whatever else runs, and the figures scale with it."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
