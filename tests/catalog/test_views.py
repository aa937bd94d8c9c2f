import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog import services
from catalog.models import Dataset, IssueReport, Sensitivity
from ledger.models import Event
from tests.catalog.conftest import CUSTOMER_HEADER, customer_rows, write_csv

pytestmark = pytest.mark.django_db


def url(url_name, **kwargs):
    return reverse(f"catalog:{url_name}", kwargs=kwargs or None)


def test_steward_registers_csv_through_the_form(
    client, steward, data_root, django_capture_on_commit_callbacks
):
    write_csv(data_root / "customers.csv", CUSTOMER_HEADER, customer_rows())
    client.force_login(steward)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("dataset-register"),
            {
                "name": "customers",
                "source_kind": "file",
                "path": "customers.csv",
                "sensitivity": "confidential",
                "tags": "crm, people",
            },
        )
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="customers")
    assert dataset.owner == steward and dataset.profile_status == "ready"
    page = client.get(url("dataset-schema", name="customers")).content.decode()
    assert "suggested: E-mail address" in page
    assert "person1@example.org" not in page  # PII values never shown, not even as top values


def test_register_form_shows_the_reason(client, steward, data_root):
    client.force_login(steward)
    response = client.post(
        url("dataset-register"),
        {"name": "x", "source_kind": "file", "path": "../secret.csv", "sensitivity": "internal"},
    )
    assert response.status_code == 200
    assert "Paths may not contain" in response.content.decode()
    response = client.post(
        url("dataset-register"),
        {"name": "x", "source_kind": "postgresql", "sensitivity": "internal"},
    )
    assert "Choose a connection." in response.content.decode()
    assert not Dataset.objects.exists()


def test_upload_through_the_form(client, steward, data_root, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(steward)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("dataset-register"),
            {
                "name": "up",
                "source_kind": "upload",
                "sensitivity": "internal",
                "upload": SimpleUploadedFile("u.csv", b"a,b\n1,2\n"),
            },
        )
    assert response.status_code == 302
    assert Dataset.objects.get(name="up").row_count == 1


def test_every_dataset_page_renders(client, steward, make_dataset):
    dataset = make_dataset("sales")
    client.force_login(steward)
    for name in [
        "dataset-detail",
        "dataset-schema",
        "dataset-versions",
        "dataset-issues",
        "issue-create",
        "dataset-edit",
        "dataset-deprecate",
    ]:
        response = client.get(url(name, name=dataset.name))
        assert response.status_code == 200, name
        assert 'aria-label="Dataset sections"' in response.content.decode()
    assert client.get(url("column-edit", name=dataset.name, column="city")).status_code == 200
    for name in [
        "dataset-list",
        "dataset-register",
        "connection-list",
        "metadata-import",
        "metadata-export",
    ]:
        assert client.get(url(name)).status_code == 200, name


def test_tab_bar_lists_catalog_tabs_and_skips_missing_urls(rf, steward, make_dataset):
    from django.template import Context, Template

    dataset = make_dataset("tabs")
    request = rf.get("/")
    request.resolver_match = None
    html = Template("{% load catalog_tags %}{% dataset_tabs dataset %}").render(
        Context({"dataset": dataset, "request": request})
    )
    for label in ("Overview", "Schema", "Versions", "Issues"):
        assert f">{label}" in html
    assert "NoReverseMatch" not in html


def test_description_markdown_is_sanitised(client, steward, make_dataset):
    dataset = make_dataset("x")
    evil = (
        "**Bold** <script>alert(1)</script> <img src=x onerror=alert(2)> "
        "[click](javascript:alert(3)) <a href='https://ok.example' onclick='alert(4)'>ok</a>"
    )
    services.dataset_update(dataset=dataset, actor=steward, data={"description": evil})
    client.force_login(steward)
    page = client.get(url("dataset-detail", name="x")).content.decode()
    assert "<strong>Bold</strong>" in page
    for bad in ("<script>alert(1)", "onerror", "javascript:", "onclick"):
        assert bad not in page
    listing = client.get(url("dataset-list")).content.decode()
    assert "<script>alert(1)" not in listing


def test_edit_form_changes_and_logs(client, steward, steward2, make_dataset):
    make_dataset("d")
    client.force_login(steward)
    response = client.post(
        url("dataset-edit", name="d"),
        {
            "title": "Daily sales",
            "owner": steward.pk,
            "stewards": [steward2.pk],
            "domain": "Sales",
            "tags": "a, b",
            "sensitivity": "confidential",
            "legal_basis": "consent",
            "purpose": "Reporting",
            "retention_days": "30",
        },
    )
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="d")
    assert dataset.sensitivity == "confidential" and dataset.domain.name == "Sales"
    event = Event.objects.get(action="dataset.updated")
    assert event.data["changes"]["sensitivity"] == {"before": "internal", "after": "confidential"}


def test_deprecation_banner_links_the_replacement(client, steward, engineer, make_dataset):
    make_dataset("old")
    make_dataset("new")
    client.force_login(steward)
    response = client.post(
        url("dataset-deprecate", name="old"),
        {"reason": "Moved to the new pipeline", "replaced_by": "new"},
    )
    assert response.status_code == 302
    client.force_login(engineer)
    page = client.get(url("dataset-detail", name="old")).content.decode()
    assert "Moved to the new pipeline" in page and url("dataset-detail", name="new") in page
    assert "Reactivate" not in page  # the engineer may not change it


def test_column_classification_form(client, steward, make_dataset):
    make_dataset("d")
    client.force_login(steward)
    response = client.post(
        url("column-edit", name="d", column="city"),
        {
            "pii_kind": "address",
            "protected_attribute": "",
            "masking": "redact",
            "description": "Town",
        },
    )
    assert response.status_code == 302
    column = Dataset.objects.get(name="d").columns.get(name="city")
    assert column.pii_kind == "address" and column.pii_reviewed and column.masking == "redact"


def test_reprofile_button(client, steward, make_dataset, django_capture_on_commit_callbacks):
    make_dataset("d")
    client.force_login(steward)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url("dataset-reprofile", name="d")).status_code == 302
    status = client.get(url("dataset-profile-status", name="d")).json()
    assert status == {
        "status": "ready",
        "label": "Profiled",
        "progress": 100,
        "error": "",
        "done": True,
    }


def test_progress_shows_while_profiling(client, steward, make_dataset):
    dataset = make_dataset("d")
    Dataset.objects.filter(pk=dataset.pk).update(profile_status="running", profile_progress=42)
    client.force_login(steward)
    page = client.get(url("dataset-detail", name="d")).content.decode()
    assert 'id="profile-progress"' in page and "width: 42%" in page
    assert '<meta http-equiv="refresh"' in page  # inside <noscript>: reload without JavaScript
    assert "js/profile-progress.js" in page


# --- permission matrix ---------------------------------------------------------------------

PAGES = ["dataset-detail", "dataset-schema", "dataset-versions", "dataset-issues", "issue-create"]
EDIT_PAGES = ["dataset-edit", "dataset-deprecate"]


@pytest.mark.parametrize(
    ("persona", "view", "edit"),
    [
        ("engineer", 404, 404),
        ("outsider", 404, 404),
        ("steward2", 200, 200),
        ("compliance", 200, 403),
        ("admin_user", 200, 200),
    ],
)
def test_restricted_dataset_matrix(request, client, make_dataset, persona, view, edit):
    make_dataset("secret", sensitivity=Sensitivity.RESTRICTED)
    client.force_login(request.getfixturevalue(persona))
    for page in PAGES:
        assert client.get(url(page, name="secret")).status_code == view, page
    for page in EDIT_PAGES:
        assert client.get(url(page, name="secret")).status_code == edit, page
    assert client.post(url("dataset-reprofile", name="secret")).status_code in (edit, 302)
    listing = client.get(url("dataset-list"), {"search": "secret"}).content.decode()
    assert (url("dataset-detail", name="secret") in listing) == (view == 200)


@pytest.mark.parametrize(
    ("persona", "view", "edit"),
    [
        ("engineer", 200, 403),
        ("outsider", 200, 403),
        ("steward2", 200, 200),
        ("compliance", 200, 403),
    ],
)
def test_internal_dataset_matrix(request, client, make_dataset, persona, view, edit):
    make_dataset("open")
    client.force_login(request.getfixturevalue(persona))
    for page in PAGES:
        assert client.get(url(page, name="open")).status_code == view, page
    for page in EDIT_PAGES:
        assert client.get(url(page, name="open")).status_code == edit, page
    assert client.get(url("column-edit", name="open", column="city")).status_code == edit


def test_anonymous_is_sent_to_login(client, make_dataset):
    make_dataset("d")
    for target in (url("dataset-list"), url("dataset-detail", name="d"), url("metadata-export")):
        response = client.get(target)
        assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize(
    ("persona", "status"),
    [("engineer", 403), ("compliance", 403), ("steward", 200), ("admin_user", 200)],
)
def test_register_and_connection_pages_are_for_stewards(request, client, persona, status):
    client.force_login(request.getfixturevalue(persona))
    for name in ("dataset-register", "connection-list", "metadata-import"):
        assert client.get(url(name)).status_code == status, name


# --- issue reports -----------------------------------------------------------------------------


def test_issue_report_flow(
    client, engineer, steward, make_dataset, mailoutbox, django_capture_on_commit_callbacks
):
    make_dataset("loans")
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("issue-create", name="loans"),
            {"kind": "bias", "title": "Approval gap", "body": "See *sex*", "column_name": "city"},
        )
    report = IssueReport.objects.get()
    assert response.status_code == 302 and response["Location"] == report.get_absolute_url()
    assert [m.to for m in mailoutbox] == [[steward.email]]
    # The reporter can comment but not triage.
    assert (
        client.post(
            report.get_absolute_url(), {"set_status": "1", "status": "resolved"}
        ).status_code
        == 403
    )
    assert (
        client.post(report.get_absolute_url(), {"comment": "1", "body": "More detail"}).status_code
        == 302
    )
    # The owner sees it on their home page and triages it.
    client.force_login(steward)
    home = client.get("/").content.decode()
    assert "Approval gap" in home
    assert (
        client.post(
            report.get_absolute_url(),
            {"set_status": "1", "status": "resolved", "note": "Fixed upstream"},
        ).status_code
        == 302
    )
    report.refresh_from_db()
    assert report.status == "resolved" and report.comments.count() == 2
    assert "Approval gap" not in client.get("/").content.decode()


def test_issue_of_invisible_dataset_is_404(client, engineer, steward, make_dataset):
    dataset = make_dataset("secret", sensitivity=Sensitivity.RESTRICTED)
    report = services.issue_report_create(
        dataset=dataset, reporter=steward, kind="security", title="Leak"
    )
    client.force_login(engineer)
    assert client.get(report.get_absolute_url()).status_code == 404


# --- connections -------------------------------------------------------------------------------


def test_connection_form_never_shows_the_password(client, steward):
    client.force_login(steward)
    response = client.post(
        url("connection-list"),
        {
            "name": "wh",
            "host": "127.0.0.1",
            "port": "1",
            "database": "wh",
            "username": "u",
            "password": "pa55-word-x",
            "schema": "public",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Saved wh." in page and "Cannot connect" in page
    assert "pa55-word-x" not in page
    response = client.post(
        url("connection-list"),
        {
            "name": "wh2",
            "host": "h",
            "port": "5432",
            "database": "d",
            "username": "u",
            "password": "pa55-word-x",
            "schema": "bad schema",
        },
    )
    assert "pa55-word-x" not in response.content.decode()
    assert "plain identifier" in response.content.decode()


# --- query counts ------------------------------------------------------------------------------


def count_queries(client, target, **params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(target, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "params", [{}, {"search": "ds"}, {"search": "ds", "partial": "1"}, {"tag": "t"}]
)
def test_list_page_query_count_is_flat(client, engineer, make_dataset, steward, params):
    first = make_dataset("ds-0")
    services.dataset_update(dataset=first, actor=steward, data={"tags": ["t"]})
    client.force_login(engineer)
    few = count_queries(client, url("dataset-list"), **params)
    for i in range(1, 8):
        ds = make_dataset(
            f"ds-{i}", sensitivity=Sensitivity.RESTRICTED if i % 3 == 0 else Sensitivity.INTERNAL
        )
        services.dataset_update(dataset=ds, actor=steward, data={"tags": ["t", f"x{i}"]})
    assert count_queries(client, url("dataset-list"), **params) == few


def test_schema_and_versions_query_count_is_flat(
    client, steward, data_root, django_capture_on_commit_callbacks
):
    narrow = write_csv(data_root / "n.csv", ["a"], [[1]])
    wide = write_csv(data_root / "w.csv", [f"c{i}" for i in range(30)], [list(range(30))])
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_register(actor=steward, name="n", source_kind="file", path=str(narrow))
        services.dataset_register(actor=steward, name="w", source_kind="file", path=str(wide))
    client.force_login(steward)
    for page in ("dataset-schema", "dataset-versions", "dataset-detail"):
        assert count_queries(client, url(page, name="n")) == count_queries(
            client, url(page, name="w")
        ), page


def test_metadata_export_is_formula_safe_and_respects_visibility(
    client, engineer, steward, make_dataset
):
    ds = make_dataset("d")
    services.dataset_update(dataset=ds, actor=steward, data={"title": '=HYPERLINK("http://evil")'})
    make_dataset("secret", sensitivity=Sensitivity.RESTRICTED)
    client.force_login(engineer)
    body = b"".join(client.get(url("metadata-export")).streaming_content).decode()
    assert "'=HYPERLINK" in body
    assert "secret" not in body
