import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection as db

from catalog import services
from catalog.models import Column, Connection, Dataset, DatasetVersion, IssueReport, Sensitivity
from ledger.models import Event
from tests.catalog.conftest import CUSTOMER_HEADER, customer_rows, write_csv

pytestmark = pytest.mark.django_db


def register(actor, path, name="ds", **extra):
    return services.dataset_register(
        actor=actor, name=name, source_kind="file", path=str(path), **extra
    )


def test_register_csv_profiles_and_versions(
    customers_csv, steward, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dataset = register(steward, customers_csv, name="customers")
    dataset.refresh_from_db()
    assert dataset.profile_status == Dataset.ProfileStatus.READY
    assert dataset.profile_progress == 100
    assert dataset.row_count == 40
    assert dataset.current_version.number == 1
    assert len(dataset.current_version.fingerprint) == 64
    cols = {c.name: c for c in dataset.columns.all()}
    assert cols["email"].suggested_pii_kind == "email"
    assert cols["card"].suggested_pii_kind == "card_number"
    assert cols["signup_ip"].suggested_pii_kind == "ip_address"
    assert cols["full_name"].suggested_pii_kind == "name"
    assert cols["segment"].suggested_pii_kind == ""
    assert "top_values" in cols["segment"].profile
    assert cols["segment"].profile["distinct_count"] == 3
    assert cols["balance"].profile["mean"] == pytest.approx(100.5 * 19.5)
    assert cols["email"].pii_evidence["match_fraction"] == 1.0
    actions = list(Event.objects.values_list("action", flat=True))
    assert "dataset.registered" in actions and "dataset.version_created" in actions


def test_profiles_never_hold_raw_pii_values(
    customers_csv, steward, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dataset = register(steward, customers_csv, name="customers")
    stored = str(list(dataset.columns.values_list("profile", "pii_evidence")))
    stored += str(list(DatasetVersion.objects.values_list("profile", flat=True)))
    for raw in ("person1@example.org", "4111", "10.0.0.1", "Person 1"):
        assert raw not in stored


def test_parquet_registration(data_root, steward, django_capture_on_commit_callbacks):
    path = data_root / "t.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "ip": ["10.0.0.1", "10.0.0.2", None]}), path)
    with django_capture_on_commit_callbacks(execute=True):
        dataset = register(steward, path, name="t")
    dataset.refresh_from_db()
    assert dataset.file_format == "parquet" and dataset.row_count == 3
    ip = dataset.columns.get(name="ip")
    assert ip.suggested_pii_kind == "ip_address"
    assert ip.profile["null_count"] == 1


def test_reprofile_records_a_version_with_a_diff(
    data_root, steward, django_capture_on_commit_callbacks
):
    path = write_csv(data_root / "d.csv", ["id", "score", "city"], [[i, i, "x"] for i in range(10)])
    with django_capture_on_commit_callbacks(execute=True):
        dataset = register(steward, path, name="d")
    # Same bytes: re-profiling records no new version.
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_reprofile_request(dataset=dataset, actor=steward)
    assert dataset.versions.count() == 1
    write_csv(path, ["id", "score", "region"], [[i, f"s{i}", "y"] for i in range(15)])
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_reprofile_request(dataset=dataset, actor=steward, reason="new drop")
    dataset.refresh_from_db()
    version = dataset.current_version
    assert version.number == 2 and version.reason == "new drop"
    assert version.diff["columns_added"] == ["region"]
    assert version.diff["columns_removed"] == ["city"]
    assert version.diff["columns_retyped"] == [
        {"column": "score", "before": "int64", "after": "str"}
    ]
    assert version.diff["row_count"] == [10, 15] and version.diff["row_count_change"] == 5
    assert list(dataset.columns.values_list("name", flat=True)) == ["id", "score", "region"]


def test_columns_keep_their_classification_across_versions(
    make_dataset, steward, django_capture_on_commit_callbacks
):
    dataset = make_dataset("keep")
    services.column_update(
        column=dataset.columns.get(name="city"), actor=steward, data={"description": "Where"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_reprofile_request(dataset=dataset, actor=steward)
    assert dataset.columns.get(name="city").description == "Where"


# --- hostile input: a clear message and nothing half-registered -----------------------------


def assert_refused(call, fragment):
    before = (Dataset.objects.count(), Column.objects.count(), Event.objects.count())
    with pytest.raises(ValidationError) as info:
        call()
    assert fragment.lower() in " ".join(info.value.messages).lower()
    assert (Dataset.objects.count(), Column.objects.count(), Event.objects.count()) == before


def test_path_traversal_is_refused(data_root, steward):
    assert_refused(lambda: register(steward, "../../etc/passwd"), "..")
    assert_refused(lambda: register(steward, "/etc/passwd"), "outside the allowed")


def test_symlink_escape_is_refused(data_root, steward, tmp_path):
    outside = write_csv(tmp_path / "secret.csv", ["a"], [[1]])
    link = data_root / "link.csv"
    os.symlink(outside, link)
    assert_refused(lambda: register(steward, link), "symbolic link")


def test_missing_file(data_root, steward):
    assert_refused(lambda: register(steward, data_root / "nope.csv"), "no file")


def test_empty_file(data_root, steward):
    path = data_root / "empty.csv"
    path.write_bytes(b"")
    assert_refused(lambda: register(steward, path), "empty")


def test_misencoded_csv(data_root, steward):
    path = data_root / "latin.csv"
    path.write_bytes("name,city\nJos\xe9,M\xfcnchen\n".encode("latin-1"))
    assert_refused(lambda: register(steward, path), "UTF-8")


def test_malformed_csv(data_root, steward):
    path = data_root / "bad.csv"
    path.write_text('a,b\n1,2\n3,"unterminated\n4,5,6,7\n')
    assert_refused(lambda: register(steward, path), "well-formed")


def test_fake_parquet(data_root, steward):
    path = data_root / "fake.parquet"
    path.write_text("id,name\n1,x\n")
    assert_refused(lambda: register(steward, path), "not a parquet")


def test_unsupported_suffix(data_root, steward):
    path = data_root / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    assert_refused(lambda: register(steward, path), "only csv")


def test_duplicate_and_bad_names(make_dataset, steward, customers_csv):
    make_dataset("taken")
    assert_refused(lambda: register(steward, customers_csv, name="taken"), "already exists")
    assert_refused(lambda: register(steward, customers_csv, name="Bad Name!"), "lowercase")


def test_failing_connection_is_refused(steward):
    conn = services.connection_create(
        actor=steward,
        name="down",
        host="127.0.0.1",
        port=1,
        database="x",
        username="u",
        password="s3cret-pw",
    )
    assert_refused(
        lambda: services.dataset_register(
            actor=steward, name="t", source_kind="postgresql", connection=conn, table="public.t"
        ),
        "cannot connect",
    )


def test_sql_injection_in_table_name_is_refused(steward):
    conn = services.connection_create(
        actor=steward, name="c", host="127.0.0.1", database="x", username="u", password="p"
    )
    assert_refused(
        lambda: services.dataset_register(
            actor=steward,
            name="t",
            source_kind="postgresql",
            connection=conn,
            table='public.t"; DROP TABLE x; --',
        ),
        "not a valid table name",
    )


def test_upload_is_stored_and_limited(
    data_root, steward, settings, django_capture_on_commit_callbacks
):
    body = b"id,email\n1,a@example.org\n2,b@example.org\n"
    with django_capture_on_commit_callbacks(execute=True):
        dataset = services.dataset_register(
            actor=steward,
            name="up",
            source_kind="upload",
            upload=SimpleUploadedFile("../../evil name.csv", body),
        )
    dataset.refresh_from_db()
    assert dataset.location.startswith(str(settings.CHARTER_UPLOAD_ROOT))
    assert dataset.location.endswith("evil_name.csv") and dataset.row_count == 2
    settings.CHARTER_UPLOAD_MAX_BYTES = 10
    assert_refused(
        lambda: services.dataset_register(
            actor=steward,
            name="big",
            source_kind="upload",
            upload=SimpleUploadedFile("b.csv", body),
        ),
        "upload limit",
    )


def test_refused_upload_leaves_no_file(data_root, steward, settings):
    with pytest.raises(ValidationError):
        services.dataset_register(
            actor=steward,
            name="bad",
            source_kind="upload",
            upload=SimpleUploadedFile("x.parquet", b"not parquet"),
        )
    assert not any(p.is_file() for p in settings.CHARTER_UPLOAD_ROOT.rglob("*"))


def test_profiling_failure_is_reported_not_raised(
    make_dataset, steward, data_root, django_capture_on_commit_callbacks
):
    dataset = make_dataset("gone")
    (data_root / "gone.csv").unlink()
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_reprofile_request(dataset=dataset, actor=steward)
    dataset.refresh_from_db()
    assert dataset.profile_status == Dataset.ProfileStatus.FAILED
    assert "no file" in dataset.profile_error.lower()


# --- PostgreSQL sources -------------------------------------------------------------------


@pytest.fixture
def pg_table():
    """A committed table in the test database, visible to the source's own connection."""
    if db.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    import psycopg

    params = db.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("host", "port", "dbname", "user", "password")},
        autocommit=True,
    ) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS catalog_src")
        conn.execute("DROP TABLE IF EXISTS catalog_src.people")
        conn.execute(
            "CREATE TABLE catalog_src.people (id int primary key, email text, score numeric)"
        )
        conn.execute(
            "INSERT INTO catalog_src.people "
            "SELECT g, 'p' || g || '@example.org', g * 1.5 FROM generate_series(1, 50) g"
        )
    yield params
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("host", "port", "dbname", "user", "password")},
        autocommit=True,
    ) as conn:
        conn.execute("DROP SCHEMA catalog_src CASCADE")


def test_postgres_table_registration(pg_table, steward, django_capture_on_commit_callbacks):
    conn = services.connection_create(
        actor=steward,
        name="testdb",
        host=pg_table.get("host") or "127.0.0.1",
        port=int(pg_table.get("port") or 5432),
        database=pg_table["dbname"],
        username=pg_table.get("user") or "postgres",
        password=pg_table.get("password") or "",
        schema="catalog_src",
    )
    assert services.connection_test(connection=conn)[0]
    with django_capture_on_commit_callbacks(execute=True):
        dataset = services.dataset_register(
            actor=steward, name="people", source_kind="postgresql", connection=conn, table="people"
        )
    dataset.refresh_from_db()
    assert dataset.location == "catalog_src.people"
    assert dataset.row_count == 50 and dataset.profile_status == "ready"
    assert dataset.columns.get(name="email").suggested_pii_kind == "email"
    assert_refused(
        lambda: services.dataset_register(
            actor=steward,
            name="missing",
            source_kind="postgresql",
            connection=conn,
            table="catalog_src.nope",
        ),
        "no table or view",
    )


# --- describe, classify, deprecate ---------------------------------------------------------


def test_update_logs_before_and_after(make_dataset, steward, steward2):
    dataset = make_dataset("d1")
    changes = services.dataset_update(
        dataset=dataset,
        actor=steward,
        data={
            "title": "Sales",
            "tags": ["Finance", "q1"],
            "stewards": [steward2],
            "domain": "Sales",
            "retention_days": 30,
        },
    )
    assert set(changes) == {"title", "tags", "stewards", "domain", "retention_days"}
    event = Event.objects.filter(action="dataset.updated").last()
    assert event.data["changes"]["title"] == {"before": "", "after": "Sales"}
    assert event.data["changes"]["tags"]["after"] == ["finance", "q1"]
    assert event.data["changes"]["stewards"] == {"before": [], "after": ["stan"]}
    # No change, no event.
    assert services.dataset_update(dataset=dataset, actor=steward, data={"title": "Sales"}) == {}
    assert Event.objects.filter(action="dataset.updated").count() == 1
    dataset.refresh_from_db()
    assert "finance" in dataset.search_document


def test_update_rejects_unknown_fields_and_bad_values(make_dataset, steward):
    dataset = make_dataset("d2")
    with pytest.raises(ValidationError):
        services.dataset_update(dataset=dataset, actor=steward, data={"name": "renamed"})
    with pytest.raises(ValidationError):
        services.dataset_update(dataset=dataset, actor=steward, data={"sensitivity": "top-secret"})


def test_deprecate_is_idempotent_and_reactivate_clears(make_dataset, steward):
    old, new = make_dataset("old"), make_dataset("new")
    services.dataset_deprecate(dataset=old, actor=steward, reason="Superseded", replaced_by=new)
    services.dataset_deprecate(dataset=old, actor=steward, reason="Superseded", replaced_by=new)
    assert Event.objects.filter(action="dataset.deprecated").count() == 1
    with pytest.raises(ValidationError):
        services.dataset_deprecate(dataset=new, actor=steward, reason="", replaced_by=None)
    services.dataset_reactivate(dataset=old, actor=steward)
    old.refresh_from_db()
    assert old.status == "active" and old.replaced_by is None


def test_column_classification(make_dataset, steward):
    dataset = make_dataset("c1")
    column = dataset.columns.get(name="city")
    changes = services.column_update(
        column=column, actor=steward, data={"pii_kind": "address", "masking": "redact"}
    )
    column.refresh_from_db()
    assert column.pii_kind == "address" and column.pii_reviewed
    assert set(changes) == {"pii_kind", "masking", "pii_reviewed"}
    event = Event.objects.get(action="column.classified")
    assert (
        event.data["column"] == "city" and event.data["changes"]["pii_kind"]["after"] == "address"
    )
    with pytest.raises(ValidationError):
        services.column_update(column=column, actor=steward, data={"pii_kind": "favourite-colour"})


# --- connections ----------------------------------------------------------------------------


def test_connection_password_is_encrypted_and_never_logged(steward):
    conn = services.connection_create(
        actor=steward,
        name="wh",
        host="db.internal",
        database="wh",
        username="reader",
        password="hunter2-secret",
    )
    conn.refresh_from_db()
    assert "hunter2" not in conn.password_encrypted
    from catalog.sources import decrypt_secret

    assert decrypt_secret(conn.password_encrypted) == "hunter2-secret"
    assert "hunter2" not in str(list(Event.objects.values_list("data", flat=True)))
    with pytest.raises(ValidationError):
        services.connection_create(
            actor=steward, name="wh", host="h", database="d", username="u", password="p"
        )
    assert Connection.objects.count() == 1


# --- issue reports --------------------------------------------------------------------------


def test_issue_report_notifies_owner_and_stewards(
    make_dataset, steward, steward2, engineer, django_capture_on_commit_callbacks
):
    dataset = make_dataset("loans")
    dataset.stewards.add(steward2)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.issue_report_create(
            dataset=dataset,
            reporter=engineer,
            kind="bias",
            title="Approval gap",
            column_name="city",
        )
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {steward.email, steward2.email}
    assert "Approval gap" in mail.outbox[0].subject
    services.issue_report_set_status(
        report=report, actor=steward, status="investigating", note="Looking"
    )
    report.refresh_from_db()
    assert report.status == "investigating" and report.comments.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.issue_comment_add(report=report, author=steward, body="Found the cause")
    assert engineer.email in mail.outbox[-1].to
    assert Event.objects.filter(action__startswith="issue.").count() == 3


def test_issue_report_validation(make_dataset, engineer):
    dataset = make_dataset("x")
    with pytest.raises(ValidationError):
        services.issue_report_create(dataset=dataset, reporter=engineer, kind="gossip", title="t")
    with pytest.raises(ValidationError):
        services.issue_report_create(dataset=dataset, reporter=engineer, kind="quality", title=" ")
    with pytest.raises(ValidationError):
        services.issue_report_create(
            dataset=dataset, reporter=engineer, kind="quality", title="t", column_name="nope"
        )
    assert IssueReport.objects.count() == 0


def test_sensitivity_default_is_internal(make_dataset):
    assert make_dataset("s").sensitivity == Sensitivity.INTERNAL


def test_write_csv_helper_rows():
    assert len(customer_rows(3)) == 3 and len(CUSTOMER_HEADER) == 7


def test_a_running_profile_is_not_queued_twice_but_a_stale_one_is(
    make_dataset, steward, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    dataset = make_dataset("busy")
    Dataset.objects.filter(pk=dataset.pk).update(
        profile_status="running", updated_at=timezone.now()
    )
    dataset.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_reprofile_request(dataset=dataset, actor=steward)
    assert Event.objects.filter(action="dataset.reprofile_requested").count() == 0
    # A worker died an hour ago: the claim is stale, so profiling can start again.
    Dataset.objects.filter(pk=dataset.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    dataset.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_reprofile_request(dataset=dataset, actor=steward)
    dataset.refresh_from_db()
    assert dataset.profile_status == "ready"
