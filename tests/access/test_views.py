"""Access pages: forms, flows, clear errors, and flat query counts on every list."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.models import AccessRequest
from access.roles import ENGINEER
from access.services import access_request_create
from catalog.models import Sensitivity
from ledger.models import Event
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
PURPOSE = "Fraud model feature engineering, Q4."


def count_queries(call) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = call()
        assert response.status_code == 200, response.status_code
    return len(ctx.captured_queries)


def test_request_form_creates_a_request(client, engineer, make_dataset):
    dataset = make_dataset(sensitivity=Sensitivity.CONFIDENTIAL)
    client.force_login(engineer)
    page = client.get(f"/access/datasets/{dataset.name}/request/")
    assert b"At most 90 days" in page.content
    response = client.post(
        f"/access/datasets/{dataset.name}/request/",
        {"level": "masked", "purpose": PURPOSE, "duration_days": 20, "columns": ["id", "email"]},
    )
    req = AccessRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/access/requests/{req.pk}/"
    assert req.columns == ["id", "email"] and req.duration_days == 20


def test_request_form_shows_clear_errors_and_saves_nothing(client, engineer, make_dataset):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    client.force_login(make_user("steve", "Data steward"))
    response = client.post(
        f"/access/datasets/{dataset.name}/request/",
        {"level": "full", "purpose": "x", "duration_days": 45},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "at least 10 characters" in html
    assert "Choose between 1 and 30 days for restricted data" in html
    assert not AccessRequest.objects.exists()


def test_restricted_request_form_by_name_reveals_no_columns(client, engineer, make_dataset):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    client.force_login(engineer)
    assert client.get(f"/catalog/datasets/{dataset.name}/access/").status_code == 404
    html = client.get(f"/access/datasets/{dataset.name}/request/").content.decode()
    assert "steward <strong>and</strong> a compliance officer" in html
    assert "birth_date" not in html and "email" not in html


def test_request_page_of_an_invisible_restricted_dataset_shows_no_columns(
    client, engineer, make_dataset
):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    req = access_request_create(
        requester=engineer, dataset=dataset, level="masked", purpose=PURPOSE
    )
    client.force_login(engineer)
    html = client.get(f"/access/requests/{req.pk}/").content.decode()
    assert "<dt>PII columns" not in html and "birth_date" not in html


def test_public_dataset_request_page_says_no_request_is_needed(client, engineer, make_dataset):
    dataset = make_dataset(sensitivity=Sensitivity.PUBLIC)
    client.force_login(engineer)
    html = client.get(f"/access/datasets/{dataset.name}/request/").content.decode()
    assert "no request is needed" in html and "Send request" not in html


def test_approve_and_deny_through_the_pages(client, engineer, steward, make_dataset):
    dataset = make_dataset()
    req = access_request_create(
        requester=engineer, dataset=dataset, level="masked", purpose=PURPOSE
    )
    client.force_login(steward)
    inbox = client.get("/access/inbox/").content.decode()
    assert PURPOSE in inbox and "ML engineer" in inbox and "full_name" in inbox  # PII columns
    response = client.post(f"/access/requests/{req.pk}/deny/", {"reason": ""}, follow=True)
    assert "Give a reason" in response.content.decode()
    response = client.post(f"/access/requests/{req.pk}/approve/", {"comment": "ok"}, follow=True)
    assert "approved" in response.content.decode().lower()
    req.refresh_from_db()
    assert req.status == "approved"
    client.force_login(engineer)
    home = client.get("/access/").content.decode()
    assert dataset.name in home and "Preview" in home


def test_decisions_never_redirect_off_site(client, engineer, steward, make_dataset):
    req = access_request_create(
        requester=engineer, dataset=make_dataset(), level="masked", purpose=PURPOSE
    )
    client.force_login(steward)
    response = client.post(
        f"/access/requests/{req.pk}/approve/", {"next": "https://evil.example/phish"}
    )
    assert response["Location"] == f"/access/requests/{req.pk}/"


def test_revoke_page_needs_a_reason(client, engineer, steward, make_dataset, grant_access):
    grant = grant_access(engineer, make_dataset())
    client.force_login(steward)
    response = client.post(f"/access/grants/{grant.pk}/revoke/", {"reason": ""})
    assert response.status_code == 200 and b"Give a reason" in response.content
    response = client.post(f"/access/grants/{grant.pk}/revoke/", {"reason": "left team"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.ending == "revoked"


def test_dataset_tab_shows_readers_with_purpose_and_approvers(
    client, engineer, steward2, compliance, make_dataset, grant_access
):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    grant_access(engineer, dataset, "full")
    client.force_login(compliance)
    html = client.get(f"/catalog/datasets/{dataset.name}/access/").content.decode()
    assert "Who can read this data" in html and "Train the churn model" in html
    assert "stella" in html and "carla" in html  # the two approvers
    csv = b"".join(client.get(f"/catalog/datasets/{dataset.name}/access/readers.csv")).decode()
    assert csv.splitlines()[0].startswith("dataset,tier,user,email,level,purpose")
    assert "eddie" in csv and "full" in csv


def test_report_csv_is_compliance_only_and_formula_safe(client, compliance, make_dataset, roles):
    from access.services import access_request_approve

    evil = make_user("mallory", ENGINEER)
    dataset = make_dataset()
    req = access_request_create(
        requester=evil, dataset=dataset, level="masked", purpose="=HYPERLINK(1) purpose"
    )
    access_request_approve(access_request=req, approver=make_user("sam", "Data steward"))
    client.force_login(compliance)
    csv = b"".join(client.get("/access/report.csv").streaming_content).decode()
    assert "'=HYPERLINK" in csv


# --- query counts: listing pages ask for permissions once, not per row ------------------------


def _populate(make_dataset, grant_access, n: int, start: int = 0):
    for i in range(start, start + n):
        user = make_user(f"user{i}", ENGINEER)
        dataset = make_dataset(f"ds{i}", Sensitivity.INTERNAL)
        grant_access(user, dataset, "masked")
        access_request_create(
            requester=user, dataset=make_dataset(f"pend{i}"), level="full", purpose=PURPOSE
        )


LIST_PAGES = [
    "/access/",
    "/access/inbox/",
    "/access/report/",
    "/access/report/?ended=1",
    "/api/v1/access/requests/?scope=all",
    "/api/v1/access/requests/?scope=inbox",
    "/api/v1/access/grants/",
]


@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_query_count_does_not_grow_with_rows(client, steward, make_dataset, grant_access, url):
    client.force_login(steward)
    _populate(make_dataset, grant_access, 2)
    few = count_queries(lambda: client.get(url))
    _populate(make_dataset, grant_access, 8, start=2)
    many = count_queries(lambda: client.get(url))
    assert many == few, f"{url}: {few} -> {many} queries"


def test_my_access_query_count_is_flat_for_the_engineer(
    client, engineer, make_dataset, grant_access
):
    client.force_login(engineer)
    for i in range(2):
        grant_access(engineer, make_dataset(f"a{i}"))
    few = count_queries(lambda: client.get("/access/"))
    for i in range(2, 10):
        grant_access(engineer, make_dataset(f"a{i}"))
        access_request_create(
            requester=engineer, dataset=make_dataset(f"b{i}"), level="full", purpose=PURPOSE
        )
    many = count_queries(lambda: client.get("/access/"))
    assert many == few


def test_dataset_tab_query_count_is_flat_in_readers(client, compliance, make_dataset, grant_access):
    dataset = make_dataset(sensitivity=Sensitivity.INTERNAL)
    client.force_login(compliance)
    for i in range(2):
        grant_access(make_user(f"r{i}", ENGINEER), dataset)
    few = count_queries(lambda: client.get(f"/catalog/datasets/{dataset.name}/access/"))
    for i in range(2, 10):
        grant_access(make_user(f"r{i}", ENGINEER), dataset)
    many = count_queries(lambda: client.get(f"/catalog/datasets/{dataset.name}/access/"))
    assert many == few


def test_every_read_and_decision_is_a_ledger_event(client, engineer, steward, make_dataset):
    dataset = make_dataset()
    client.force_login(engineer)
    client.post(
        f"/access/datasets/{dataset.name}/request/",
        {"level": "masked", "purpose": PURPOSE, "duration_days": 5},
    )
    req = AccessRequest.objects.get()
    client.force_login(steward)
    client.post(f"/access/requests/{req.pk}/approve/")
    client.force_login(engineer)
    client.get(f"/catalog/datasets/{dataset.name}/access/preview/")
    actions = list(Event.objects.order_by("seq").values_list("action", flat=True))
    assert [a for a in actions if not a.startswith("auth.")] == [
        "access.requested",
        "access.approved",
        "access.granted",
        "data.read",
    ]
