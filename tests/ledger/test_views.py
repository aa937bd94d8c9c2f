"""The ledger page, its filters and its CSV/JSON exports (compliance officers and admins only)."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger.hashing import canonical_json
from ledger.models import Event
from ledger.services import ledger_record, ledger_verify

pytestmark = pytest.mark.django_db
PAGE = "/ledger/"


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def events(steward, engineer):
    ledger_record(actor=steward, action="dataset.registered", target=("catalog.dataset", "7"))
    ledger_record(actor=engineer, action="access.requested", data={"purpose": "train"})
    return ledger_record(actor=None, action="grant.expired", target=("access.grant", "3"))


@pytest.mark.parametrize("persona", ["compliance", "admin_user"])
def test_compliance_and_admin_see_the_ledger(client, request, events, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(PAGE)
    assert response.status_code == 200
    assert b"dataset.registered" in response.content and events.hash.encode() in response.content


@pytest.mark.parametrize("persona", ["engineer", "steward", "outsider"])
def test_others_get_403_on_page_exports_and_api(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(PAGE).status_code == 403
    assert client.get("/ledger/export.csv").status_code == 403
    assert client.get("/ledger/export.json").status_code == 403
    assert client.get("/api/v1/ledger/events/").status_code == 403
    assert client.get("/api/v1/ledger/verify/").status_code == 403
    assert not Event.objects.filter(action="ledger.exported").exists()


def test_filters_by_actor_action_target_and_time(client, compliance, events, steward):
    client.force_login(compliance)
    by_actor = client.get(PAGE, {"actor": steward.username})
    assert b"dataset.registered" in by_actor.content and b"access.requested" not in by_actor.content
    by_action = client.get(PAGE, {"action": "access."})
    assert b"access.requested" in by_action.content
    assert b"dataset.registered" not in by_action.content
    by_target = client.get(PAGE, {"target_type": "access.grant", "target_id": "3"})
    assert b"grant.expired" in by_target.content and b"access.requested" not in by_target.content
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert b"No events match" in client.get(PAGE, {"since": future}).content


def test_page_query_count_does_not_grow_with_events(client, compliance, steward):
    client.force_login(compliance)
    for n in range(3):
        ledger_record(actor=steward, action=f"test.{n}")
    with CaptureQueriesContext(connection) as few:
        client.get(PAGE)
    for n in range(40):
        ledger_record(actor=steward, action=f"test.more.{n}")
    with CaptureQueriesContext(connection) as many:
        client.get(PAGE)
    assert len(many) == len(few)


def test_csv_export_names_the_head_and_is_logged(client, compliance, events):
    client.force_login(compliance)
    response = client.get("/ledger/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(_body(response))))
    header, head_row, *events_rows = rows
    assert header[0] == "seq" and header[-1] == "hash"
    export_event = Event.objects.get(action="ledger.exported")
    assert head_row[0] == "# head" and head_row[1] == str(export_event.seq)
    assert head_row[-1] == export_event.hash
    assert [r[0] for r in events_rows] == ["1", "2", "3", "4"]  # chain order, export included
    assert events_rows[-1][-1] == export_event.hash
    assert export_event.actor_id == compliance.pk
    assert export_event.data == {"format": "csv", "filters": {}}


def test_json_export_is_exact_and_verifiable(client, admin_user, events):
    client.force_login(admin_user)
    response = client.get("/ledger/export.json", {"action": "grant."})
    assert response.status_code == 200
    payload = json.loads(_body(response))
    head = Event.objects.order_by("-seq").first()
    assert head.action == "ledger.exported"
    assert payload["head"]["hash"] == head.hash and payload["head"]["seq"] == head.seq
    assert [e["action"] for e in payload["events"]] == ["grant.expired"]
    assert payload["events"][0]["hash"] == events.hash
    assert head.data["filters"] == {"action": "grant."}
    assert ledger_verify().ok


def test_export_with_a_bad_filter_is_refused_and_not_logged(client, compliance):
    client.force_login(compliance)
    response = client.get("/ledger/export.csv", {"since": "not-a-date"})
    assert response.status_code == 400 and b"since" in response.content.lower()
    assert not Event.objects.filter(action="ledger.exported").exists()


def test_csv_export_neutralises_spreadsheet_formulas(client, compliance):
    evil = '=HYPERLINK("http://evil.example","x")'
    ledger_record(actor=None, action="+cmd|' /C calc'!A0", target=("x", "@SUM(1)"))
    ledger_record(actor=None, action="test", target=("-2+3", "1"), data={"v": evil})
    client.force_login(compliance)
    rows = list(csv.reader(io.StringIO(_body(client.get("/ledger/export.csv")))))
    cells = [cell for row in rows for cell in row]
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@")), cell
    assert "'+cmd|' /C calc'!A0" in cells and "'@SUM(1)" in cells and "'-2+3" in cells
    assert canonical_json({"v": evil}) in cells  # JSON details start with "{": harmless


def test_api_lists_events_and_verifies(api_client, compliance, events):
    api_client.force_authenticate(compliance)
    listing = api_client.get("/api/v1/ledger/events/", {"action": "grant."}).json()
    assert listing["count"] == 1 and listing["results"][0]["hash"] == events.hash
    verify = api_client.get("/api/v1/ledger/verify/").json()
    assert verify == {
        "ok": True,
        "checked": 3,
        "head_hash": events.hash,
        "first_bad_seq": None,
        "reason": "",
    }
