"""The permission matrix for every access page and API endpoint (see tests/access/matrix.py)."""

import pytest

from tests.access.matrix import PERSONAS, Endpoint, check_endpoint, expect

pytestmark = pytest.mark.django_db
REASON = {"reason": "Matrix test reason."}


def ds(attr, suffix=""):
    return lambda w: f"/catalog/datasets/{getattr(w, attr).name}/access/{suffix}"


HTML = [
    Endpoint(
        "my access", "get", lambda w: "/access/", expect(302, 200, 200, 200, 200, 200, 200, 200)
    ),
    Endpoint(
        "inbox", "get", lambda w: "/access/inbox/", expect(302, 403, 403, 403, 200, 200, 200, 403)
    ),
    Endpoint(
        "report", "get", lambda w: "/access/report/", expect(302, 403, 403, 403, 403, 200, 200, 200)
    ),
    Endpoint(
        "report csv",
        "get",
        lambda w: "/access/report.csv",
        expect(302, 403, 403, 403, 403, 403, 200, 200),
    ),
    Endpoint(
        "tab restricted", "get", ds("restricted"), expect(302, 404, 200, 200, 200, 200, 200, 200)
    ),
    Endpoint("tab internal", "get", ds("internal"), expect(302, 200, 200, 200, 200, 200, 200, 200)),
    Endpoint(
        "preview restricted",
        "get",
        ds("restricted", "preview/"),
        expect(302, 404, 200, 200, 200, 403, 403, 200),
    ),
    Endpoint(
        "preview internal",
        "get",
        ds("internal", "preview/"),
        expect(302, 403, 200, 200, 200, 403, 403, 200),
    ),
    Endpoint(
        "csv restricted",
        "get",
        ds("restricted", "download.csv"),
        expect(302, 404, 200, 200, 200, 403, 403, 200),
    ),
    Endpoint(
        "parquet internal",
        "get",
        ds("internal", "download.parquet"),
        expect(302, 403, 200, 200, 200, 403, 403, 200),
    ),
    Endpoint(
        "readers csv restricted",
        "get",
        ds("restricted", "readers.csv"),
        expect(302, 404, 403, 403, 403, 403, 200, 200),
    ),
    Endpoint(
        "request form restricted",
        "get",
        lambda w: f"/access/datasets/{w.restricted.name}/request/",
        expect(302, 200, 200, 200, 200, 200, 200, 200),
    ),
    Endpoint(
        "request form unknown dataset",
        "get",
        lambda w: "/access/datasets/no-such-thing/request/",
        expect(302, 404, 404, 404, 404, 404, 404, 404),
    ),
    Endpoint(
        "request detail",
        "get",
        lambda w: f"/access/requests/{w.pending_restricted.pk}/",
        expect(302, 200, 404, 404, 200, 200, 200, 200),
    ),
    Endpoint(
        "approve restricted",
        "post",
        lambda w: f"/access/requests/{w.pending_restricted.pk}/approve/",
        expect(302, 403, 404, 404, 403, 302, 302, 403),
    ),
    Endpoint(
        "approve internal",
        "post",
        lambda w: f"/access/requests/{w.pending_internal.pk}/approve/",
        expect(302, 403, 404, 404, 302, 302, 403, 403),
    ),
    Endpoint(
        "deny internal",
        "post",
        lambda w: f"/access/requests/{w.pending_internal.pk}/deny/",
        expect(302, 403, 404, 404, 302, 302, 403, 403),
        data=REASON,
    ),
    Endpoint(
        "withdraw",
        "post",
        lambda w: f"/access/requests/{w.pending_internal.pk}/withdraw/",
        expect(302, 302, 404, 404, 403, 403, 403, 403),
    ),
    Endpoint(
        "revoke form",
        "get",
        lambda w: f"/access/grants/{w.masked_grant.pk}/revoke/",
        expect(302, 404, 200, 404, 200, 200, 403, 200),
    ),
    Endpoint(
        "revoke",
        "post",
        lambda w: f"/access/grants/{w.masked_grant.pk}/revoke/",
        expect(302, 404, 302, 404, 302, 302, 403, 302),
        data=REASON,
    ),
    Endpoint(
        "user access",
        "get",
        lambda w: f"/access/users/{w.masked_grant.user.username}/",
        expect(302, 403, 200, 403, 403, 200, 200, 200),
    ),
]

API = [
    Endpoint(
        "api requests",
        "get",
        lambda w: "/api/v1/access/requests/",
        expect(401, 200, 200, 200, 200, 200, 200, 200),
    ),
    Endpoint(
        "api request create",
        "post",
        lambda w: "/api/v1/access/requests/",
        expect(401, 400, 201, 201, 400, 201, 201, 201),
        data=lambda w: {
            "dataset": w.restricted.name,
            "level": "masked",
            "purpose": "API matrix test purpose",
        },
    ),
    Endpoint(
        "api request detail",
        "get",
        lambda w: f"/api/v1/access/requests/{w.pending_restricted.pk}/",
        expect(401, 200, 404, 404, 200, 200, 200, 200),
    ),
    Endpoint(
        "api approve restricted",
        "post",
        lambda w: f"/api/v1/access/requests/{w.pending_restricted.pk}/approve/",
        expect(401, 403, 404, 404, 403, 200, 200, 403),
    ),
    Endpoint(
        "api deny internal",
        "post",
        lambda w: f"/api/v1/access/requests/{w.pending_internal.pk}/deny/",
        expect(401, 403, 404, 404, 200, 200, 403, 403),
        data=REASON,
    ),
    Endpoint(
        "api withdraw",
        "post",
        lambda w: f"/api/v1/access/requests/{w.pending_internal.pk}/withdraw/",
        expect(401, 200, 404, 404, 403, 403, 403, 403),
    ),
    Endpoint(
        "api grants",
        "get",
        lambda w: "/api/v1/access/grants/",
        expect(401, 200, 200, 200, 200, 200, 200, 200),
    ),
    Endpoint(
        "api revoke",
        "post",
        lambda w: f"/api/v1/access/grants/{w.masked_grant.pk}/revoke/",
        expect(401, 404, 200, 404, 200, 200, 403, 200),
        data=REASON,
    ),
    Endpoint(
        "api readers restricted",
        "get",
        lambda w: f"/api/v1/datasets/{w.restricted.name}/readers/",
        expect(401, 404, 403, 403, 200, 200, 200, 200),
    ),
    Endpoint(
        "api rows restricted",
        "get",
        lambda w: f"/api/v1/datasets/{w.restricted.name}/rows/",
        expect(401, 404, 200, 200, 200, 403, 403, 200),
    ),
    Endpoint(
        "api rows internal csv",
        "get",
        lambda w: f"/api/v1/datasets/{w.internal.name}/rows/?output=csv",
        expect(401, 403, 200, 200, 200, 403, 403, 200),
    ),
]
for endpoint in API:
    endpoint.api = True


@pytest.mark.parametrize("endpoint", HTML, ids=str)
@pytest.mark.parametrize("persona", PERSONAS)
def test_html_matrix(client, access_world, endpoint, persona):
    check_endpoint(client, endpoint, persona, access_world)


@pytest.mark.parametrize("endpoint", API, ids=str)
@pytest.mark.parametrize("persona", PERSONAS)
def test_api_matrix(api_client, access_world, endpoint, persona):
    check_endpoint(api_client, endpoint, persona, access_world)
