"""Snapshots, diff and rollback of file datasets: services, pages, API and the ledger."""

import hashlib
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog import versioning
from catalog.models import Column, PiiKind
from catalog.snapshots import SnapshotStore
from ledger.models import Event
from lineage.models import EdgeKind, Job, NodeKind
from lineage.services import edges_upsert, model_version_register
from tests.lineage.conftest import make_dataset
from tests.versions.conftest import add_version

pytestmark = pytest.mark.django_db

V1 = b"id,email,score\n1,a@x.com,10\n2,b@x.com,20\n3,c@x.com,30\n"
V2 = b"id,email,score,band\n1,a@x.com,11,low\n3,c@x.com,30,high\n4,d@x.com,40,high\n"
SCHEMA1 = [
    {"name": "id", "type": "int64"},
    {"name": "email", "type": "object"},
    {"name": "score", "type": "int64"},
]
SCHEMA2 = SCHEMA1 + [{"name": "band", "type": "object"}]


@pytest.fixture
def two_versions(file_dataset):
    v1 = add_version(
        file_dataset, V1, schema=SCHEMA1, profile={"score": {"mean": 20, "null_percent": 0}}
    )
    assert versioning.snapshot_capture(version=v1)
    v2 = add_version(
        file_dataset, V2, schema=SCHEMA2, profile={"score": {"mean": 27, "null_percent": 0}}
    )
    assert versioning.snapshot_capture(version=v2)
    Column.objects.create(dataset=file_dataset, name="email", position=1, pii_kind=PiiKind.EMAIL)
    return file_dataset, v1, v2


def test_snapshot_capture_is_deduplicated_and_logged(two_versions):
    dataset, v1, v2 = two_versions
    store = SnapshotStore()
    assert store.read_bytes(v1.fingerprint) == V1 and store.read_bytes(v2.fingerprint) == V2
    assert versioning.snapshot_capture(version=v2)  # again: nothing new
    assert Event.objects.filter(action="snapshot.stored").count() == 2


def test_snapshot_capture_refuses_bytes_that_changed(file_dataset):
    v1 = add_version(file_dataset, V1)
    Path(file_dataset.location).write_bytes(b"edited")
    assert versioning.snapshot_capture(version=v1) is False
    assert not SnapshotStore().has(v1.fingerprint)


def test_diff_schema_rows_profile_with_pii_masked(two_versions):
    dataset, v1, v2 = two_versions
    diff = versioning.versions_diff(
        old=v1, new=v2, key="id", include_rows=True, mask_columns={"email"}
    )
    assert diff["schema"]["added"] == ["band"] and diff["schema"]["removed"] == []
    assert diff["row_count_change"] == 0
    assert diff["profile"] == [{"column": "score", "changes": {"mean": {"from": 20, "to": 27}}}]
    rows = diff["rows"]
    assert (rows["added_count"], rows["removed_count"], rows["changed_count"]) == (1, 1, 1)
    assert rows["added"] == [{"id": "4", "email": "•••", "score": "40", "band": "high"}]
    assert rows["changed"] == [{"key": "1", "changes": {"score": {"from": "10", "to": "11"}}}]
    assert "b@x.com" not in str(diff)


def test_diff_refuses_a_key_missing_from_a_version(two_versions):
    dataset, v1, v2 = two_versions
    with pytest.raises(ValidationError, match="not in both versions"):
        versioning.versions_diff(old=v1, new=v2, key="email_missing", include_rows=True)


def test_rollback_restores_bytes_and_keeps_the_replaced_ones(two_versions, steward):
    dataset, v1, v2 = two_versions
    versioning.dataset_rollback(
        dataset=dataset, version=v1, actor=steward, reason="v2 export broke"
    )
    dataset.refresh_from_db()
    assert dataset.current_version == v1
    assert Path(dataset.location).read_bytes() == V1
    assert SnapshotStore().read_bytes(v2.fingerprint) == V2
    event = Event.objects.get(action="dataset.rolled_back")
    assert event.data["from_version"] == 2 and event.data["to_version"] == 1
    assert event.data["file_restored"] is True and event.data["reason"] == "v2 export broke"
    leftovers = [p for p in Path(dataset.location).parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_rollback_refusals_change_nothing(two_versions, steward):
    dataset, v1, v2 = two_versions
    with pytest.raises(ValidationError, match="reason"):
        versioning.dataset_rollback(dataset=dataset, version=v1, actor=steward, reason=" ")
    with pytest.raises(ValidationError, match="already the current"):
        versioning.dataset_rollback(dataset=dataset, version=v2, actor=steward, reason="x")
    Path(dataset.location).write_bytes(b"someone edited this by hand\n")
    with pytest.raises(ValidationError, match="changed since Charter last read it"):
        versioning.dataset_rollback(dataset=dataset, version=v1, actor=steward, reason="x")
    assert Path(dataset.location).read_bytes() == b"someone edited this by hand\n"
    Path(dataset.location).write_bytes(V2)
    SnapshotStore().remove(v1.fingerprint)
    with pytest.raises(ValidationError, match="No snapshot of v1"):
        versioning.dataset_rollback(dataset=dataset, version=v1, actor=steward, reason="x")
    dataset.refresh_from_db()
    assert (
        dataset.current_version == v2
        and not Event.objects.filter(action="dataset.rolled_back").exists()
    )


def test_snapshot_remove_needs_reason_and_spares_training_data(two_versions, steward, engineer):
    dataset, v1, v2 = two_versions
    with pytest.raises(ValidationError, match="current version"):
        versioning.snapshot_remove(version=v2, actor=steward, reason="space")
    model_version_register(model_name="m", version="1", actor=engineer, training=[v1])
    with pytest.raises(ValidationError, match="training data"):
        versioning.snapshot_remove(version=v1, actor=steward, reason="space")


def test_snapshot_remove_and_retention_prune(
    file_dataset, steward, django_capture_on_commit_callbacks
):
    v1 = add_version(file_dataset, V1)
    versioning.snapshot_capture(version=v1)
    v2 = add_version(file_dataset, V2)
    versioning.snapshot_capture(version=v2)
    with pytest.raises(ValidationError, match="Say why"):
        versioning.snapshot_remove(version=v1, actor=steward, reason="")
    with django_capture_on_commit_callbacks(execute=True):
        versioning.snapshot_remove(version=v1, actor=steward, reason="bad data, do not keep")
    assert not SnapshotStore().has(v1.fingerprint)
    assert Event.objects.get(action="snapshot.removed").data["reason"] == "bad data, do not keep"
    v3 = add_version(file_dataset, b"id\n9\n")
    versioning.snapshot_capture(version=v3)
    file_dataset.retention_days = 30
    file_dataset.save(update_fields=["retention_days"])
    assert versioning.snapshot_prune(now=timezone.now() + timezone.timedelta(days=31)) == [
        "customers v2"
    ]
    assert SnapshotStore().has(v3.fingerprint)  # current: kept


def test_rollback_tells_downstream_owners(
    two_versions, steward, engineer, django_capture_on_commit_callbacks
):
    dataset, v1, v2 = two_versions
    downstream = make_dataset("scores-report", owner=engineer)
    job = Job.objects.create(namespace="airflow", name="report")
    edges_upsert(
        edges=[
            (NodeKind.DATASET, dataset.pk, NodeKind.JOB, job.pk, EdgeKind.READ, None),
            (NodeKind.JOB, job.pk, NodeKind.DATASET, downstream.pk, EdgeKind.WROTE, None),
        ],
        run=None,
        at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        versioning.dataset_rollback(dataset=dataset, version=v1, actor=steward, reason="bad")
    assert [m.to for m in mail.outbox] == [[engineer.email]]
    assert "rolled back to v1" in mail.outbox[0].subject


def test_compare_page_and_rollback_through_the_browser_forms(client, two_versions, steward):
    dataset, v1, v2 = two_versions
    client.force_login(steward)
    page = client.get(
        f"/catalog/datasets/{dataset.name}/versions/compare/?a=1&b=2&key=id"
    ).content.decode()
    assert "column <code>band</code> added" in page
    assert "1 added, 1 removed, 1 changed" in page
    assert "Masked for you" not in page  # the owner reads in full
    refused = client.post(
        f"/catalog/datasets/{dataset.name}/versions/1/rollback/", {"reason": ""}, follow=True
    )
    assert "Rollback refused: Give a reason" in refused.content.decode()
    done = client.post(
        f"/catalog/datasets/{dataset.name}/versions/1/rollback/",
        {"reason": "bad export"},
        follow=True,
    )
    html = done.content.decode()
    assert "Rolled back customers to v1" in html and "dataset.rolled_back" in html
    assert Path(dataset.location).read_bytes() == V1


def test_engineer_without_grant_sees_no_rows_and_cannot_roll_back(client, two_versions, engineer):
    dataset, v1, v2 = two_versions
    client.force_login(engineer)
    page = client.get(
        f"/catalog/datasets/{dataset.name}/versions/compare/?a=1&b=2&key=id"
    ).content.decode()
    assert "Row-level changes need a grant" in page and "a@x.com" not in page
    assert (
        client.post(
            f"/catalog/datasets/{dataset.name}/versions/1/rollback/", {"reason": "x"}
        ).status_code
        == 403
    )


def test_diff_and_rollback_api(client, two_versions, steward):
    dataset, v1, v2 = two_versions
    client.force_login(steward)
    diff = client.get(f"/api/v1/datasets/{dataset.name}/versions/diff?a=1&b=2&key=id").json()
    assert diff["schema"]["added"] == ["band"] and diff["rows"]["added_count"] == 1
    assert client.get(f"/api/v1/datasets/{dataset.name}/versions/diff?a=1").status_code == 400
    bad = client.post(
        f"/api/v1/datasets/{dataset.name}/versions/1/rollback", {}, content_type="application/json"
    )
    assert bad.status_code == 400 and "reason" in bad.content.decode()
    ok = client.post(
        f"/api/v1/datasets/{dataset.name}/versions/1/rollback",
        {"reason": "api"},
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["current_version"] == 1
    assert hashlib.sha256(Path(dataset.location).read_bytes()).hexdigest() == v1.fingerprint


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_owner_downloads_the_exact_bytes_of_a_past_version(client, two_versions, steward):
    dataset, v1, v2 = two_versions
    client.force_login(steward)
    response = client.get(f"/catalog/datasets/{dataset.name}/versions/1/download/")
    assert response.status_code == 200 and _body(response) == V1
    assert response["X-Content-SHA256"] == v1.fingerprint
    read = Event.objects.get(action="data.read")
    assert read.data["channel"] == "snapshot" and read.data["version"] == 1


def test_masked_reader_gets_the_past_version_masked(client, two_versions, engineer):
    dataset, v1, v2 = two_versions
    dataset.sensitivity = "public"
    dataset.save(update_fields=["sensitivity"])
    for position, name in enumerate(["id", "score"]):
        Column.objects.create(dataset=dataset, name=name, position=position + 5)
    client.force_login(engineer)
    body = _body(client.get(f"/catalog/datasets/{dataset.name}/versions/1/download/")).decode()
    assert body.splitlines()[0] == "id,email,score"
    assert "a@x.com" not in body and ",10" in body


def test_download_needs_a_grant_and_a_snapshot(client, two_versions, engineer, steward):
    dataset, v1, v2 = two_versions
    client.force_login(engineer)
    assert client.get(f"/catalog/datasets/{dataset.name}/versions/1/download/").status_code == 403
    SnapshotStore().remove(v1.fingerprint)
    client.force_login(steward)
    assert client.get(f"/catalog/datasets/{dataset.name}/versions/1/download/").status_code == 404


def test_model_version_page_offers_the_exact_training_snapshot(client, two_versions, steward):
    dataset, v1, v2 = two_versions
    model_version_register(model_name="scorer", version="1", actor=steward, training=[v1])
    client.force_login(steward)
    page = client.get("/lineage/models/scorer/versions/1/").content.decode()
    assert f"/catalog/datasets/{dataset.name}/versions/1/download/" in page
    assert "Exact data (v1 snapshot)" in page


def test_profiling_keeps_a_snapshot_of_the_new_version(data_root, steward):
    from catalog.services import dataset_profile, dataset_register

    path = data_root / "fresh.csv"
    path.write_bytes(V1)
    dataset = dataset_register(
        actor=steward, name="fresh", source_kind="file", path=str(path), profile=False
    )
    dataset_profile(dataset_id=dataset.pk)
    dataset.refresh_from_db()
    assert (
        dataset.current_version
        and SnapshotStore().read_bytes(dataset.current_version.fingerprint) == V1
    )


def test_masked_reader_sees_row_diff_with_pii_masked_by_rule(client, two_versions, engineer):
    dataset, v1, v2 = two_versions
    dataset.sensitivity = "public"
    dataset.save(update_fields=["sensitivity"])
    for position, name in enumerate(["id", "score", "band"]):
        Column.objects.create(dataset=dataset, name=name, position=position + 5)
    client.force_login(engineer)
    data = client.get(f"/api/v1/datasets/{dataset.name}/versions/diff?a=1&b=2&key=id").json()
    rows = data["rows"]
    assert rows["masked_columns"] == ["email"]
    added = rows["added"][0]
    assert added["id"] == "4" and added["email"] not in ("d@x.com", "•••", None)
    page = client.get(f"/catalog/datasets/{dataset.name}/versions/compare/?a=1&b=2&key=id")
    html = page.content.decode()
    assert "Masked for you: email" in html and "d@x.com" not in html and "b@x.com" not in html


def test_version_source_reads_a_past_version_exactly(two_versions):
    dataset, v1, v2 = two_versions
    source = versioning.version_source(v1)
    assert list(source.columns()) and [c.name for c in source.columns()] == ["id", "email", "score"]
    assert source.fingerprint().sha256 == v1.fingerprint
