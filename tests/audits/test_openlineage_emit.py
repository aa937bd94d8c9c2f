"""A finished audit run is sent to CHARTER_OPENLINEAGE_URL as an OpenLineage RunEvent with one
dataQualityAssertions entry per check. Only the outside server is stood in for: a real local
HTTP server that records what it receives."""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from audits import services
from audits.models import AuditRun
from lineage.openlineage import parse_event

pytestmark = pytest.mark.django_db

CHECKS = [
    {"kind": "not_null", "column": "email", "severity": "warning"},
    {"kind": "range", "column": "age", "min_value": 0, "max_value": 50, "severity": "critical"},
    {"kind": "unique", "column": "id", "name": "ids are unique", "severity": "info"},
]


@pytest.fixture
def marquez():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "body": body})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/v1/lineage", received
    server.shutdown()
    server.server_close()


def run_now(policy, actor, capture) -> AuditRun:
    with capture(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=actor)
    return AuditRun.objects.get(pk=run.pk)


def test_failed_run_is_sent_with_one_assertion_per_check(
    settings, marquez, make_dataset, steward, django_capture_on_commit_callbacks
):
    url, received = marquez
    settings.CHARTER_OPENLINEAGE_URL = url
    dataset = make_dataset("people")
    policy = services.audit_policy_create(
        actor=steward, name="people quality", checks=CHECKS, dataset=dataset
    )
    run = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert run.state == AuditRun.State.FAILED  # ages go up to 89
    assert len(received) == 1 and received[0]["path"] == "/api/v1/lineage"
    body = received[0]["body"]
    parsed = parse_event(body)  # the lineage app's own 2-0-2 validator accepts it
    assert parsed.event_type == "RunEvent"
    uuid.UUID(str(parsed.run_id))
    event = json.loads(body)
    assert event["eventType"] == "COMPLETE"
    assert event["job"]["name"] == "audit.people quality"
    [dataset_in] = event["inputs"]
    assert dataset_in["name"] == "people"
    assert dataset_in["facets"]["version"]["datasetVersion"] == run.version.fingerprint
    assertions = dataset_in["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions == [
        {"assertion": "not_null", "success": True, "column": "email", "severity": "warning"},
        {"assertion": "range", "success": False, "column": "age", "severity": "critical"},
        {"assertion": "ids are unique", "success": True, "column": "id", "severity": "info"},
    ]


def test_passed_run_is_complete_with_all_assertions_successful(
    settings, marquez, make_dataset, steward, django_capture_on_commit_callbacks
):
    url, received = marquez
    settings.CHARTER_OPENLINEAGE_URL = url
    dataset = make_dataset("people")
    policy = services.audit_policy_create(
        actor=steward, name="people ok", checks=CHECKS[:1] + CHECKS[2:], dataset=dataset
    )
    first = run_now(policy, steward, django_capture_on_commit_callbacks)
    second = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert first.state == second.state == AuditRun.State.PASSED
    assert len(received) == 2
    events = [json.loads(r["body"]) for r in received]
    assert [e["eventType"] for e in events] == ["COMPLETE", "COMPLETE"]
    assert events[0]["run"]["runId"] != events[1]["run"]["runId"]  # one OpenLineage run each
    for event in events:
        facet = event["inputs"][0]["inputFacets"]["dataQualityAssertions"]
        assert [a["success"] for a in facet["assertions"]] == [True, True]


def test_run_ending_in_error_is_a_fail_event(
    settings, marquez, make_dataset, steward, data_root, django_capture_on_commit_callbacks
):
    url, received = marquez
    settings.CHARTER_OPENLINEAGE_URL = url
    dataset = make_dataset("people")
    policy = services.audit_policy_create(
        actor=steward, name="people quality", checks=CHECKS, dataset=dataset
    )
    (data_root / "people.csv").unlink()
    run = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert run.state == AuditRun.State.ERROR
    [request] = received
    parse_event(request["body"])
    event = json.loads(request["body"])
    assert event["eventType"] == "FAIL"
    assert event["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"] == []


def test_nothing_is_sent_without_an_endpoint(
    settings, marquez, make_dataset, steward, django_capture_on_commit_callbacks
):
    _, received = marquez
    settings.CHARTER_OPENLINEAGE_URL = ""
    dataset = make_dataset("people")
    policy = services.audit_policy_create(
        actor=steward, name="people quality", checks=CHECKS, dataset=dataset
    )
    run = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert run.is_final and received == []


def test_the_event_is_sent_only_after_the_run_commits(
    settings, marquez, make_dataset, steward, django_capture_on_commit_callbacks
):
    url, received = marquez
    settings.CHARTER_OPENLINEAGE_URL = url
    dataset = make_dataset("people")
    policy = services.audit_policy_create(
        actor=steward, name="people quality", checks=CHECKS, dataset=dataset
    )
    with django_capture_on_commit_callbacks(execute=False):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        finished = services.audit_run_execute(run_id=run.pk, task_id="t-1")
        assert finished.state == AuditRun.State.FAILED
    assert received == []  # finished in the transaction, not yet committed: nothing sent
    for callback in callbacks:
        callback()
    assert len(received) == 1
    assert json.loads(received[0]["body"])["eventType"] == "COMPLETE"
