"""Settings come from the environment and refuse to start in production without a secret key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_email_url, env_int, env_list, env_secret

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL.split(':')[0])"
)


def _load_settings(tmp_path, **env):
    """Import config.settings in a fresh interpreter with exactly this environment."""
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "config.settings", "CHARTER_VAR_DIR": str(tmp_path), **env}
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_SETTINGS_VARS = {
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SETTINGS_MODULE",
}


def test_debug_off_without_secret_key_refuses_to_start(tmp_path):
    result = _load_settings(tmp_path, DEBUG="false", ALLOWED_HOSTS="example.org")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_a_database_url_means_production_so_the_guard_applies(tmp_path):
    result = _load_settings(tmp_path, DATABASE_URL="postgres://u@127.0.0.1:5432/x")
    assert result.returncode != 0 and "Set SECRET_KEY" in result.stderr


def test_debug_off_without_allowed_hosts_refuses_to_start(tmp_path):
    result = _load_settings(tmp_path, DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode != 0 and "ALLOWED_HOSTS" in result.stderr


def test_secret_key_file_is_read(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("y" * 50 + "\n")
    result = _load_settings(
        tmp_path, DEBUG="false", SECRET_KEY_FILE=str(secret), ALLOWED_HOSTS="example.org"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


def test_no_environment_at_all_is_a_working_laptop_setup(tmp_path):
    result = _load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3", "sqla+sqlite"]


def test_production_environment_uses_postgres_and_redis(tmp_path):
    result = _load_settings(
        tmp_path,
        SECRET_KEY="z" * 50,
        ALLOWED_HOSTS="charter.example.org",
        DATABASE_URL="postgres://u@db:5432/charter",
        REDIS_URL="redis://redis:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "django.db.backends.postgresql", "redis"]


def test_a_typo_in_debug_fails_loudly(tmp_path):
    result = _load_settings(tmp_path, DEBUG="ture")
    assert result.returncode != 0 and "DEBUG must be true or false" in result.stderr


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("False", False), ("", None)])
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", default=None) is expected


@pytest.mark.parametrize("raw", ["yes", "1", "on", "tru"])
def test_env_bool_accepts_only_true_or_false(monkeypatch, raw):
    monkeypatch.setenv("X_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
        env_bool("X_FLAG", default=False)


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    assert env_int("X_INT", default=1) == 12 and env_int("X_MISSING", default=3) == 3
    assert env_list("X_LIST", default=[]) == ["a", "b", "c"]
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be an integer"):
        env_int("X_INT", default=1)


def test_env_secret_prefers_the_file(monkeypatch, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("from-file\n")
    monkeypatch.setenv("X_SECRET", "from-env")
    assert env_secret("X_SECRET") == "from-env"
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_secret("X_SECRET") == "from-file"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("console:", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        (
            "smtp+tls://mailer:p%40ss@mail.example.org",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "mail.example.org",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "mailer",
                "EMAIL_HOST_PASSWORD": "p@ss",
                "EMAIL_USE_TLS": True,
                "EMAIL_USE_SSL": False,
            },
        ),
    ],
)
def test_email_url(monkeypatch, url, expected):
    monkeypatch.setenv("X_EMAIL_URL", url)
    assert env_email_url("X_EMAIL_URL") == expected


def test_email_url_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("X_EMAIL_URL", "http://mail.example.org")
    with pytest.raises(ImproperlyConfigured, match="smtp://"):
        env_email_url("X_EMAIL_URL")
