"""Reproduce (issue 7): re-running an audit on a past version gives the same findings.

An audit on v1, the file changes (v2) and is audited, then the v1 run is reproduced: the new
run reads v1's kept snapshot, is bound to v1, gives the same per-check findings, and neither
records a version nor touches the live file.
"""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audits import services
from audits.models import AuditRun
from catalog.models import Dataset
from catalog.snapshots import SnapshotStore
from ledger.models import Event
from tests.audits.conftest import people_frame

CHECKS = [
    {"kind": "not_null", "column": "email"},
    {"kind": "range", "column": "age", "min_value": 0, "max_value": 60},
    {"kind": "unique", "column": "id"},
    {"kind": "row_count", "min_value": 150, "max_value": 250},
]


@pytest.fixture
def snapshot_root(settings, tmp_path) -> Path:
    root = tmp_path / "snapshots"
    settings.CHARTER_SNAPSHOT_ROOT = str(root)
    settings.CHARTER_SNAPSHOT_POLICY = "all"
    return root


@pytest.fixture
def dataset(snapshot_root, make_dataset):
    return make_dataset()


@pytest.fixture
def policy(dataset, steward):
    return services.audit_policy_create(
        actor=steward, name="people quality", checks=CHECKS, dataset=dataset
    )


def run_now(policy, actor, capture) -> AuditRun:
    with capture(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=actor)
    return AuditRun.objects.select_related("version").get(pk=run.pk)


def findings(run: AuditRun) -> list[tuple]:
    return list(
        run.results.order_by("index").values_list(
            "index", "kind", "status", "observed_value", "unexpected_count"
        )
    )


def change_file(dataset: Dataset) -> bytes:
    """v2: missing e-mails, a duplicate id, older people and fewer rows."""
    frame = people_frame(120)
    frame.loc[:9, "email"] = None
    frame.loc[5, "id"] = 7
    frame["age"] = frame["age"] + 10
    frame.to_csv(dataset.location, index=False)
    return Path(dataset.location).read_bytes()


@pytest.fixture
def two_versions(policy, steward, django_capture_on_commit_callbacks):
    """(v1 run, v2 run) on a dataset whose file changed between them."""
    first = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert first.version is not None and first.version.number == 1
    change_file(policy.dataset)
    second = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert second.version.number == 2
    assert findings(first) != findings(second)  # the change shows in the findings
    return first, second


@pytest.mark.django_db
def test_reproducing_a_past_run_gives_the_same_findings(
    two_versions, steward, django_capture_on_commit_callbacks
):
    first, second = two_versions
    dataset = Dataset.objects.get(pk=first.dataset_id)
    live = Path(dataset.location).read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        queued = services.audit_run_reproduce(run=first, actor=steward)
    again = AuditRun.objects.select_related("version").get(pk=queued.pk)

    assert again.state == first.state
    assert again.version_id == first.version_id  # bound to v1
    assert findings(again) == findings(first)
    assert again.checks == first.checks
    assert again.scope["reproduces"] == first.pk and again.scope["version"] == 1
    dataset.refresh_from_db()
    assert dataset.current_version_id == second.version_id  # v2 stays current
    assert dataset.versions.count() == 2  # no version recorded for the reproduction
    assert Path(dataset.location).read_bytes() == live  # the live file is untouched
    event = Event.objects.get(action="audit.reproduced")
    assert event.target_id == str(again.pk)
    assert event.data["reproduces"] == first.pk and event.data["version"] == 1
    assert event.actor_id == steward.pk

    # reproducing a reproduction points back at the original run
    with django_capture_on_commit_callbacks(execute=True):
        third = services.audit_run_reproduce(run=again, actor=steward)
    third.refresh_from_db()
    assert third.scope["reproduces"] == first.pk
    assert findings(third) == findings(first)


@pytest.mark.django_db
def test_missing_snapshot_is_refused_and_nothing_is_queued(
    two_versions, steward, django_capture_on_commit_callbacks
):
    first, _ = two_versions
    assert SnapshotStore().remove(first.version.fingerprint)
    before = AuditRun.objects.count()
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(ValidationError) as err,
    ):
        services.audit_run_reproduce(run=first, actor=steward)
    assert "No snapshot of people v1 is kept" in " ".join(err.value.messages)
    assert callbacks == []
    assert AuditRun.objects.count() == before
    assert not Event.objects.filter(action="audit.reproduced").exists()


@pytest.mark.django_db
def test_damaged_snapshot_ends_the_run_as_an_error(
    two_versions, steward, django_capture_on_commit_callbacks
):
    first, _ = two_versions
    blob = SnapshotStore().path_for(first.version.fingerprint)
    blob.chmod(0o644)
    blob.write_bytes(b"id,email\n1,x\n")
    with django_capture_on_commit_callbacks(execute=True):
        queued = services.audit_run_reproduce(run=first, actor=steward)
    queued.refresh_from_db()
    assert queued.state == AuditRun.State.ERROR
    assert "damaged" in queued.error_message
    assert queued.version_id == first.version_id


@pytest.mark.django_db
def test_unfinished_or_unbound_runs_are_refused(policy, steward):
    run = AuditRun.objects.create(policy=policy, dataset=policy.dataset, checks=CHECKS)
    with pytest.raises(ValidationError, match="Only a finished run"):
        services.audit_run_reproduce(run=run, actor=steward)


@pytest.mark.django_db
def test_page_button_and_post(client, two_versions, steward, django_capture_on_commit_callbacks):
    first, second = two_versions
    client.force_login(steward)
    page = client.get(first.get_absolute_url())
    url = reverse("audits:run-reproduce", args=[first.pk])
    assert url in page.content.decode() and "Re-run on this version" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    again = AuditRun.objects.order_by("-pk").first()
    assert response.status_code == 302 and response["Location"] == again.get_absolute_url()
    assert again.version_id == first.version_id and findings(again) == findings(first)
    body = client.get(again.get_absolute_url()).content.decode()
    assert f"run #{first.pk}" in body
    assert client.get(url).status_code == 405  # POST only

    SnapshotStore().remove(first.version.fingerprint)
    response = client.post(url, follow=True)
    assert "No snapshot of people v1 is kept" in response.content.decode()
    assert AuditRun.objects.count() == 3


@pytest.mark.django_db
def test_api_reproduce(api_client, two_versions, steward, django_capture_on_commit_callbacks):
    first, _ = two_versions
    api_client.force_authenticate(steward)
    url = f"/api/v1/audit-runs/{first.pk}/reproduce/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(url)
    assert response.status_code == 202, response.content
    again = AuditRun.objects.get(pk=response.json()["id"])
    assert findings(again) == findings(first)
    assert api_client.post("/api/v1/audit-runs/x/reproduce/").status_code == 404

    SnapshotStore().remove(first.version.fingerprint)
    response = api_client.post(url)
    assert response.status_code == 400
    assert "No snapshot of people v1 is kept" in str(response.json())


@pytest.mark.django_db
def test_engineer_and_outsider_may_not_reproduce(
    api_client, client, two_versions, engineer, outsider
):
    first, _ = two_versions
    before = AuditRun.objects.count()
    url = f"/api/v1/audit-runs/{first.pk}/reproduce/"
    api_client.force_authenticate(engineer)
    assert api_client.post(url).status_code in (403, 404)
    client.force_login(engineer)
    assert client.post(reverse("audits:run-reproduce", args=[first.pk])).status_code in (403, 404)
    assert "Re-run on this version" not in client.get(first.get_absolute_url()).content.decode()
    api_client.force_authenticate(outsider)
    assert api_client.post(url).status_code in (403, 404)
    assert AuditRun.objects.count() == before
