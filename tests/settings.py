"""Test settings: the base settings in a throwaway ``VAR_DIR``, with fast hashing and eager Celery
(unless ``ISLES_TEST_EAGER=0``).

Integration tests that start a real worker process pass this process's ``VAR_DIR`` to it, so both see
the same storage. The process that made the folder removes it when it exits: a whole suite leaves
several GB of releases, images and job outputs there, and runs after runs on one machine filled its disk.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ["DJANGO_DEBUG"] = "1"
if os.environ.get("ISLES_TEST_VAR_DIR"):
    os.environ["VAR_DIR"] = os.environ["ISLES_TEST_VAR_DIR"]
else:
    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="isles-portal-test-")
    atexit.register(shutil.rmtree, os.environ["VAR_DIR"], ignore_errors=True)
# The storage variables a shell exports for the portal would point the tests at its files (or its object
# store), and Celery reads CELERY_BROKER_URL from the environment before any setting, so the variable CI
# exports for the portal would override the test broker below.
for _name in ("MEDIA_ROOT", "PRIVATE_STORAGE_ROOT", "STORAGE_URL", "STATIC_ROOT", "CELERY_BROKER_URL"):
    os.environ.pop(_name, None)

from portal.settings import *  # noqa: E402,F403 (test settings are the base settings, overridden)
from portal.settings import REST_FRAMEWORK, STATIC_ROOT  # noqa: E402 (named, as they are used below)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# django-axes refuses to authenticate without a request, which is how Django's test Client.login asks, and
# the API's throttles would refuse a suite that calls one endpoint hundreds of times: the tests of the
# lockout and of the throttles turn them back on with their own settings.
AXES_ENABLED = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {scope: "100000/second" for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
}
# Tasks run eagerly in the test process, unless a test takes the ``celery_broker`` fixture: then they go
# to the test Redis database, where a real worker started by the test (with ISLES_TEST_EAGER=0) takes them.
CELERY_TASK_ALWAYS_EAGER = os.environ.get("ISLES_TEST_EAGER", "1") == "1"
CELERY_BROKER_URL = os.environ.get("ISLES_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# A message a worker took but never acknowledged (it was killed) goes back to the queue once it is older
# than the visibility timeout. Workers sweep for such messages every second; the test that kills a worker
# gives the next one a timeout of seconds (ISLES_TEST_VISIBILITY_TIMEOUT) so the redelivery comes soon.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("ISLES_TEST_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests import the releases they write under pytest's temporary folders; the tests of the import root's
# rule set a narrower root of their own.
ISLES_IMPORT_ROOT = Path(tempfile.gettempdir()).resolve()
# WhiteNoise looks for STATIC_ROOT at start-up; the throwaway VAR_DIR has none until collectstatic runs.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
