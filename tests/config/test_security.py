"""Security properties of every page and endpoint: CSRF, CSP without inline script, cookies."""

import re
import subprocess
import sys

import pytest
from django.test import Client

from ledger.models import Event
from tests.config.test_pages import _all_urls
from tests.config.test_settings import ROOT

pytestmark = pytest.mark.django_db
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
# Swagger UI and ReDoc bootstrap with inline script; they get their own, looser policy.
API_DOCS = {"api-docs", "api-redoc"}


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_every_post_without_a_csrf_token_is_refused(admin_user):
    client = _csrf_client(admin_user)
    before = Event.objects.count()
    for name, path in _all_urls():
        response = client.post(path, {"name": "x", "username": "x", "password": "x"})
        assert response.status_code == 403, f"{name} {path} accepted a POST without CSRF token"
        if name not in API_DOCS:  # the docs views render DRF's 403 without the reason
            assert b"CSRF" in response.content, f"{name} {path}: 403 but not for CSRF"
    assert Event.objects.count() == before  # nothing happened


def test_login_form_needs_the_csrf_token(steward):
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/login/", {"username": steward.username, "password": "x"})
    assert refused.status_code == 403
    page = client.get("/login/")
    token = page.cookies["csrftoken"].value
    ok = client.post(
        "/login/",
        {"username": steward.username, "password": "wrong", "csrfmiddlewaretoken": token},
    )
    assert ok.status_code == 200  # reached the view: a failed login, not a CSRF refusal


def test_api_token_requests_need_no_csrf_token(compliance):
    """Tokens are not cookies, so a cross-site page cannot send them: CSRF does not apply."""
    from access.services import api_token_create

    _, raw = api_token_create(user=compliance, name="x")
    client = Client(enforce_csrf_checks=True)
    response = client.get("/api/v1/ledger/events/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200


def test_no_page_has_inline_script_or_a_script_policy_allowing_it(admin_user):
    client = Client()
    client.force_login(admin_user)
    checked = 0
    for name, path in _all_urls():
        if name in API_DOCS or path.startswith("/api/"):
            continue
        response = client.get(path)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        csp = response["Content-Security-Policy"]
        script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, name
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert not INLINE_SCRIPT.search(content), f"{name} {path} has an inline <script>"
        checked += 1
    assert checked >= 3


def test_the_login_page_has_no_inline_script_either(client):
    response = client.get("/login/")
    assert not INLINE_SCRIPT.search(response.content)
    assert "script-src 'self';" in response["Content-Security-Policy"]


def test_session_and_csrf_cookies_are_secure_in_production(tmp_path):
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SESSION_COOKIE_SAMESITE, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "p" * 50,
        "ALLOWED_HOSTS": "charter.example.org",
        "CHARTER_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "Lax", "31536000", "True"]


def test_session_cookie_is_httponly_on_login(client, steward):
    from tests.conftest import PASSWORD

    client.post("/login/", {"username": steward.username, "password": PASSWORD})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_weak_passwords_are_refused_by_the_validators():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("password", "12345678", "short"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("a-long-and-unusual-passphrase-42")
