import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Connection, Dataset, IssueReport, Sensitivity
from ledger.models import Event
from tests.catalog.conftest import write_csv

pytestmark = pytest.mark.django_db
API = "/api/v1/datasets/"


def count_queries(call) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_anonymous_is_refused(api_client, make_dataset):
    make_dataset("d")
    for url in (API, API + "d/", "/api/v1/connections/"):
        assert api_client.get(url).status_code in (401, 403)


def test_list_search_and_facets(api_client, steward, make_dataset):
    make_dataset("weather", sensitivity=Sensitivity.PUBLIC)
    make_dataset("wages")
    api_client.force_authenticate(steward)
    body = api_client.get(API, {"search": "weathr", "facets": "true"}).json()
    assert [d["name"] for d in body["results"]] == ["weather"]
    assert body["facets"]["sensitivity"] == [{"value": "public", "label": "Public", "count": 1}]
    body = api_client.get(API, {"sensitivity": "internal"}).json()
    assert [d["name"] for d in body["results"]] == ["wages"]
    assert api_client.get(API, {"sensitivity": "bogus"}).status_code == 400


@pytest.mark.parametrize("persona", ["steward", "engineer"])
def test_list_query_count_is_flat(request, api_client, make_dataset, persona):
    user = request.getfixturevalue(persona)
    make_dataset("a")
    api_client.force_authenticate(user)
    api_client.get(API)  # warm the per-user role cache
    few = count_queries(lambda: api_client.get(API, {"facets": "true"}))
    for i in range(6):
        make_dataset(f"b{i}", sensitivity=Sensitivity.RESTRICTED if i % 2 else Sensitivity.INTERNAL)
    assert count_queries(lambda: api_client.get(API, {"facets": "true"})) == few


def test_list_queries_at_most_six_whatever_the_page_size(
    api_client, engineer, steward, compliance, make_dataset
):
    from access.services import access_request_approve, access_request_create

    secret = make_dataset("secret", sensitivity=Sensitivity.RESTRICTED)
    request = access_request_create(
        requester=engineer, dataset=secret, level="masked", purpose="Query count test"
    )
    for approver in (steward, compliance):
        request = access_request_approve(access_request=request, approver=approver)
    for i in range(12):
        make_dataset(f"d{i:02d}", sensitivity=Sensitivity.PUBLIC if i % 2 else Sensitivity.INTERNAL)
    api_client.force_authenticate(engineer)
    api_client.get(API)  # warm the per-user role cache
    small = count_queries(lambda: api_client.get(API, {"page_size": 2}))
    large = count_queries(lambda: api_client.get(API, {"page_size": 50}))
    assert small == large <= 6
    names = [d["name"] for d in api_client.get(API, {"page_size": 50}).json()["results"]]
    assert "secret" in names and len(names) == 13


def test_list_rows_equal_the_documented_serializer(api_client, steward, make_dataset):
    """The fast rows (no DRF fields) are exactly what DatasetListOutputSerializer documents."""
    from catalog.api.serializers import DatasetListOutputSerializer
    from catalog.models import Column, Domain, Tag
    from catalog.selectors import dataset_list

    plain = make_dataset("plain")
    rich = make_dataset("rich.one", sensitivity=Sensitivity.PUBLIC)
    rich.owner, rich.domain = steward, Domain.objects.create(name="Sales")
    rich.row_count, rich.size_bytes = 12, 3400
    rich.save()
    rich.tags.add(Tag.objects.create(name="zeta"), Tag.objects.create(name="alpha"))
    Column.objects.create(dataset=rich, name="contact", position=99, pii_kind="email")
    api_client.force_authenticate(steward)
    body = api_client.get(API).json()
    expected = DatasetListOutputSerializer(
        dataset_list(Dataset.objects.filter(pk__in=[plain.pk, rich.pk])).order_by("name"),
        many=True,
    ).data
    assert body["results"] == [dict(row) for row in expected]
    assert body["results"][1]["tags"] == ["alpha", "zeta"] and body["results"][1]["has_pii"]


def test_list_pages_have_no_count_unless_asked(api_client, engineer, make_dataset):
    for i in range(5):
        make_dataset(f"d{i}")
    api_client.force_authenticate(engineer)
    body = api_client.get(API, {"page_size": 2}).json()
    assert "count" not in body and "count_capped" not in body
    assert body["previous"] is None and body["next"].endswith("page=2&page_size=2")
    counted = api_client.get(API, {"page_size": 2, "page": 2, "count": "true"}).json()
    assert counted["count"] == 5 and counted["count_capped"] is False
    assert [d["name"] for d in counted["results"]] == ["d2", "d3"]
    assert "page=" not in counted["previous"] and "page=3" in counted["next"]
    last = api_client.get(API, {"page_size": 2, "page": "last"}).json()
    assert [d["name"] for d in last["results"]] == ["d4"] and last["next"] is None
    for page in ("4", "0", "x"):
        assert api_client.get(API, {"page_size": 2, "page": page}).status_code == 404
    assert api_client.get(API, {"search": "nothing-like-it"}).json()["results"] == []


@pytest.mark.parametrize("sort", ["name", "-updated_at", "-row_count", "relevance"])
def test_walking_next_links_returns_every_visible_dataset_once(
    api_client, engineer, make_dataset, sort
):
    """Following `next` from page 1 yields each dataset the engineer may see exactly once."""
    for i in range(11):
        sensitivity = Sensitivity.RESTRICTED if i % 4 == 0 else Sensitivity.INTERNAL
        rows = [[j, "Oslo", 1] for j in range(i % 3 + 1)]  # row counts tie: name breaks ties
        make_dataset(f"walk{i:02d}", sensitivity=sensitivity, rows=rows)
    api_client.force_authenticate(engineer)
    params = {"page_size": 3, "sort": sort} | ({"search": "walk"} if sort == "relevance" else {})
    body = api_client.get(API, params).json()
    seen = [d["name"] for d in body["results"]]
    while body["next"]:
        body = api_client.get(body["next"]).json()
        seen += [d["name"] for d in body["results"]]
    visible = [f"walk{i:02d}" for i in range(11) if i % 4]
    assert sorted(seen) == visible and len(seen) == len(visible)


def test_restricted_dataset_is_404_for_engineer(api_client, engineer, make_dataset):
    make_dataset("secret", sensitivity=Sensitivity.RESTRICTED)
    api_client.force_authenticate(engineer)
    assert api_client.get(API + "secret/").status_code == 404
    assert api_client.get(API + "secret/versions/").status_code == 404
    assert (
        api_client.post(API + "secret/issues/", {"kind": "quality", "title": "x"}).status_code
        == 404
    )
    assert api_client.get(API, {"search": "secret"}).json()["results"] == []
    assert api_client.get(API, {"search": "secret", "count": "true"}).json()["count"] == 0


def test_register_by_api(api_client, steward, data_root, django_capture_on_commit_callbacks):
    write_csv(data_root / "sales.csv", ["id", "amount"], [[1, 2.5], [2, 3.5]])
    api_client.force_authenticate(steward)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            API, {"name": "sales", "path": "sales.csv", "tags": ["finance"]}, format="json"
        )
    assert response.status_code == 201, response.content
    assert response.json()["source_kind"] == "file"
    body = api_client.get(API + "sales/").json()
    assert (
        body["profile_status"] == "ready"
        and body["row_count"] == 2
        and body["current_version"] == 1
    )
    assert [c["name"] for c in body["columns"]] == ["id", "amount"]
    assert body["tags"] == ["finance"]


def test_register_upload_by_api(api_client, steward, data_root, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    api_client.force_authenticate(steward)
    upload = SimpleUploadedFile("x.csv", b"a,b\n1,2\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(API, {"name": "up", "upload": upload}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["source_kind"] == "upload"


def test_register_refusals_are_400_with_reason(api_client, steward, engineer, data_root):
    api_client.force_authenticate(steward)
    response = api_client.post(API, {"name": "x", "path": "../../etc/passwd"}, format="json")
    assert response.status_code == 400 and ".." in str(response.json())
    response = api_client.post(API, {"name": "x", "path": "missing.csv"}, format="json")
    assert response.status_code == 400 and "No file" in str(response.json())
    assert not Dataset.objects.exists()
    api_client.force_authenticate(engineer)
    assert api_client.post(API, {"name": "x", "path": "a.csv"}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("engineer", 403),
        ("outsider", 403),
        ("steward2", 200),
        ("compliance", 403),
        ("admin_user", 200),
    ],
)
def test_patch_permission_matrix(request, api_client, make_dataset, persona, expected):
    make_dataset("d")
    api_client.force_authenticate(request.getfixturevalue(persona))
    response = api_client.patch(API + "d/", {"title": "New"}, format="json")
    assert response.status_code == expected


def test_patch_describes_and_logs(api_client, steward, steward2, make_dataset):
    make_dataset("d")
    api_client.force_authenticate(steward)
    response = api_client.patch(
        API + "d/",
        {
            "title": "Sales",
            "stewards": ["stan"],
            "glossary_terms": ["Revenue"],
            "legal_basis": "contract",
            "retention_days": 90,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stewards"] == ["stan"] and body["glossary_terms"] == ["Revenue"]
    assert Event.objects.get(action="dataset.updated").data["changes"]["legal_basis"] == {
        "before": "",
        "after": "contract",
    }
    assert api_client.patch(API + "d/", {"owner": "nobody"}, format="json").status_code == 400
    assert api_client.patch(API + "d/", {"sensitivity": "secret"}, format="json").status_code == 400


def test_owner_who_is_an_engineer_may_edit(api_client, engineer, make_dataset):
    make_dataset("mine", owner=engineer)
    api_client.force_authenticate(engineer)
    assert api_client.patch(API + "mine/", {"title": "Mine"}, format="json").status_code == 200


def test_column_classification_api(api_client, steward, engineer, make_dataset):
    make_dataset("d")
    api_client.force_authenticate(engineer)
    assert (
        api_client.patch(
            API + "d/columns/city/", {"pii_kind": "address"}, format="json"
        ).status_code
        == 403
    )
    api_client.force_authenticate(steward)
    response = api_client.patch(
        API + "d/columns/city/",
        {"pii_kind": "address", "protected_attribute": "nationality"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["pii_kind"] == "address"
    assert (
        api_client.patch(
            API + "d/columns/nope/", {"pii_kind": "address"}, format="json"
        ).status_code
        == 404
    )
    assert (
        api_client.patch(
            API + "d/columns/city/", {"pii_kind": "shoe-size"}, format="json"
        ).status_code
        == 400
    )


def test_reprofile_deprecate_reactivate_versions(
    api_client, steward, make_dataset, django_capture_on_commit_callbacks
):
    make_dataset("old")
    make_dataset("new")
    api_client.force_authenticate(steward)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(API + "old/reprofile/", {}, format="json").status_code == 202
    response = api_client.post(
        API + "old/deprecate/", {"reason": "Use new", "replaced_by": "new"}, format="json"
    )
    assert response.json()["status"] == "deprecated" and response.json()["replaced_by"] == "new"
    assert (
        api_client.post(
            API + "old/deprecate/", {"reason": "x", "replaced_by": "ghost"}, format="json"
        ).status_code
        == 400
    )
    assert api_client.post(API + "old/reactivate/").json()["status"] == "active"
    versions = api_client.get(API + "old/versions/").json()
    assert versions["count"] == 1 and versions["results"][0]["number"] == 1


def test_issue_reports_api(
    api_client, engineer, steward, make_dataset, django_capture_on_commit_callbacks
):
    make_dataset("d")
    api_client.force_authenticate(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            API + "d/issues/", {"kind": "quality", "title": "Nulls in city"}, format="json"
        )
    assert response.status_code == 201
    pk = response.json()["id"]
    assert api_client.get(API + "d/issues/").json()["count"] == 1
    assert (
        api_client.patch(API + f"d/issues/{pk}/", {"status": "resolved"}, format="json").status_code
        == 403
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            api_client.post(
                API + f"d/issues/{pk}/comments/", {"body": "Still there"}, format="json"
            ).status_code
            == 201
        )
    api_client.force_authenticate(steward)
    assert (
        api_client.patch(API + f"d/issues/{pk}/", {"status": "resolved"}, format="json").json()[
            "status"
        ]
        == "resolved"
    )
    assert api_client.get(API + "d/issues/").json()["count"] == 0
    detail = api_client.get(API + f"d/issues/{pk}/").json()
    assert [c["body"] for c in detail["comments"]] == ["Still there"]
    assert IssueReport.objects.get().status == "resolved"


def test_connections_api_never_returns_password(api_client, steward, engineer):
    api_client.force_authenticate(engineer)
    assert api_client.get("/api/v1/connections/").status_code == 403
    api_client.force_authenticate(steward)
    response = api_client.post(
        "/api/v1/connections/",
        {
            "name": "wh",
            "host": "127.0.0.1",
            "port": 1,
            "database": "wh",
            "username": "u",
            "password": "topsecret",
        },
        format="json",
    )
    assert response.status_code == 201 and "topsecret" not in response.content.decode()
    assert "password" not in response.json()
    listing = api_client.get("/api/v1/connections/").content.decode()
    assert "topsecret" not in listing and Connection.objects.get().password_encrypted not in listing
    test = api_client.post("/api/v1/connections/wh/test/").json()
    assert test["ok"] is False and "topsecret" not in test["message"]


def test_openapi_schema_builds(api_client, steward):
    api_client.force_authenticate(steward)
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/datasets/{name}/" in response.content


def test_metadata_export_and_import_api(api_client, steward, engineer, make_dataset):
    from django.core.files.uploadedfile import SimpleUploadedFile

    make_dataset("d")
    api_client.force_authenticate(steward)
    response = api_client.get("/api/v1/metadata/export/")
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("record,dataset,column,title")
    edited = text.replace("dataset,d,,,", "dataset,d,,Daily sales,", 1)
    dry = api_client.post(
        "/api/v1/metadata/import/",
        {"file": SimpleUploadedFile("m.csv", edited.encode())},
        format="multipart",
    ).json()
    assert dry["applied"] is False and dry["changes"][0]["after"] == "Daily sales"
    assert Dataset.objects.get(name="d").title == ""
    applied = api_client.post(
        "/api/v1/metadata/import/",
        {"file": SimpleUploadedFile("m.csv", edited.encode()), "apply": "true"},
        format="multipart",
    ).json()
    assert applied["applied"] is True and Dataset.objects.get(name="d").title == "Daily sales"
    bad = api_client.post(
        "/api/v1/metadata/import/", {"file": SimpleUploadedFile("m.csv", b"")}, format="multipart"
    )
    assert bad.status_code == 400
    api_client.force_authenticate(engineer)
    refused = api_client.post(
        "/api/v1/metadata/import/",
        {"file": SimpleUploadedFile("m.csv", edited.encode())},
        format="multipart",
    )
    assert refused.status_code == 403
