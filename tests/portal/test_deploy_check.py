"""A production configuration (DEBUG off, the key and host names from the environment) passes Django's
deployment checks with nothing to warn about, and its HTTPS rules are what a visitor meets: plain HTTP
redirected (but the health check), HSTS on every HTTPS answer, and both adjustable from the environment."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPOSITORY = Path(__file__).resolve().parents[2]
VISIT = """
import json
from django.test import Client
client = Client(raise_request_exception=False)
plain = client.get("/no-such-page/")
secure = client.get("/no-such-page/", secure=True)
health = client.get("/health/")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "hsts": secure.get("Strict-Transport-Security"),
    "health_redirected": health.status_code == 301,
}))
"""


def run_manage(tmp_path: Path, *arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in production mode with a fresh VAR_DIR and none of this process's portal settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SECURE_", "DJANGO_", "DATABASE_", "CELERY_", "CSRF_", "SESSION_"))
    }
    env |= {
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "portal.example.org,testserver",
        "VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        **environment,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=REPOSITORY, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "environment",
    [{}, {"SECURE_SSL_REDIRECT": "0"}, {"SECURE_HSTS_PRELOAD": "1"}],
    ids=["defaults", "a proxy redirects to https", "preloaded"],
)
def test_check_deploy_has_nothing_to_warn_about(tmp_path: Path, environment: dict[str, str]) -> None:
    check = run_manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **environment)

    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout


def test_plain_http_is_redirected_and_https_answers_carry_hsts(tmp_path: Path) -> None:
    defaults = run_manage(tmp_path, "shell", "--no-imports", "-c", VISIT)
    behind_a_proxy = run_manage(
        tmp_path,
        "shell",
        "--no-imports",
        "-c",
        VISIT,
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="1",
    )

    assert json.loads(defaults.stdout.splitlines()[-1]) == {
        "plain": [301, "https://testserver/no-such-page/"],
        "hsts": "max-age=31536000; includeSubDomains",
        "health_redirected": False,
    }
    assert json.loads(behind_a_proxy.stdout.splitlines()[-1]) == {
        "plain": [404, None],
        "hsts": "max-age=600; preload",
        "health_redirected": False,
    }
