"""Charter settings: one module, read from the environment, that runs with no environment at all.

With no DATABASE_URL the portal runs on SQLite in the project folder with DEBUG on; with no
REDIS_URL Celery runs a real worker and beat on a broker that needs no server (kombu's
SQLAlchemy transport on a SQLite file). Production sets both and must set SECRET_KEY.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_email_url, env_int, env_list, env_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CHARTER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
DEBUG = env_bool("DEBUG", default=not DATABASE_URL)  # zero-config laptop = debug

DEV_ONLY_SECRET_KEY = "dev-only-insecure-key-never-used-when-DEBUG-is-off"  # noqa: S105
SECRET_KEY = env_secret("SECRET_KEY") or (DEV_ONLY_SECRET_KEY if DEBUG else "")
if not DEBUG and not SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY (or SECRET_KEY_FILE) when DEBUG is off.")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set ALLOWED_HOSTS when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_celery_beat",
    "ledger",
    "catalog",
    "access",
    "lineage",
    "audits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "config.middleware.QueueStatusMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "config.context_processors.portal",
            ],
        },
    }
]

if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "portal.sqlite3",
            # Web, worker and beat share one file: WAL lets readers run beside a writer, and
            # IMMEDIATE transactions queue writers instead of failing with "database is locked".
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
    # SQLite ignores a covering index's INCLUDE columns (access_grant_live_idx); the index
    # still works, and the columns only save heap reads on PostgreSQL.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The hottest API queries run as prepared statements on PostgreSQL (config/prepared.py); turn
# off behind a transaction-mode pooler that cannot keep them (pgbouncer < 1.21).
CHARTER_PREPARED_STATEMENTS = env_bool("CHARTER_PREPARED_STATEMENTS", default=True)

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no anonymous access to anything but login and /health

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("CHARTER_STATIC_ROOT", VAR_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at start when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("CHARTER_MEDIA_ROOT", VAR_DIR / "media"))

# Security: production gets secure cookies and HSTS; the dev server speaks plain HTTP.
# SECURE_COOKIES=false only to try the production stack over plain HTTP on a LAN address.
SECURE_COOKIES = env_bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 12
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # container and load-balancer probes speak plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 0 if DEBUG else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("CHARTER_MAX_BODY_BYTES", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# EMAIL_URL: smtp://user:password@host:25, smtp+tls://…:587 (STARTTLS), smtps://…:465;
# unset (or console:) prints mail to the log, which is what a laptop wants.
globals().update(env_email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "charter@localhost")

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Charter API",
    "DESCRIPTION": "Data catalog and governance: datasets, access, audits, lineage, ledger.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # `check --deploy` is about deployment safety; schema quality is tested in tests/config.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# Celery: Redis in production and CI; a serverless SQLite broker on a laptop.
EMBEDDED_BROKER_URL = f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
CELERY_BROKER_URL = REDIS_URL or EMBEDDED_BROKER_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task killed mid-run is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if REDIS_URL:
    # A task not acknowledged this long after delivery (its worker died) is delivered again.
    # It must exceed the longest task and the longest countdown/ETA, or a live task is re-sent.
    # Every running worker looks for such messages when it starts and then every
    # `unacked_restore_interval` s: kombu's default throttle (10) makes that every 100 s, too
    # late for "re-run within the timeout + 15 s" (docs/RELIABILITY.md). A worker killed while
    # holding the restore mutex blocks every restore until the mutex expires (kombu: 300 s).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", default=5),
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 10,
    }
else:
    # kombu's SQLAlchemy transport hands these to create_engine(): wait for SQLite's write
    # lock (web, worker and beat share the broker file) instead of failing at once.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_args": {"timeout": 30}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False

# Charter's own settings.
CHARTER_VERSION = "0.1.0"
CHARTER_DEMO_PASSWORD = os.environ.get("CHARTER_DEMO_PASSWORD", "charter-demo")
CHARTER_DATA_ROOTS = [
    Path(p).resolve()
    for p in env_list("CHARTER_DATA_ROOTS", default=[str(BASE_DIR / "demo_data")], sep=":")
]
CHARTER_UPLOAD_ROOT = Path(os.environ.get("CHARTER_UPLOAD_ROOT", VAR_DIR / "uploads"))
CHARTER_UPLOAD_MAX_BYTES = env_int("CHARTER_UPLOAD_MAX_BYTES", default=200 * 1024 * 1024)
CHARTER_LOGIN_MAX_FAILURES = env_int("CHARTER_LOGIN_MAX_FAILURES", default=5)
CHARTER_LOGIN_COOLOFF_SECONDS = env_int("CHARTER_LOGIN_COOLOFF_SECONDS", default=15 * 60)
CHARTER_MASKING_KEY = env_secret("CHARTER_MASKING_KEY") or SECRET_KEY
CHARTER_FIELD_ENCRYPTION_KEY = env_secret("CHARTER_FIELD_ENCRYPTION_KEY") or SECRET_KEY
CHARTER_SOURCE_STATEMENT_TIMEOUT_MS = env_int("CHARTER_SOURCE_STATEMENT_TIMEOUT_MS", default=30000)
# An audit's pushed-down scan of a big table is legitimately long (10M rows with a regex
# check: ~20 s on 2 cores); lock waits stay bounded by the source timeout above.
CHARTER_AUDIT_STATEMENT_TIMEOUT_MS = env_int("CHARTER_AUDIT_STATEMENT_TIMEOUT_MS", default=900_000)
# Where the hourly ledger anchor appends the chain head (copy it somewhere the app can't write).
CHARTER_LEDGER_ANCHOR_PATH = Path(
    os.environ.get("CHARTER_LEDGER_ANCHOR_PATH", VAR_DIR / "ledger-anchor.jsonl")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
