"""Charter as an OpenLineage producer: audit runs are sent as RunEvents with dataQualityAssertions.
Only the outside HTTP server is stood in for (a real local server that records what it gets)."""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from lineage.openlineage import parse_event
from lineage.services import openlineage_emit_quality_run
from tests.lineage.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def marquez():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/v1/lineage", received
    server.shutdown()


def test_audit_run_is_emitted_as_a_valid_run_event(
    settings, marquez, django_capture_on_commit_callbacks
):
    url, received = marquez
    settings.CHARTER_OPENLINEAGE_URL = url
    settings.CHARTER_OPENLINEAGE_API_KEY = "secret-key"
    ds = make_dataset("orders")
    run_id = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        queued = openlineage_emit_quality_run(
            dataset=ds,
            dataset_version=ds.current_version,
            run_id=run_id,
            job_name="audit.orders",
            state="COMPLETE",
            started_at=timezone.now(),
            ended_at=timezone.now(),
            assertions=[
                {"assertion": "not_null(id)", "success": True, "column": "id"},
                {"assertion": "row_count", "success": False},
            ],
        )
    assert queued is True and len(received) == 1
    request = received[0]
    assert request["path"] == "/api/v1/lineage"
    assert request["headers"]["Authorization"] == "Bearer secret-key"
    parsed = parse_event(request["body"])  # our own validator accepts it as spec 2-0-2
    assert parsed.event_type == "RunEvent" and str(parsed.run_id) == run_id
    facet = parsed.inputs[0].input_facets["dataQualityAssertions"]
    assert [a["success"] for a in facet["assertions"]] == [True, False]
    assert parsed.inputs[0].facets["version"]["datasetVersion"] == ds.current_version.fingerprint
    assert json.loads(request["body"])["job"] == {
        "namespace": "charter",
        "name": "audit.orders",
        "facets": {},
    }


def test_nothing_is_sent_when_no_endpoint_is_configured(
    settings, marquez, django_capture_on_commit_callbacks
):
    _, received = marquez
    settings.CHARTER_OPENLINEAGE_URL = ""
    ds = make_dataset("orders")
    with django_capture_on_commit_callbacks(execute=True):
        queued = openlineage_emit_quality_run(
            dataset=ds,
            dataset_version=None,
            run_id=str(uuid.uuid4()),
            job_name="audit.orders",
            state="FAIL",
            started_at=timezone.now(),
            assertions=[],
        )
    assert queued is False and received == []


def test_bad_state_is_refused(settings):
    settings.CHARTER_OPENLINEAGE_URL = "http://127.0.0.1:9/x"
    with pytest.raises(ValueError, match="eventType"):
        openlineage_emit_quality_run(
            dataset=make_dataset("x"),
            dataset_version=None,
            run_id=str(uuid.uuid4()),
            job_name="a",
            state="DONE",
            started_at=timezone.now(),
            assertions=[],
        )


def test_downstream_owners_are_told_about_a_failed_audit(engineer, steward):
    from django.core import mail
    from django.utils import timezone

    from lineage.models import EdgeKind, Job, NodeKind
    from lineage.services import edges_upsert
    from lineage.tasks import downstream_notify_task

    source, report = make_dataset("orders"), make_dataset("report", owner=engineer)
    report.stewards.add(steward)
    job = Job.objects.create(namespace="a", name="b")
    edges_upsert(
        edges=[
            (NodeKind.DATASET, source.pk, NodeKind.JOB, job.pk, EdgeKind.READ, None),
            (NodeKind.JOB, job.pk, NodeKind.DATASET, report.pk, EdgeKind.WROTE, None),
        ],
        run=None,
        at=timezone.now(),
    )
    told = downstream_notify_task.delay(
        dataset_id=source.pk, subject="orders failed its audit", message="3 checks failed"
    ).get()
    assert told == 2
    assert sorted(m.to[0] for m in mail.outbox) == [engineer.email, steward.email]
