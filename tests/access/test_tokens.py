"""Personal API tokens: created in the UI (shown once), revoked, both header schemes, hashed."""

import hashlib
import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from access.models import ApiToken
from access.services import api_token_create, api_token_revoke
from access.views import NEW_TOKEN_SESSION_KEY
from ledger.models import Event

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/ledger/events/"
TOKENS = "/account/tokens/"
TOKEN_RE = re.compile(rb'id="new-token">(chr_[A-Za-z0-9_-]+)<')


def _create_in_ui(client, user, name="training pipeline") -> str:
    client.force_login(user)
    response = client.post(TOKENS, {"name": name})
    assert response.status_code == 302 and response["Location"] == TOKENS  # a reload is harmless
    response = client.get(TOKENS)
    match = TOKEN_RE.search(response.content)
    assert match, "the new token is shown on the page"
    return match.group(1).decode()


def test_token_is_shown_once_and_stored_only_as_a_digest(client, compliance):
    raw = _create_in_ui(client, compliance)
    token = ApiToken.objects.get(user=compliance)
    assert token.name == "training pipeline"
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.digest, token.prefix, token.name} and raw.startswith(token.prefix)
    again = client.get(TOKENS)
    assert raw.encode() not in again.content and token.prefix.encode() in again.content
    assert "no-store" in again["Cache-Control"]
    assert Event.objects.filter(action="api_token.created", actor_id=compliance.pk).exists()
    assert raw not in str(Event.objects.values_list("data", flat=True).first())
    assert NEW_TOKEN_SESSION_KEY not in client.session


def test_token_creation_needs_a_name(client, compliance):
    client.force_login(compliance)
    response = client.post(TOKENS, {"name": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer"])
def test_both_header_schemes_authenticate(api_client, compliance, scheme):
    _, raw = api_token_create(user=compliance, name="ci")
    response = api_client.get(EVENTS, HTTP_AUTHORIZATION=f"{scheme} {raw}")
    assert response.status_code == 200
    assert "results" in response.json()
    assert ApiToken.objects.get().last_used_at is not None


def test_revoked_token_gets_401_at_once(client, api_client, compliance):
    raw = _create_in_ui(client, compliance)
    token = ApiToken.objects.get()
    assert api_client.get(EVENTS, HTTP_AUTHORIZATION=f"Token {raw}").status_code == 200
    response = client.post(f"{TOKENS}{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    denied = api_client.get(EVENTS, HTTP_AUTHORIZATION=f"Token {raw}")
    assert denied.status_code == 401
    assert denied.json() == {"detail": "Invalid or revoked token."}
    assert "Bearer" in denied["WWW-Authenticate"]
    assert Event.objects.filter(action="api_token.revoked").count() == 1


def test_revoking_twice_logs_once(compliance):
    token, _ = api_token_create(user=compliance, name="x")
    api_token_revoke(token=token, actor=compliance)
    api_token_revoke(token=token, actor=compliance)
    assert Event.objects.filter(action="api_token.revoked").count() == 1


def test_cannot_revoke_someone_elses_token(client, compliance, engineer):
    token, raw = api_token_create(user=compliance, name="theirs")
    client.force_login(engineer)
    assert client.post(f"{TOKENS}{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert b"theirs" not in client.get(TOKENS).content


def test_revoke_needs_post(client, compliance):
    token, _ = api_token_create(user=compliance, name="x")
    client.force_login(compliance)
    assert client.get(f"{TOKENS}{token.pk}/revoke/").status_code == 405


@pytest.mark.parametrize(
    "header",
    ["Token chr_not-a-real-token", "Bearer nonsense", "Token", "Token a b", "Bearer "],
)
def test_unknown_or_malformed_token_gets_401(api_client, header):
    assert api_client.get(EVENTS, HTTP_AUTHORIZATION=header).status_code == 401


def test_token_of_a_deactivated_user_gets_401(api_client, compliance):
    _, raw = api_token_create(user=compliance, name="x")
    compliance.is_active = False
    compliance.save()
    assert api_client.get(EVENTS, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_token_carries_the_users_permissions_not_more(api_client, engineer):
    _, raw = api_token_create(user=engineer, name="x")
    assert api_client.get(EVENTS, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 403


def test_create_api_token_command_prints_a_working_token(api_client, compliance):
    out = io.StringIO()
    call_command("create_api_token", compliance.username, "--name", "nightly export", stdout=out)
    raw = out.getvalue().strip()
    assert raw.startswith("chr_") and "\n" not in raw
    assert ApiToken.objects.get(user=compliance).name == "nightly export"
    assert api_client.get(EVENTS, HTTP_AUTHORIZATION=f"Token {raw}").status_code == 200


def test_create_api_token_for_unknown_user_fails(roles):
    with pytest.raises(CommandError, match="No active user named 'nobody'"):
        call_command("create_api_token", "nobody")
    assert not ApiToken.objects.exists()
