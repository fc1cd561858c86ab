"""Tipline settings: one file, every value from a TIPLINE_* environment variable.

Fail closed: DEBUG defaults to False, secrets are required (or read from NAME_FILE), HTTPS
hardening is on unless TIPLINE_HTTPS=false says otherwise. The embedded default
(`python -m tipline.embedded`) generates what it needs under var/ and says so.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from tipline.env import (
    env_bool,
    env_bytes,
    env_choice,
    env_int,
    env_list,
    env_optional,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("TIPLINE_DATA_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_secret("TIPLINE_SECRET_KEY")
DEBUG = env_bool("TIPLINE_DEBUG", False)
ALLOWED_HOSTS = env_list("TIPLINE_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])

# public: the source-facing site only; staff: the editors' admin only; all: both (development).
ROLE = env_choice("TIPLINE_ROLE", "all", {"public", "staff", "all"})
STAFF_URL_PREFIX = "/staff/"

INSTALLED_APPS = [
    "newsroom.admin_config.TiplineAdminConfig",  # the admin, behind a second factor and key unlock
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "submissions",
    "newsroom",
]

MIDDLEWARE = [
    # First, so nothing after it (views, logs, error reports) ever sees who the client is.
    "submissions.middleware.PrivacyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Unlocks the newsroom key for a signed-in editor's request (cookie + session), and ends
    # sessions past their absolute lifetime.
    "newsroom.middleware.UnlockMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tipline.urls"
WSGI_APPLICATION = "tipline.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# The URL holds the database password in production: it can come from a file (_FILE).
DATABASES = {
    "default": dj_database_url.parse(
        env_secret("TIPLINE_DATABASE_URL", f"sqlite:///{DATA_DIR / 'tipline.sqlite3'}"),
        conn_max_age=env_int("TIPLINE_DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default runs web and worker processes on one file. Transactions take the
    # write lock when they begin, so one that read first cannot fail with "database is
    # locked" when it comes to write; WAL lets readers go on while someone writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2id for staff passwords (argon2-cffi); the others only read hashes made before.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]

LANGUAGE_CODE = "es"
LANGUAGES = [("es", "Español"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIPLINE_TIME_ZONE", "UTC")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("TIPLINE_STATIC_ROOT", str(DATA_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Blob storage ---------------------------------------------------------------------------
# Only ciphertext ever reaches it, under random names (submissions/storage.py).
STORAGE_BACKEND = env_choice("TIPLINE_STORAGE", "filesystem", {"filesystem", "s3"})
if STORAGE_BACKEND == "s3":
    _blob_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("TIPLINE_S3_BUCKET"),
            "endpoint_url": env_optional("TIPLINE_S3_ENDPOINT_URL"),
            "region_name": env_optional("TIPLINE_S3_REGION"),
            "access_key": env_secret("TIPLINE_S3_ACCESS_KEY"),
            "secret_key": env_secret("TIPLINE_S3_SECRET_KEY"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
            # Reads spill to a temporary file past 1 MiB instead of holding a whole blob in
            # memory (it is ciphertext). Streaming reads come with the production stack.
            "max_memory_size": 1024 * 1024,
        },
    }
else:
    _blob_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(Path(env_str("TIPLINE_BLOB_DIR", str(DATA_DIR / "blobs")))),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
STORAGES = {
    "default": _blob_storage,
    "blobs": _blob_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Ciphertext spool for uploads in flight (never plaintext: see submissions/uploads.py).
SPOOL_DIR = Path(env_str("TIPLINE_SPOOL_DIR", str(DATA_DIR / "spool")))
# The only upload handler: Django's memory and temp-file handlers would hold plaintext.
FILE_UPLOAD_HANDLERS = ["submissions.uploads.EncryptingUploadHandler"]
FILE_UPLOAD_PERMISSIONS = 0o600

# --- Keys (age X25519) ----------------------------------------------------------------------
# The intake key: its public half everywhere, its private half in a file on workers only.
# The newsroom key is in no file and no variable: the database holds its public half and,
# sealed per editor, its private half (newsroom/custody.py; `manage.py tipline_bootstrap`).
INTAKE_RECIPIENT = env_optional("TIPLINE_INTAKE_RECIPIENT")
INTAKE_IDENTITY_FILE = env_optional("TIPLINE_INTAKE_IDENTITY_FILE")
# Argon2id memory for wrapping editors' personal keys (KiB; parameters are stored per key).
KDF_MEMORY_KIB = env_int("TIPLINE_KDF_MEMORY_KIB", 64 * 1024, minimum=64 * 1024,
                         maximum=1024 * 1024)  # fmt: skip
RECEIPT_SALT = env_secret("TIPLINE_RECEIPT_SALT")

# --- Sources coming back with their receipt code (submissions/sources.py) ---------------------
# A source's session ends after this long without a request (at most 30 minutes), and this
# long after sign-in whatever happens.
SOURCE_SESSION_IDLE_SECONDS = env_int("TIPLINE_SOURCE_SESSION_IDLE_SECONDS", 20 * 60,
                                      minimum=60, maximum=30 * 60)  # fmt: skip
SOURCE_SESSION_MAX_SECONDS = env_int("TIPLINE_SOURCE_SESSION_MAX_SECONDS", 2 * 3600, minimum=60)
# Receipt-code checks per minute for everyone together. A load cap, not a defence against
# guessing (90 bits are beyond it): each check costs about 0.2 s of a core and 32 MiB, and
# this keeps code checks from taking the whole server. Set it near what the server's cores
# can do (the default: about two cores' worth); too low, and one client can keep everyone
# waiting. Per tip: sign-ins and messages per hour.
CODE_CHECKS_PER_MINUTE = env_int("TIPLINE_CODE_CHECKS_PER_MINUTE", 600, minimum=1)
SOURCE_SIGNINS_PER_HOUR = env_int("TIPLINE_SOURCE_SIGNINS_PER_HOUR", 20, minimum=1)
SOURCE_MESSAGES_PER_HOUR = env_int("TIPLINE_SOURCE_MESSAGES_PER_HOUR", 20, minimum=1)

# Times of a source's actions are kept rounded down to this (submissions/clock.py): one hour
# by default; it must divide a day.
SOURCE_TIME_GRANULARITY_SECONDS = env_int("TIPLINE_SOURCE_TIME_GRANULARITY_SECONDS", 3600,
                                          minimum=60, maximum=86400)  # fmt: skip
if 86400 % SOURCE_TIME_GRANULARITY_SECONDS:
    raise ImproperlyConfigured("TIPLINE_SOURCE_TIME_GRANULARITY_SECONDS must divide a day")


# Retention (submissions/services.py: retention_purge, daily by beat): days after a tip's last
# activity at which it is purged, per status; `*` for every status without its own; 0 keeps
# forever. Tips on legal hold are never purged. Default: nothing is purged (an upgrade must not
# start deleting); `spam=30,dismissed=90` is a newsroom's usual choice.
def _retention(value: str) -> dict[str, int]:
    statuses = {"new", "in_review", "verifying", "published", "dismissed", "spam", "*"}
    days: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        status, _, number = item.partition("=")
        if status.strip() not in statuses or not number.strip().isdigit():
            raise ImproperlyConfigured(
                f"TIPLINE_RETENTION: {item!r} is not STATUS=DAYS (statuses: "
                f"{', '.join(sorted(statuses))})"
            )
        days[status.strip()] = int(number)
    return days


RETENTION_DAYS = _retention(env_str("TIPLINE_RETENTION", ""))

# --- Limits shown on the form ---------------------------------------------------------------
MAX_FILES = env_int("TIPLINE_MAX_FILES", 20, minimum=0)
MAX_FILE_BYTES = env_bytes("TIPLINE_MAX_FILE_BYTES", 2 * 1024**3)
MAX_SUBMISSION_BYTES = env_bytes("TIPLINE_MAX_SUBMISSION_BYTES", 4 * 1024**3)
MAX_NOTE_CHARS = env_int("TIPLINE_MAX_NOTE_CHARS", 20_000, minimum=1)
MAX_LINKS = env_int("TIPLINE_MAX_LINKS", 50, minimum=0)
# How much memory one scrub may take beyond what its process already holds (budget.py): past
# it the file ends `failed` ("needed more memory"), its upload kept for a retry with more.
# A 200-megapixel RGBA picture needs about 1 GiB to decode.
SCRUB_MEMORY_BYTES = env_bytes("TIPLINE_SCRUB_MEMORY", 1536 * 1024**2)
MAX_IMAGE_PIXELS = env_int("TIPLINE_MAX_IMAGE_PIXELS", 200_000_000, minimum=1)
# Lossless by default (compressed pixels kept byte for byte); true re-encodes every picture.
REENCODE_IMAGES = env_bool("TIPLINE_REENCODE_IMAGES", False)
# Back-pressure (submissions/capacity.py): new uploads wait while this many files wait to be
# cleaned, or while the disk holding uploads in flight has less than this free.
# Posts per minute to each public form, for everyone together (no address is ever counted):
# a ceiling on what one flood can make the server do. Tor's proof-of-work comes first.
SUBMISSIONS_PER_MINUTE = env_int("TIPLINE_SUBMISSIONS_PER_MINUTE", 120, minimum=1)
MAX_BACKLOG = env_int("TIPLINE_MAX_BACKLOG", 2000, minimum=1)
MIN_FREE_BYTES = env_bytes("TIPLINE_MIN_FREE_BYTES", MAX_SUBMISSION_BYTES + 1024**3)
# Non-file fields (note, links) are held in memory by Django: bound them. Files are streamed.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * MAX_NOTE_CHARS + 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = MAX_FILES + 1
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100

# --- Celery -----------------------------------------------------------------------------------
# Messages carry attachment ids only. The embedded default uses kombu's filesystem transport.
CELERY_BROKER_URL = env_secret("TIPLINE_BROKER_URL", "filesystem://")  # a password: _FILE
# The cache holds rate-limit counters only (submissions/ratelimit.py: an endpoint and a minute,
# never anything about a client). Redis when the broker is Redis, so that every process counts
# together; the embedded default's processes count each for itself.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": CELERY_BROKER_URL, "KEY_PREFIX": "tipline",
                # Redis down must not hold a source's request: counters fail open, at once.
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}  # fmt: skip
_queue_dir = DATA_DIR / "queue"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        # Without this kombu writes its exchange table to ./control, wherever the process started.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    # Unacknowledged messages of a worker that vanished come back after this; sooner, beat
    # re-enqueues from the rows (lease_until). Longer than the longest scrub (the time limit),
    # or a slow scrub would be delivered again while it runs. Publishing gives up in seconds
    # when Redis is down: the tip is committed, beat queues it later.
    else {
        "visibility_timeout": 2 * env_int("TIPLINE_TASK_TIME_LIMIT", 1800, minimum=10),
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
    }
)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The digest goes out by e-mail: it runs on its own queue, so the workers that parse hostile
# files can live on a network with no way out (docker-compose.yml: `notifier`).
# Scrubs have a queue of their own: the periodic upkeep (re-queueing, sessions' expiry,
# retention) on `celery` does not wait behind a backlog of files; a worker takes from both.
CELERY_TASK_ROUTES = {"newsroom.send_digest": {"queue": "notify"},
                      "submissions.scrub_attachment": {"queue": "scrub"}}  # fmt: skip
CELERY_TASK_TIME_LIMIT = env_int("TIPLINE_TASK_TIME_LIMIT", 1800, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
# A claimed attachment whose worker vanished becomes claimable again after this many seconds
# (at once, when the worker was on the same host and its process is gone: services._claim).
SCRUB_LEASE_SECONDS = CELERY_TASK_TIME_LIMIT + env_int("TIPLINE_LEASE_GRACE", 60, minimum=1)
# A file waiting to be cleaned (`received`) is queued again after this long (the broker may
# have lost its message), and a file whose scrub crashed or timed out this many times ends
# `failed`, its upload kept (`manage.py tipline_retry`).
SCRUB_REQUEUE_AFTER_SECONDS = env_int("TIPLINE_REQUEUE_AFTER", 300, minimum=1)
SCRUB_MAX_ATTEMPTS = env_int("TIPLINE_SCRUB_MAX_ATTEMPTS", 5, minimum=1)
# Each pool process is replaced after this many scrubs: parsers' leaks and fragmentation
# do not accumulate.
CELERY_WORKER_MAX_TASKS_PER_CHILD = 50
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-attachments": {
        "task": "submissions.requeue_stale",
        "schedule": env_int("TIPLINE_REQUEUE_EVERY", 300, minimum=1),
    },
    "reconcile-blobs": {"task": "submissions.reconcile_blobs", "schedule": 3600},
    "retention": {"task": "submissions.retention", "schedule": 24 * 3600},
    "expire-resumable-uploads": {"task": "submissions.expire_uploads", "schedule": 3600},
    "expire-source-sessions": {"task": "submissions.expire_source_sessions", "schedule": 300},
}

# The editors' digest ("3 new tips", nothing else; newsroom/notify.py), every N seconds; 0: off.
NOTIFY_EVERY = env_int("TIPLINE_NOTIFY_EVERY", 0, minimum=0)
if NOTIFY_EVERY:
    CELERY_BEAT_SCHEDULE["editors-digest"] = {
        "task": "newsroom.send_digest",
        "schedule": NOTIFY_EVERY,
    }
EMAIL_HOST = env_str("TIPLINE_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("TIPLINE_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("TIPLINE_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_secret("TIPLINE_EMAIL_PASSWORD", "")  # or _FILE: the notifier's only
EMAIL_USE_TLS = env_bool("TIPLINE_EMAIL_TLS", True)
DEFAULT_FROM_EMAIL = env_str("TIPLINE_EMAIL_FROM", "tipline@localhost")

# --- HTTP hardening ---------------------------------------------------------------------------
HTTPS = env_bool("TIPLINE_HTTPS", True)
# Served as onion services, over plain HTTP: Tor encrypts and authenticates end to end, and Tor
# Browser treats onion sites as secure contexts, so cookies are still marked Secure; there is
# no TLS to redirect to and no HSTS to send (Django's two checks for them are silenced).
ONION = env_bool("TIPLINE_ONION", False)
SECURE_COOKIES = HTTPS or ONION
# The public onion address (xyz…xyz.onion), if the site is also on a clearnet name: that name's
# pages then send Onion-Location, so Tor Browser offers the onion.
ONION_ADDRESS = env_optional("TIPLINE_ONION_ADDRESS")
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the containers' health check asks over plain HTTP
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008"] if ONION and not HTTPS else []
SECURE_HSTS_SECONDS = env_int("TIPLINE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Only adds the directive; submitting the domain to the preload list stays a deliberate act.
SECURE_HSTS_PRELOAD = env_bool("TIPLINE_HSTS_PRELOAD", HTTPS)
if env_bool("TIPLINE_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_PATH = STAFF_URL_PREFIX
CSRF_COOKIE_PATH = STAFF_URL_PREFIX
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_TRUSTED_ORIGINS = env_list("TIPLINE_CSRF_TRUSTED_ORIGINS", [])
# Staff sessions end after 30 minutes without a request, and 8 hours after sign-in whatever
# happens (newsroom.middleware). The key-unlock cookie lives no longer than the session.
SESSION_COOKIE_AGE = env_int("TIPLINE_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_MAX_SECONDS = env_int("TIPLINE_SESSION_MAX_SECONDS", 8 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
OTP_TOTP_ISSUER = env_str("TIPLINE_OTP_ISSUER", "Tipline")
LOGIN_URL = STAFF_URL_PREFIX + "login/"

# --- Logging: events, never people ----------------------------------------------------------
ADMINS: list[tuple[str, str]] = []  # no e-mailed error reports: they would carry request data
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A resumable upload's path names it (its id), and its time would be the second a source
    # acted: Django's request log (4xx/5xx) never writes those.
    "filters": {
        "no_upload_paths": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: "/uploads/" not in record.getMessage(),
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["no_upload_paths"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("TIPLINE_LOG_LEVEL", "INFO")},
    "loggers": {
        # Replace Django's defaults (which include mail_admins) with the console only.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.security.DisallowedHost": {"handlers": [], "propagate": False},
        # A line per task received and done: the second a source's file was cleaned. Only
        # failures (WARNING and up) are logged. Likewise for the app's per-source events.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}
