"""The OpenLineage accept path: the token intake (lineage/api/intake.py) answers as the DRF view
did, with the token lookup and one INSERT; the worker wake-up (lineage/ingest_wake.py) is
coalesced without losing an event."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu.exceptions import OperationalError

from access.models import ApiToken
from access.roles import ADMIN, COMPLIANCE, ENGINEER, STEWARD
from access.services import api_token_create, api_token_revoke
from lineage import ingest_wake
from lineage.models import LineageEvent
from tests.conftest import make_user
from tests.lineage.conftest import post, run_event

pytestmark = pytest.mark.django_db


def _bearer(client, user) -> str:
    _, raw = api_token_create(user=user, name="pipeline")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return raw


def test_token_post_is_two_queries_and_answers_as_before(api_client, engineer):
    _bearer(api_client, engineer)
    post(api_client, run_event())  # the token's first use notes last_used_at
    event = run_event(inputs=["/data/a.csv"])
    with CaptureQueriesContext(connection) as ctx:
        first = post(api_client, event)
    sql = [q["sql"] for q in ctx.captured_queries]
    # the token (access.services; with the user's roles where it reads them along) and the
    # INSERT: no dedupe SELECT, no transaction, nothing of DRF's
    assert len(sql) <= 3 and sum(s.startswith("INSERT") for s in sql) == 1, sql
    assert not any(s in ("BEGIN", "COMMIT") or "SAVEPOINT" in s for s in sql), sql
    assert first.status_code == 201
    stored = LineageEvent.objects.get(pk=first.json()["id"])
    assert first.json() == {"id": stored.pk, "duplicate": False}
    assert stored.submitted_by_id == engineer.pk and stored.status == "pending"
    assert stored.payload == event and stored.received_at is not None
    again = post(api_client, event)
    assert again.status_code == 200 and again.json() == {"id": stored.pk, "duplicate": True}


@pytest.mark.parametrize("groups", [(STEWARD,), (ENGINEER,), (ADMIN,), (COMPLIANCE, ENGINEER)])
def test_every_role_that_may_post_is_accepted(api_client, roles, groups):
    _bearer(api_client, make_user("poster", *groups))
    assert post(api_client, run_event()).status_code == 201


def test_superuser_without_groups_may_post(api_client, roles):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    _bearer(api_client, admin)
    assert post(api_client, run_event()).status_code == 201


def test_refusals_are_the_drf_views(api_client, engineer, outsider):
    """No role: 403; revoked token, inactive user, unknown or malformed token: 401."""
    compliance = make_user("carl", COMPLIANCE)
    for user, code in ((outsider, 403), (compliance, 403)):
        _bearer(api_client, user)
        assert post(api_client, run_event()).status_code == code
    raw = _bearer(api_client, engineer)
    api_token_revoke(token=ApiToken.objects.get(user=engineer), actor=engineer)
    response = post(api_client, run_event())
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="api"'
    _bearer(api_client, engineer)
    engineer.is_active = False
    engineer.save(update_fields=["is_active"])
    assert post(api_client, run_event()).status_code == 401
    for header in (f"Bearer {raw}x", "Bearer", f"Bearer {raw} extra", "Bearer \xff"):
        api_client.credentials(HTTP_AUTHORIZATION=header)
        assert post(api_client, run_event()).status_code == 401, header
    assert LineageEvent.objects.count() == 0


def test_token_use_is_noted_once_a_minute(api_client, engineer):
    _bearer(api_client, engineer)
    token = ApiToken.objects.get(user=engineer)
    assert token.last_used_at is None
    post(api_client, run_event())
    token.refresh_from_db()
    noted = token.last_used_at
    assert noted is not None
    post(api_client, run_event())
    token.refresh_from_db()
    assert token.last_used_at == noted  # within the minute: not written again
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    post(api_client, run_event())
    token.refresh_from_db()
    assert token.last_used_at > noted


def test_token_post_hostile_bodies_are_400_and_store_nothing(api_client, engineer, settings):
    settings.CHARTER_OPENLINEAGE_MAX_BYTES = 50_000
    _bearer(api_client, engineer)
    for body in (b"{not json", b"[]", b"null", b"[" * 5000 + b"]" * 5000, b"x" * 60_000):
        response = post(api_client, body)
        assert response.status_code == 400 and response.json()["detail"], body[:20]
    response = api_client.post(
        "/api/v1/lineage", data=b"nope", content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )  # fmt: skip
    assert response.status_code == 400 and "gzip" in response.json()["detail"]
    assert LineageEvent.objects.count() == 0


def test_session_post_still_goes_through_drf_with_csrf(engineer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = post(client, run_event())
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert LineageEvent.objects.count() == 0


def test_the_schema_still_documents_the_ingest_post(api_client, steward):
    api_client.force_authenticate(steward)
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "post" in json.loads(schema.content)["paths"]["/api/v1/lineage"]


def test_a_duplicate_inside_a_transaction_does_not_break_it(engineer):
    from lineage.ingest import lineage_event_receive

    body = json.dumps(run_event()).encode()
    with transaction.atomic():
        first, created = lineage_event_receive(body=body, content_encoding="", user=engineer)
        again, created_again = lineage_event_receive(body=body, content_encoding="", user=engineer)
        assert LineageEvent.objects.count() == 1  # the transaction is still usable
    assert created and not created_again and again.pk == first.pk


# --- the worker wake-up ------------------------------------------------------------------------


class FakeTask:
    name = "lineage.tasks.lineage_ingest_task"

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.down = False

    def delay(self, **kwargs) -> None:
        if self.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.sent.append(time.monotonic())


@pytest.fixture
def fake_task(monkeypatch):
    task = FakeTask()
    monkeypatch.setattr(ingest_wake, "_task", lambda: task)
    return task


def _wait_for(predicate, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_wake_ups_in_a_burst_are_one_send_now_and_one_after_the_last_event(
    fake_task, django_capture_on_commit_callbacks
):
    waker = ingest_wake.Waker(0.3)
    with django_capture_on_commit_callbacks(execute=True):  # wake() runs after commit
        for _ in range(50):
            waker.wake()
    assert len(fake_task.sent) == 1  # the leading edge, at once
    last_wake = time.monotonic()
    assert _wait_for(lambda: len(fake_task.sent) == 2)  # the trailing edge
    assert fake_task.sent[1] >= last_wake  # sent after every event of the burst was committed
    time.sleep(0.35)
    assert len(fake_task.sent) == 2  # nothing more without new events
    with django_capture_on_commit_callbacks(execute=True):
        waker.wake()  # a quiet window has passed: sent at once again
    assert len(fake_task.sent) == 3


def test_wake_ups_from_threads_never_leave_an_event_without_a_later_send(fake_task, monkeypatch):
    monkeypatch.setattr(ingest_wake, "enqueue_on_commit", lambda task, **kw: task.delay(**kw))
    waker = ingest_wake.Waker(0.05)
    wakes: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(40):
            with lock:
                wakes.append(time.monotonic())
            waker.wake()
            time.sleep(0.003)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _wait_for(lambda: fake_task.sent and fake_task.sent[-1] >= max(wakes))
    assert len(fake_task.sent) < len(wakes) / 4  # coalesced


def test_a_failed_send_is_reported_and_not_coalesced_until_one_works(
    fake_task, caplog, django_capture_on_commit_callbacks
):
    from config.celery import unsent_tasks_end, unsent_tasks_start

    waker = ingest_wake.Waker(60)
    fake_task.down = True
    for _ in range(3):
        token = unsent_tasks_start()
        with django_capture_on_commit_callbacks(execute=True):
            waker.wake()
        assert unsent_tasks_end(token) == [FakeTask.name]  # the request says so (header)
    assert not fake_task.sent and "queue unavailable" in caplog.text
    fake_task.down = False
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            waker.wake()
    assert len(fake_task.sent) == 1  # healthy again: the second is coalesced (trailing, later)
    waker.timer.cancel()


def test_accepting_without_an_eager_queue_wakes_through_the_waker(
    pipeline, fake_task, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    waker = ingest_wake.Waker(60)
    monkeypatch.setattr(ingest_wake, "_waker", waker)
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):  # the wake-up waits for commit
            assert post(pipeline, run_event()).status_code == 201
    assert len(fake_task.sent) == 1 and waker.timer is not None  # one now, one armed for later
    waker.timer.cancel()
