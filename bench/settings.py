"""Production settings plus the bench's baseline URLs; used by the harness and its gunicorn."""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("CHARTER_VAR_DIR", "/tmp/charter-bench-var")  # noqa: S108

from config.settings import *  # noqa: E402, F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
# Plain HTTP on loopback: no TLS redirect, and cookies that work over http.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Keep connections across requests as production does (conn_max_age from DATABASE_URL).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
