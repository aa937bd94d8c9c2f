"""Audit pages: permissions (404 invisible, 403 not allowed), flows without JavaScript, reports."""

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from audits import services
from audits.models import AuditPolicy, AuditRun, ProcessingActivity, Report
from catalog.models import Dataset, Sensitivity
from ledger.models import Event

CHECKS = [
    {"kind": "not_null", "column": "email"},
    {"kind": "range", "column": "age", "min_value": 0, "max_value": 50},
]


@pytest.fixture
def dataset(make_dataset):
    return make_dataset()


@pytest.fixture
def policy(dataset, steward):
    return services.audit_policy_create(
        actor=steward, name="people", checks=CHECKS, dataset=dataset
    )


@pytest.fixture
def finished_run(policy, steward, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_steward_creates_a_policy_and_runs_it_without_javascript(
    client, steward, dataset, django_capture_on_commit_callbacks
):
    client.force_login(steward)
    page = client.get(reverse("audits:policy-create"))
    assert page.status_code == 200 and b"Check kinds" in page.content
    response = client.post(
        reverse("audits:policy-create"),
        {
            "name": "web policy",
            "dataset": dataset.name,
            "checks": json.dumps(CHECKS),
            "schedule_kind": "interval",
            "interval_minutes": 60,
            "time_limit_seconds": 600,
            "enabled": "on",
            "notify": "on",
        },
    )
    policy = AuditPolicy.objects.get(name="web policy")
    assert response.status_code == 302 and response.url == policy.get_absolute_url()
    assert policy.periodic_task is not None
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("audits:policy-run", args=[policy.pk]))
    run = AuditRun.objects.get(policy=policy)
    assert response.url == run.get_absolute_url()
    page = client.get(run.get_absolute_url())
    assert page.status_code == 200
    assert b"range(age)" in page.content and b"failed" in page.content


@pytest.mark.django_db
def test_bad_checks_json_is_refused_with_a_message_and_nothing_saved(client, steward, dataset):
    client.force_login(steward)
    response = client.post(
        reverse("audits:policy-create"),
        {
            "name": "bad",
            "dataset": dataset.name,
            "checks": '[{"kind": "range", "column": "age"}]',
            "schedule_kind": "manual",
            "time_limit_seconds": 600,
        },
    )
    assert response.status_code == 200
    assert b"give min_value, max_value or both" in response.content
    response = client.post(
        reverse("audits:policy-create"),
        {
            "name": "bad",
            "dataset": dataset.name,
            "checks": "[oops",
            "schedule_kind": "manual",
            "time_limit_seconds": 600,
        },
    )
    assert b"Not valid JSON" in response.content
    assert not AuditPolicy.objects.exists()


@pytest.mark.django_db
def test_engineer_cannot_manage_or_run(client, engineer, policy):
    client.force_login(engineer)
    assert client.get(reverse("audits:policy-detail", args=[policy.pk])).status_code == 200
    assert client.post(reverse("audits:policy-run", args=[policy.pk])).status_code == 403
    assert client.get(reverse("audits:policy-edit", args=[policy.pk])).status_code == 403
    assert client.get(reverse("audits:policy-create")).status_code == 403


@pytest.mark.django_db
def test_runs_on_restricted_datasets_are_404_for_outsiders(client, engineer, finished_run):
    Dataset.objects.filter(pk=finished_run.dataset_id).update(sensitivity=Sensitivity.RESTRICTED)
    client.force_login(engineer)
    assert client.get(finished_run.get_absolute_url()).status_code == 404
    assert client.get(reverse("audits:run-status", args=[finished_run.pk])).status_code == 404
    assert (
        client.get(reverse("audits:policy-detail", args=[finished_run.policy_id])).status_code
        == 404
    )


@pytest.mark.django_db
def test_run_status_json(client, steward, finished_run):
    client.force_login(steward)
    data = client.get(reverse("audits:run-status", args=[finished_run.pk])).json()
    assert data == {"state": "failed", "progress": 100, "final": True, "error": ""}


@pytest.mark.django_db
def test_compliance_downloads_a_pdf_that_opens_with_its_digest(client, compliance, finished_run):
    client.force_login(compliance)
    response = client.get(reverse("audits:run-report", args=[finished_run.pk, "pdf"]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in reader.pages)
    digest = response["X-Report-SHA256"]
    assert "Audit report" in text and digest in text.replace("\n", "")
    event = Event.objects.get(action="audit_report.downloaded")
    assert event.data["sha256"] == digest
    assert Report.objects.get().sha256 == digest


@pytest.mark.django_db
def test_json_report_digest_is_the_sha256_of_its_canonical_json(client, compliance, finished_run):
    import hashlib

    from audits.reports import canonical

    client.force_login(compliance)
    report = client.get(reverse("audits:run-report", args=[finished_run.pk, "json"])).json()
    integrity = report.pop("integrity")
    assert hashlib.sha256(canonical(report)).hexdigest() == integrity["sha256"]
    assert report["scope"]["version"]["number"] == 1
    assert report["conclusions"]["overall_status"] == "failed"
    assert {f["check"] for f in report["findings"]} == {"not_null(email)", "range(age)"}
    csv_text = client.get(reverse("audits:run-report", args=[finished_run.pk, "csv"])).content
    assert b"integrity,sha256," in csv_text


@pytest.mark.django_db
def test_report_permissions(client, engineer, steward2, steward, finished_run):
    url = reverse("audits:run-report", args=[finished_run.pk, "pdf"])
    client.force_login(engineer)
    assert client.get(url).status_code == 403
    client.force_login(steward2)  # a steward, but not of this dataset
    assert client.get(url).status_code == 403
    client.force_login(steward)  # the owner
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_compliance_report_over_a_period(client, compliance, engineer, finished_run):
    client.force_login(engineer)
    assert client.get(reverse("audits:compliance")).status_code == 403
    client.force_login(compliance)
    assert client.get(reverse("audits:compliance")).status_code == 200
    response = client.get(
        reverse("audits:compliance"), {"start": "2020-01-01", "end": "2030-01-01", "format": "json"}
    )
    report = response.json()
    [row] = report["findings"]
    assert row["dataset"] == "people" and row["audit_runs"] == {"failed": 1}
    assert row["status"] == "fail"
    bad = client.get(
        reverse("audits:compliance"), {"start": "2030-01-01", "end": "2020-01-01", "format": "json"}
    )
    assert b"starts after it ends" in bad.content


@pytest.mark.django_db
def test_processing_activity_record(client, compliance, engineer, dataset):
    client.force_login(engineer)
    assert client.get(reverse("audits:activity-list")).status_code == 403
    client.force_login(compliance)
    response = client.post(
        reverse("audits:activity-create"),
        {
            "name": "Customer support",
            "controller": "ACME Ltd, privacy@acme.test",
            "purposes": "Answer support tickets",
            "lawful_basis": "contract",
            "data_subject_categories": "customers",
            "personal_data_categories": "contact details",
            "datasets": [dataset.pk],
        },
    )
    assert response.status_code == 302
    activity = ProcessingActivity.objects.get()
    assert list(activity.datasets.all()) == [dataset]
    assert Event.objects.filter(action="processing_activity.created").exists()
    report = client.get(reverse("audits:ropa-download", args=["json"])).json()
    assert report["findings"][0]["datasets"] == ["people"]
    assert {c["field"] for c in report["criteria"]} >= {
        "controller",
        "dpo_contact",
        "purposes",
        "data_subject_categories",
        "personal_data_categories",
        "recipient_categories",
        "third_country_transfers",
        "erasure_time_limits",
        "security_measures",
        "lawful_basis",
        "source",
        "datasets",
        "retention_rule",
        "last_reviewed_at",
        "owner",
    }
    pdf = client.get(reverse("audits:ropa-download", args=["pdf"]))
    assert PdfReader(io.BytesIO(pdf.content)).pages


@pytest.mark.django_db
def test_dataset_audits_tab_has_badge_and_chart(client, steward, finished_run):
    client.force_login(steward)
    page = client.get(reverse("audits:dataset-audits", kwargs={"name": "people"}))
    assert page.status_code == 200
    assert b"<svg" in page.content and b"<polyline" in page.content
    assert b"badge failed" in page.content


@pytest.mark.django_db
def test_index_query_count_is_flat(
    client, steward, make_dataset, django_capture_on_commit_callbacks
):
    client.force_login(steward)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("audits:index")).status_code == 200
        return len(ctx.captured_queries)

    def add(n: int) -> None:
        for i in range(n):
            ds = make_dataset(f"ds{AuditPolicy.objects.count()}-{i}")
            policy = services.audit_policy_create(
                actor=steward, name=f"p-{ds.name}", checks=CHECKS, dataset=ds
            )
            with django_capture_on_commit_callbacks(execute=True):
                services.audit_run_request(policy=policy, actor=steward)

    add(1)
    few = count()
    add(3)
    assert count() == few


@pytest.mark.django_db
def test_dataset_audits_tab_query_count_is_flat(
    client, steward, policy, django_capture_on_commit_callbacks
):
    client.force_login(steward)
    url = reverse("audits:dataset-audits", kwargs={"name": "people"})

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    with django_capture_on_commit_callbacks(execute=True):
        services.audit_run_request(policy=policy, actor=steward)
    few = count()
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            services.audit_run_request(policy=policy, actor=steward)
    assert count() == few


@pytest.mark.django_db
def test_unknown_report_format_is_404(client, compliance, finished_run):
    client.force_login(compliance)
    assert client.get(f"/audits/runs/{finished_run.pk}/report.docx").status_code == 404
    assert client.get("/audits/processing/record.docx").status_code == 404


@pytest.mark.django_db
def test_run_page_rounds_float_observations(client, steward, finished_run):
    result = finished_run.results.first()
    result.observed_value = 0.7994232306200033
    result.save(update_fields=["observed_value"])
    client.force_login(steward)
    page = client.get(reverse("audits:run-detail", args=[finished_run.pk])).content.decode()
    assert "<code>0.799423</code>" in page
    assert "0.7994232306200033" not in page
