"""Audits API: permission matrix, CRUD through services, run now, runs and results."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits import services
from audits.models import AuditPolicy, AuditRun
from catalog.models import Dataset, Sensitivity

CHECKS = [{"kind": "not_null", "column": "email"}, {"kind": "unique", "column": "id"}]


@pytest.fixture
def dataset(make_dataset):
    return make_dataset()


@pytest.fixture
def policy(dataset, steward):
    return services.audit_policy_create(actor=steward, name="api", checks=CHECKS, dataset=dataset)


@pytest.mark.django_db
def test_anonymous_is_refused(api_client):
    assert api_client.get("/api/v1/audit-policies/").status_code in (401, 403)


@pytest.mark.django_db
def test_steward_creates_updates_runs_and_deletes(
    api_client, steward, dataset, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(steward)
    response = api_client.post(
        "/api/v1/audit-policies/",
        {
            "name": "via api",
            "dataset": dataset.name,
            "checks": CHECKS,
            "schedule_kind": "cron",
            "cron": "0 3 * * *",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert response.json()["periodic_task"].startswith(f"audit policy {pk}")
    response = api_client.patch(f"/api/v1/audit-policies/{pk}/", {"enabled": False}, format="json")
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert response.json()["cron"] == "0 3 * * *"
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/v1/audit-policies/{pk}/run/")
    assert response.status_code == 202
    run_id = response.json()[0]["id"]
    detail = api_client.get(f"/api/v1/audit-runs/{run_id}/").json()
    assert detail["state"] == "passed" and detail["version"] == 1
    assert [r["label"] for r in detail["results"]] == ["not_null(email)", "unique(id)"]
    results = api_client.get(f"/api/v1/audit-runs/{run_id}/results/").json()
    assert results[1]["result"]["details"]["duplicate_rows"] == 0
    listed = api_client.get("/api/v1/audit-runs/", {"dataset": dataset.name}).json()
    assert listed["count"] == 1
    assert api_client.delete(f"/api/v1/audit-policies/{pk}/").status_code == 204
    assert not AuditPolicy.objects.filter(pk=pk).exists()


@pytest.mark.django_db
def test_invalid_checks_give_400_with_messages(api_client, steward, dataset):
    api_client.force_authenticate(steward)
    response = api_client.post(
        "/api/v1/audit-policies/",
        {
            "name": "bad",
            "dataset": dataset.name,
            "checks": [{"kind": "regex", "column": "email", "regex": "("}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "does not compile" in str(response.json()["checks"])
    response = api_client.post(
        "/api/v1/audit-policies/",
        {"name": "bad", "dataset": "nope", "checks": CHECKS},
        format="json",
    )
    assert response.status_code == 400 and "No dataset named nope" in str(response.json())
    assert not AuditPolicy.objects.exists()


@pytest.mark.django_db
def test_permission_matrix(api_client, engineer, outsider, policy):
    api_client.force_authenticate(engineer)
    assert api_client.get(f"/api/v1/audit-policies/{policy.pk}/").status_code == 200
    assert (
        api_client.patch(
            f"/api/v1/audit-policies/{policy.pk}/", {"enabled": False}, format="json"
        ).status_code
        == 403
    )
    assert api_client.post(f"/api/v1/audit-policies/{policy.pk}/run/").status_code == 403
    assert api_client.delete(f"/api/v1/audit-policies/{policy.pk}/").status_code == 403
    assert (
        api_client.post(
            "/api/v1/audit-policies/",
            {"name": "x", "dataset": policy.dataset.name, "checks": CHECKS},
            format="json",
        ).status_code
        == 400
    )  # not a dataset the engineer may audit
    Dataset.objects.filter(pk=policy.dataset_id).update(sensitivity=Sensitivity.RESTRICTED)
    api_client.force_authenticate(outsider)
    assert api_client.get(f"/api/v1/audit-policies/{policy.pk}/").status_code == 404
    assert api_client.get("/api/v1/audit-policies/").json()["count"] == 0


@pytest.mark.django_db
def test_run_report_over_the_api(
    api_client, steward, compliance, engineer, policy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    api_client.force_authenticate(engineer)
    assert api_client.get(f"/api/v1/audit-runs/{run.pk}/report/json/").status_code == 403
    api_client.force_authenticate(compliance)
    response = api_client.get(f"/api/v1/audit-runs/{run.pk}/report/json/")
    assert response.status_code == 200 and response["X-Report-SHA256"]


@pytest.mark.django_db
def test_run_list_query_count_is_flat(
    api_client, steward, policy, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(steward)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get("/api/v1/audit-runs/").status_code == 200
            assert api_client.get("/api/v1/audit-policies/").status_code == 200
        return len(ctx.captured_queries)

    with django_capture_on_commit_callbacks(execute=True):
        services.audit_run_request(policy=policy, actor=steward)
    count()  # warm the per-request role cache
    few = count()
    for _ in range(3):
        AuditRun.objects.create(policy=policy, dataset=policy.dataset, checks=policy.checks)
    assert count() == few


@pytest.mark.django_db
def test_pii_proposals_are_listed_and_decided_by_a_steward(
    api_client, steward, engineer, make_dataset, django_capture_on_commit_callbacks
):
    dataset = make_dataset("contacts")
    policy = services.audit_policy_create(
        actor=steward, name="pii", dataset=dataset, checks=[{"kind": "pii_scan"}]
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.audit_run_request(policy=policy, actor=steward)
    api_client.force_authenticate(engineer)
    listed = api_client.get("/api/v1/pii-proposals/", {"dataset": "contacts"}).json()
    proposal = next(p for p in listed["results"] if p["column"] == "email")
    assert proposal["proposed_kind"] == "email" and proposal["status"] == "open"
    url = f"/api/v1/pii-proposals/{proposal['id']}/decide/"
    assert api_client.post(url, {"decision": "accept"}, format="json").status_code == 403
    api_client.force_authenticate(steward)
    response = api_client.post(url, {"decision": "accept"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert api_client.post(url, {"decision": "reject"}, format="json").status_code == 400


@pytest.mark.django_db
def test_policy_detail_with_a_non_numeric_id_is_404_not_500(api_client, steward):
    api_client.force_authenticate(steward)
    assert api_client.get("/api/v1/audit-policies/csv/").status_code == 404
