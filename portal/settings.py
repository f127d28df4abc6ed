"""Settings of the portal, read from the environment.

Every value a deployment may change comes from an environment variable; the defaults run the local demo
with nothing installed but Python: a SQLite file, a file-system Celery broker and local storage, all under
``VAR_DIR`` (default ``var/`` in the checkout). With ``DJANGO_DEBUG`` off, ``SECRET_KEY`` and
``ALLOWED_HOSTS`` have no default.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from portal.converters import BIGINT_MAX

BASE_DIR = Path(__file__).resolve().parent.parent

# Whatever this process writes is its own user's alone (files 0600, folders 0700) unless it says otherwise.
# The database file and its journal, the broker's messages, hidden test images, ground truth, job outputs
# and the demo's logs are written by SQLite, kombu, SimpleITK, Django's storage and plain open() alike, and
# the process umask is the one setting all of them obey; each entry point (manage.py, gunicorn's wsgi, the
# Celery worker, the tests) reads these settings before it writes anything. What is public on purpose says
# so: the static and public media storages below, and a job's staged inputs (inference.sandbox).
os.umask(0o077)


def env_bool(name: str, *, default: bool) -> bool:
    """Read a yes/no environment variable ("1", "true", "yes", "on" are yes)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, *, default: str = "") -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var")).resolve()


def _local_secret_key() -> str:
    """Return the local demo's secret key, generating it into ``VAR_DIR`` on first use."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


if os.environ.get("SECRET_KEY"):
    SECRET_KEY = os.environ["SECRET_KEY"]
elif DEBUG:
    SECRET_KEY = _local_secret_key()
else:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment, or set DJANGO_DEBUG=1 for a local instance."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default="localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "allauth",
    "allauth.account",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal.steps",
    "portal.accounts",
    "portal.challenges",
    "portal.datasets",
    "portal.submissions",
    "portal.algorithms",
    "portal.leaderboards",
    "portal.readerstudies",
    "portal.annotations",
    "portal.organizers",
    "portal.api",
    "portal.health",
    "portal.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.errors.PortalErrorMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the page that says so.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker) share the file: wait for a lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds the API's throttle counts. Several web processes (gunicorn's workers, more hosts) must
# share one, e.g. CACHE_URL=redis://redis:6379/1; the default, each process's own memory, suits one process.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_USER_MODEL = "accounts.User"
# django-axes counts failed logins in the authentication backends, so the login page, the API's token
# endpoint and the admin are all covered (and would be behind django-allauth too). After
# LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is refused for
# LOGIN_COOLOFF_MINUTES, with a page (or API answer) that says so; a success clears the count. Counting the
# pair, not the address alone, keeps one guesser from locking a real user out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout do not restart it, so the time the page gives is the time it lasts.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "portal.accounts.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "portal.accounts.lockout.client_address"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "challenge-list"
LOGOUT_REDIRECT_URL = "challenge-list"

# Accounts: django-allauth's pages sign up, log in and out, confirm e-mail addresses and reset or change
# passwords (its templates render inside ours: frontend/templates/allauth/layouts/). Login is by username,
# as the API's token endpoint and the CLI are; a new account gets a confirmation e-mail, and a participant
# confirms an address before their first submission (``portal.accounts.selectors.user_email_verified``),
# so browsing and joining need no wait. A link in an e-mail confirms only on a POST from its page, so a
# mail scanner that follows links confirms nothing. django-axes stays the one lockout for failed logins
# (allauth's own ``login_failed`` limit is off, so the sentence and the time are always axes'); allauth's
# other limits (sign-ups, reset e-mails per address) stay on, counted in the cache above.
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[isles-portal] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
ACCOUNT_RATE_LIMITS = {"login_failed": None}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Public media (team logos, challenge banners) and private data (every dataset file: images, ground
# truth, clinical tables) live in two roots. Nothing under the private root has a URL: files leave the
# server only through views that check permissions.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", VAR_DIR / "private"))
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
# Stored files are the owner's alone unless their storage is public (media and static files, which a web
# server of another user may serve).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
_PUBLIC_MODES = {"file_permissions_mode": 0o644, "directory_permissions_mode": 0o755}
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL, **_PUBLIC_MODES},
    },
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": PRIVATE_STORAGE_ROOT,
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
        "OPTIONS": _PUBLIC_MODES,
    },
}
_OBJECT_STORAGE_PARAMETERS = {"endpoint_url", "region_name", "addressing_style"}


def object_storages(storage_url: str) -> dict[str, dict[str, Any]]:
    """The media and private storages in the S3-compatible bucket that ``storage_url`` names,
    ``s3://BUCKET?endpoint_url=URL&region_name=REGION&addressing_style=path|virtual`` (each parameter
    optional; the credentials are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the host's role):
    public media under ``media/``, private files under ``private/``. No object is given an ACL, so none is
    public-read unless the bucket's own policy says so; both are read through URLs signed for a while."""
    parts = urlsplit(storage_url)
    parameters = dict(parse_qsl(parts.query))
    unknown = sorted(set(parameters) - _OBJECT_STORAGE_PARAMETERS)
    if parts.scheme != "s3" or not parts.hostname or parts.path not in {"", "/"} or unknown:
        raise ImproperlyConfigured(
            f"STORAGE_URL is {storage_url!r}: write it as s3://BUCKET?endpoint_url=URL&region_name=REGION "
            f"(parameters: {', '.join(sorted(_OBJECT_STORAGE_PARAMETERS))})."
        )
    bucket = {
        "bucket_name": parts.netloc,
        "default_acl": None,
        "querystring_auth": True,
        "signature_version": "s3v4",
        "file_overwrite": False,
        **parameters,
    }
    return {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**bucket, "location": "media", "querystring_expire": 3600},
        },
        "private": {
            "BACKEND": "storages.backends.s3.S3Storage",
            # Bytes as they are: a type guessed from ".nii.gz" would declare Content-Encoding gzip, and
            # browsers and clients would inflate the files they download.
            "OPTIONS": {
                **bucket,
                "location": "private",
                "querystring_expire": 300,
                "object_parameters": {"ContentType": "application/octet-stream"},
            },
        },
    }


# With STORAGE_URL, media and private files live in an S3-compatible object store (MinIO, or a cloud
# S3) instead of MEDIA_ROOT and PRIVATE_STORAGE_ROOT.
STORAGE_URL = os.environ.get("STORAGE_URL", "")
if STORAGE_URL:
    STORAGES.update(object_storages(STORAGE_URL))

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "isles-portal@localhost")
# With EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend, the server that relays the portal's mail
# (confirmation links, password resets, invitations, results).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "1") == "1"

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Plain HTTP is redirected to HTTPS, but for the health check that the container engine makes from
    # inside. Behind a TLS-terminating proxy that redirects itself, SECURE_SSL_REDIRECT=0 leaves it to the
    # proxy (and so silences Django's warning about it).
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Preloading asks browsers to hard-code HTTPS for the whole domain, a promise that takes months to
    # withdraw: only the domain's owner should make it, so it is off unless asked for, and Django's
    # reminder of it is silenced while it is.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_SSL_REDIRECT else ["security.W008"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    # Token first: DRF answers a request that failed to authenticate with the first class's challenge, so
    # a missing or wrong token gets 401 with "WWW-Authenticate: Token" (session first made it a bare 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Lists are paged; limit and offset outside their ranges are a 400 (portal/api/pagination.py).
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    # Requests per client (an address when anonymous, the user otherwise), answered 429 with Retry-After
    # beyond; "auth-token" is the token endpoint's own, per address. Counts live in the cache (CACHE_URL).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "120/minute"),
        "user": os.environ.get("API_THROTTLE_USER", "1200/minute"),
        "auth-token": os.environ.get("API_THROTTLE_AUTH_TOKEN", "10/minute"),
    },
    # Reverse proxies in front of the portal that append the client's address to X-Forwarded-For; with
    # none, the address is the connection's and a client cannot pick its own by sending the header.
    "NUM_PROXIES": int(os.environ.get("TRUSTED_PROXY_COUNT", "0")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "isles-portal API",
    "DESCRIPTION": (
        "Challenges, phases, datasets and cases of a stroke lesion segmentation challenge. Every error is a "
        "JSON object with a stable code and a detail sentence; a method a path does not list is a 405 whose "
        "Allow header names the ones it does."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A submission's status and the two ends of each of its state changes share one enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "SubmissionStatusEnum": "portal.submissions.models.Submission.Status",
        "InvitationStatusEnum": "portal.accounts.models.Invitation.Status",
    },
    # Request bodies get components of their own, so that a file to upload is binary (a response's is a URL).
    "COMPONENT_SPLIT_REQUEST": True,
    # A number in a path (<id:pk>, portal/converters.py): past bigint no row has it, so the URL is a 404.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": BIGINT_MAX}},
    # Every operation's shared error responses (401, 404, 429...) and the error object.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.postprocess_shared_errors",
    ],
}

# Celery. The default broker is a folder, so the demo needs no server; production sets a Redis or
# RabbitMQ URL. Tasks ack late and are rejected when their worker dies, so a killed worker's task is
# delivered again: every task is written to be safe to run twice (see portal/celery.py).
# The filesystem transport ignores the host; naming one spares kombu's "No hostname was supplied" warning.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's file-system transport expects its folders to exist; a fresh VAR_DIR has none yet.
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_FOLDER / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True

# The step engine (portal/steps): a worker running a step stamps its row every STEP_HEARTBEAT_SECONDS; a
# claim without a stamp for STEP_CLAIM_EXPIRY_SECONDS belongs to a dead worker, and the sweeper, which
# Celery beat runs every STEP_SWEEP_SECONDS, queues its step again (or gives it up after its attempts). A
# step the sweeper queued that no worker claimed within STEP_REQUEUE_AFTER_SECONDS is queued once more.
STEP_HEARTBEAT_SECONDS = float(os.environ.get("STEP_HEARTBEAT_SECONDS", "15"))
STEP_CLAIM_EXPIRY_SECONDS = float(os.environ.get("STEP_CLAIM_EXPIRY_SECONDS", "120"))
STEP_SWEEP_SECONDS = float(os.environ.get("STEP_SWEEP_SECONDS", "30"))
STEP_REQUEUE_AFTER_SECONDS = float(os.environ.get("STEP_REQUEUE_AFTER_SECONDS", "900"))
CELERY_BEAT_SCHEDULE = {
    "sweep steps whose worker died": {
        "task": "portal.steps.tasks.steps_sweep_task",
        "schedule": STEP_SWEEP_SECONDS,
    },
    # Files of refused and failed submissions and of uploads never completed (see the README's retention).
    "remove the files nobody needs": {
        "task": "portal.submissions.tasks.submission_files_cleanup_task",
        "schedule": crontab(minute=17),
    },
    # Release archives an organizer began to upload and never finished within a day.
    "remove the release uploads never finished": {
        "task": "portal.datasets.tasks.release_uploads_expire_task",
        "schedule": crontab(minute=23),
    },
}

# The portal's public base URL, as people and remote workers reach it: the signed links to private
# files (portal.storage.private_file_signed_url) are made absolute with it.
ISLES_PORTAL_URL = os.environ.get("ISLES_PORTAL_URL", "http://127.0.0.1:8000")
# Where the worker finds the Docker engine; empty means the environment's default (DOCKER_HOST or
# the local socket).
DOCKER_HOST = os.environ.get("DOCKER_HOST", "")
# The GPU a ``gpu`` worker passes to every container it runs (a device id such as "0"); empty: none.
ISLES_GPU_DEVICE = os.environ.get("ISLES_GPU_DEVICE", "")
# A worker's cache of converted job inputs (.nii.gz to .mha, keyed by the stored image's sha256), so a
# hidden case is converted once per worker, not once per job; when it holds more than
# ISLES_WORKER_CACHE_MB, the least recently used files are removed first.
ISLES_WORKER_CACHE_DIR = Path(os.environ.get("ISLES_WORKER_CACHE_DIR") or VAR_DIR / "worker-cache").resolve()
ISLES_WORKER_CACHE_MB = int(os.environ.get("ISLES_WORKER_CACHE_MB") or "20480")
# How a job's /input and /output reach the algorithm's container: "volumes" copies them through the
# engine's API (a read-only volume per case, filled once and kept, at most ISLES_INPUT_VOLUMES_MB on the
# engine, the least recently used removed first; an output volume per run), so the engine need not see
# the worker's disk (a worker in a container, a remote DOCKER_HOST); "bind" bind-mounts the worker's job
# folders, for a worker beside its engine; "auto" (default) bind-mounts when the engine sees the worker's
# temporary folder (asked of the engine once per worker process), else uses volumes.
ISLES_CONTAINER_IO = os.environ.get("ISLES_CONTAINER_IO") or "auto"
if ISLES_CONTAINER_IO not in {"auto", "volumes", "bind"}:
    raise ImproperlyConfigured(
        f"ISLES_CONTAINER_IO is {ISLES_CONTAINER_IO!r}; set it to auto, volumes or bind."
    )
ISLES_INPUT_VOLUMES_MB = int(os.environ.get("ISLES_INPUT_VOLUMES_MB") or "20480")
# The folder under which organizers may name a release folder to import (from the challenge's data page
# and with manage.py import_isles24): a path outside it, with '..', or through a link out of it is
# refused. Releases elsewhere are uploaded as archives instead.
ISLES_IMPORT_ROOT = Path(os.environ.get("ISLES_IMPORT_ROOT", VAR_DIR / "imports")).resolve()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
