"""Typed readers for settings that come from the environment (after healthchecks' settings)."""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, *, default: bool) -> bool:
    """Read a boolean: only 'true' or 'false' (any case) are accepted, so typos fail loudly."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.strip().lower() == "true":
        return True
    if raw.strip().lower() == "false":
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, *, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def env_list(name: str, *, default: list[str], sep: str = ",") -> list[str]:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    return [item.strip() for item in raw.split(sep) if item.strip()]


def env_secret(name: str) -> str:
    """Read NAME_FILE first (Docker secrets), then NAME; '' when neither is set."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, "")


_CONSOLE = "django.core.mail.backends.console.EmailBackend"
_SMTP = "django.core.mail.backends.smtp.EmailBackend"


def env_email_url(name: str) -> dict[str, object]:
    """Django's EMAIL_* settings from one URL (NAME_FILE first, as for secrets)."""
    raw = env_secret(name)
    if not raw or raw.startswith("console:"):
        return {"EMAIL_BACKEND": _CONSOLE}
    url = urlsplit(raw)
    if url.scheme not in ("smtp", "smtp+tls", "smtps") or not url.hostname:
        raise ImproperlyConfigured(f"{name} must look like smtp://user:password@host:port")
    default_port = {"smtp": 25, "smtp+tls": 587, "smtps": 465}[url.scheme]
    return {
        "EMAIL_BACKEND": _SMTP,
        "EMAIL_HOST": url.hostname,
        "EMAIL_PORT": url.port or default_port,
        "EMAIL_HOST_USER": unquote(url.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(url.password or ""),
        "EMAIL_USE_TLS": url.scheme == "smtp+tls",
        "EMAIL_USE_SSL": url.scheme == "smtps",
    }
