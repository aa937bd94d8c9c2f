"""Login, logout and failed logins: ledger events, throttling with a cool-off, login-required."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from access.models import LoginThrottle
from ledger.models import Event
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/login/"


def _post_login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def _actions():
    return list(Event.objects.order_by("seq").values_list("action", flat=True))


def test_login_page_is_public_and_uses_the_layout(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
    assert b"charter.css" in response.content


def test_login_records_an_event_and_lands_on_home(client, steward):
    response = _post_login(client, steward.username, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    event = Event.objects.get(action="auth.login")
    assert event.actor_id == steward.pk and event.data == {"ip": "127.0.0.1"}
    home = client.get("/")
    assert home.status_code == 200
    assert b"Data steward" in home.content


def test_login_follows_a_local_next_but_never_an_external_one(client, steward):
    ok = client.post(
        LOGIN, {"username": steward.username, "password": PASSWORD, "next": "/ledger/"}
    )
    assert ok["Location"] == "/ledger/"
    client.logout()
    evil = client.post(
        LOGIN, {"username": steward.username, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert evil["Location"] == reverse("home")


def test_failed_login_records_an_event_without_the_password(client, steward):
    response = _post_login(client, steward.username, "wrong-password")
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    event = Event.objects.get(action="auth.login_failed")
    assert event.actor_id is None
    assert event.data["username"] == steward.username and event.data["failures"] == 1
    assert "wrong-password" not in str(event.data)


def test_logout_records_an_event_and_ends_the_session(client, steward):
    client.force_login(steward)
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert _actions() == ["auth.logout"]
    assert Event.objects.get(action="auth.logout").actor_id == steward.pk
    assert client.get("/").status_code == 302


def test_logout_by_get_is_refused(client, steward):
    client.force_login(steward)
    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200


def test_five_failures_start_a_cool_off_with_429(client, steward):
    limit = settings.CHARTER_LOGIN_MAX_FAILURES
    for _ in range(limit - 1):
        assert _post_login(client, steward.username, "nope").status_code == 200
    locked = _post_login(client, steward.username, "nope")
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content
    # Even the right password is refused while cooling off, without checking it.
    refused = _post_login(client, steward.username, PASSWORD)
    assert refused.status_code == 429 and b"Wait 15 minutes" in refused.content
    assert "_auth_user_id" not in client.session
    assert Event.objects.filter(action="auth.login").count() == 0
    last = Event.objects.filter(action="auth.login_failed").order_by("-seq").first()
    assert last.data["locked"] is True and last.data["failures"] == limit


def test_cool_off_is_per_username_and_address(client, steward, engineer):
    for _ in range(settings.CHARTER_LOGIN_MAX_FAILURES):
        _post_login(client, steward.username, "nope")
    # Another account from the same address, and the same account from another address.
    assert _post_login(client, engineer.username, PASSWORD).status_code == 302
    client.logout()
    other = _post_login(client, steward.username, PASSWORD, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302


def test_cool_off_ends_and_success_clears_the_count(client, steward):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(settings.CHARTER_LOGIN_MAX_FAILURES):
            _post_login(client, steward.username, "nope")
        assert _post_login(client, steward.username, PASSWORD).status_code == 429
        clock.shift(timedelta(seconds=settings.CHARTER_LOGIN_COOLOFF_SECONDS - 5))
        assert _post_login(client, steward.username, PASSWORD).status_code == 429
        clock.shift(timedelta(seconds=10))
        assert _post_login(client, steward.username, PASSWORD).status_code == 302
    assert not LoginThrottle.objects.filter(username=steward.username).exists()


def test_lockout_is_never_permanent_after_the_cool_off_a_fresh_allowance(client, steward):
    start = timezone.now()
    cool_off = timedelta(seconds=settings.CHARTER_LOGIN_COOLOFF_SECONDS + 1)
    with time_machine.travel(start, tick=False) as clock:
        for _round in range(3):
            for _ in range(settings.CHARTER_LOGIN_MAX_FAILURES):
                _post_login(client, steward.username, "nope")
            assert _post_login(client, steward.username, "nope").status_code == 429
            clock.shift(cool_off)
            # one more failure after the cool-off counts from one again: not locked
            assert _post_login(client, steward.username, "nope").status_code == 200
            clock.shift(cool_off)
        assert _post_login(client, steward.username, PASSWORD).status_code == 302


def test_username_case_does_not_dodge_the_throttle(client, steward):
    for n in range(settings.CHARTER_LOGIN_MAX_FAILURES):
        name = steward.username.upper() if n % 2 else steward.username
        _post_login(client, name, "nope")
    assert _post_login(client, steward.username.upper(), PASSWORD).status_code == 429


def test_inactive_user_cannot_log_in(client, steward):
    steward.is_active = False
    steward.save()
    assert _post_login(client, steward.username, PASSWORD).status_code == 200
    assert _actions() == ["auth.login_failed"]


def test_logged_in_user_visiting_login_goes_home(client, steward):
    client.force_login(steward)
    response = client.get(LOGIN)
    assert response.status_code == 302 and response["Location"] == reverse("home")
