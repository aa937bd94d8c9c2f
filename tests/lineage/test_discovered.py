"""Discovered datasets: a steward adopts one, or merges it into the catalog dataset it really is."""

import pytest
from django.utils import timezone

from catalog.models import Dataset
from ledger.models import Event
from lineage.models import DatasetRef, EdgeKind, ExternalQualityResult, Job, LineageEdge, NodeKind
from lineage.services import edges_upsert
from tests.lineage.conftest import make_dataset, post, run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def discovered(pipeline, django_capture_on_commit_callbacks):
    event = run_event(
        inputs=[
            {
                "namespace": "s3://lake",
                "name": "orders.parquet",
                "inputFacets": {
                    "dataQualityAssertions": {
                        "assertions": [{"assertion": "not_null", "success": True}]
                    }
                },
            }
        ],
        outputs=["/data/daily.csv"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(pipeline, event)
    return Dataset.objects.get(location="s3://lake/orders.parquet")


def test_steward_adopts_a_discovered_dataset(client, steward, discovered):
    client.force_login(steward)
    page = client.get("/lineage/discovered/").content.decode()
    assert "orders.parquet" in page and "Adopt" in page
    response = client.post(f"/lineage/discovered/{discovered.name}/adopt/")
    assert response.status_code == 302
    discovered.refresh_from_db()
    assert discovered.status == "active" and discovered.owner == steward
    assert Event.objects.filter(action="dataset.adopted", target_id=str(discovered.pk)).exists()
    again = client.post(f"/lineage/discovered/{discovered.name}/adopt/", follow=True)
    assert "Only a discovered dataset can be adopted" in again.content.decode()


def test_engineer_may_not_adopt(client, engineer, discovered):
    client.force_login(engineer)
    assert "a steward can adopt it" in client.get("/lineage/discovered/").content.decode()
    assert client.post(f"/lineage/discovered/{discovered.name}/adopt/").status_code == 403


def test_merge_moves_names_edges_and_results(client, steward, discovered):
    real = make_dataset("orders", location="/lake/orders.parquet")
    job = Job.objects.get()
    # the real dataset already has the same edge: the moved one is closed, not doubled
    edges_upsert(
        edges=[(NodeKind.DATASET, real.pk, NodeKind.JOB, job.pk, EdgeKind.READ, None)],
        run=None,
        at=timezone.now(),
    )
    client.force_login(steward)
    response = client.post(f"/lineage/discovered/{discovered.name}/merge/", {"into": "orders"})
    assert response.status_code == 302 and response["Location"] == "/lineage/datasets/orders/"
    assert DatasetRef.objects.get(name="orders.parquet").dataset == real
    assert (
        LineageEdge.objects.filter(
            src_id=real.pk, src_kind="dataset", valid_to__isnull=True
        ).count()
        == 1
    )
    assert not LineageEdge.objects.filter(src_kind="dataset", src_id=discovered.pk).exists()
    assert ExternalQualityResult.objects.get().dataset == real
    discovered.refresh_from_db()
    assert discovered.status == "deprecated" and discovered.replaced_by == real
    assert Event.objects.filter(action="dataset.merged", target_id=str(real.pk)).exists()


def test_merge_refuses_itself_and_unknown_targets(client, steward, discovered):
    client.force_login(steward)
    same = client.post(
        f"/lineage/discovered/{discovered.name}/merge/", {"into": discovered.name}, follow=True
    )
    assert "cannot be merged into itself" in same.content.decode()
    assert (
        client.post(f"/lineage/discovered/{discovered.name}/merge/", {"into": "nope"}).status_code
        == 404
    )


def test_event_log_page_is_for_stewards(client, steward, engineer, discovered):
    client.force_login(engineer)
    assert client.get("/lineage/events/").status_code == 403
    client.force_login(steward)
    assert "RunEvent" in client.get("/lineage/events/").content.decode()
