"""The access API: validation errors, the approval flow, grant filters, renewals."""

import pytest

from access.models import AccessRequest
from catalog.models import Sensitivity

pytestmark = pytest.mark.django_db
PURPOSE = "Evaluate churn model drift on last quarter's data."


def test_create_validates_with_field_messages(api_client, engineer, make_dataset):
    make_dataset("vault", Sensitivity.RESTRICTED)
    api_client.force_authenticate(engineer)
    response = api_client.post(
        "/api/v1/access/requests/",
        {
            "dataset": "vault",
            "level": "full",
            "purpose": "why",
            "duration_days": 60,
            "columns": ["x"],
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"purpose", "duration_days", "columns"}
    assert "30 days" in body["duration_days"][0]
    response = api_client.post("/api/v1/access/requests/", {"dataset": "vault"}, format="json")
    assert response.status_code == 400 and {"level", "purpose"} <= set(response.json())
    assert not AccessRequest.objects.exists()


def test_unknown_dataset_is_404(api_client, engineer):
    api_client.force_authenticate(engineer)
    response = api_client.post(
        "/api/v1/access/requests/",
        {"dataset": "ghost", "level": "masked", "purpose": PURPOSE},
        format="json",
    )
    assert response.status_code == 404


def test_restricted_flow_through_the_api(api_client, engineer, steward, compliance, make_dataset):
    make_dataset("vault", Sensitivity.RESTRICTED)
    api_client.force_authenticate(engineer)
    created = api_client.post(
        "/api/v1/access/requests/",
        {"dataset": "vault", "level": "masked", "purpose": PURPOSE, "columns": ["id", "email"]},
        format="json",
    ).json()
    assert created["status"] == "pending" and created["duration_days"] == 14
    pk = created["id"]
    api_client.force_authenticate(steward)
    inbox = api_client.get("/api/v1/access/requests/?scope=inbox").json()
    assert [r["id"] for r in inbox["results"]] == [pk]
    after_one = api_client.post(f"/api/v1/access/requests/{pk}/approve/", {"comment": "ok"}).json()
    assert after_one["status"] == "pending" and after_one["approvals"][0]["capacity"] == "steward"
    api_client.force_authenticate(compliance)
    done = api_client.post(f"/api/v1/access/requests/{pk}/approve/").json()
    assert done["status"] == "approved" and done["grant"]
    api_client.force_authenticate(engineer)
    grants = api_client.get("/api/v1/access/grants/?dataset=vault").json()["results"]
    assert sorted(grants[0]["approvers"]) == ["carla", "stella"] and grants[0]["columns"] == [
        "id",
        "email",
    ]
    rows = b"".join(api_client.get("/api/v1/datasets/vault/rows/?limit=3").streaming_content)
    assert rows.count(b"\n") == 3 and b"@example.com" not in rows


def test_deny_requires_a_reason(api_client, engineer, steward, make_dataset):
    make_dataset("people")
    api_client.force_authenticate(engineer)
    pk = api_client.post(
        "/api/v1/access/requests/",
        {"dataset": "people", "level": "masked", "purpose": PURPOSE},
        format="json",
    ).json()["id"]
    api_client.force_authenticate(steward)
    assert api_client.post(f"/api/v1/access/requests/{pk}/deny/", {}).status_code == 400
    response = api_client.post(f"/api/v1/access/requests/{pk}/deny/", {"reason": "Use the sample"})
    assert response.json()["decision_reason"] == "Use the sample"
    again = api_client.post(f"/api/v1/access/requests/{pk}/approve/")
    assert again.status_code == 400 and "already denied" in str(again.json())


def test_renewal_links_the_old_grant(api_client, engineer, make_dataset, grant_access):
    dataset = make_dataset("people")
    grant = grant_access(engineer, dataset)
    api_client.force_authenticate(engineer)
    response = api_client.post(
        "/api/v1/access/requests/",
        {"dataset": "people", "level": "masked", "purpose": PURPOSE, "renews": grant.pk},
        format="json",
    )
    assert response.status_code == 201 and response.json()["renews"] == grant.pk


def test_readers_lists_grants_in_force(
    api_client, compliance, engineer, make_dataset, grant_access
):
    grant_access(engineer, make_dataset("people"), "full")
    api_client.force_authenticate(compliance)
    readers = api_client.get("/api/v1/datasets/people/readers/").json()["results"]
    assert [(r["user"], r["level"], r["state"]) for r in readers] == [("eddie", "full", "active")]
