"""Test settings: production settings with only speed and determinism changed."""

import os

os.environ.setdefault("CHARTER_VAR_DIR", "/tmp/charter-test-var")  # noqa: S108
# The production guard runs on import; tests are production-like, so give it what it asks for.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "*")

from config.settings import *  # noqa: E402, F403
from config.settings import BASE_DIR  # noqa: E402

DEBUG = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CHARTER_DATA_ROOTS = [BASE_DIR / "demo_data"]
CHARTER_MASKING_KEY = "test-masking-key"
CHARTER_FIELD_ENCRYPTION_KEY = "test-field-key"
