"""Traversal: one recursive query, depth-limited, cycle-safe, as-of, column-level, impact cap."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.policies import datasets_for
from catalog.models import Sensitivity
from lineage import selectors
from lineage.models import ColumnLineageEdge, EdgeKind, Job, LineageEdge, NodeKind
from lineage.services import edge_remove, edges_upsert
from tests.lineage.conftest import make_dataset

pytestmark = pytest.mark.django_db


def chain(n: int, *, at=None, prefix: str = "chain"):
    """d0 -> j0 -> d1 -> j1 -> ... -> d(n-1); returns datasets and jobs."""
    at = at or timezone.now()
    datasets = [make_dataset(f"{prefix}-{i}") for i in range(n)]
    jobs = [Job.objects.create(namespace=prefix, name=f"job-{i}") for i in range(n - 1)]
    edges = []
    for i, job in enumerate(jobs):
        edges.append((NodeKind.DATASET, datasets[i].pk, NodeKind.JOB, job.pk, EdgeKind.READ, None))
        edges.append(
            (NodeKind.JOB, job.pk, NodeKind.DATASET, datasets[i + 1].pk, EdgeKind.WROTE, None)
        )
    edges_upsert(edges=edges, run=None, at=at)
    return datasets, jobs


def test_downstream_respects_depth():
    datasets, jobs = chain(4)
    walk = selectors.lineage_downstream_of(start=(NodeKind.DATASET, datasets[0].pk), depth=2)
    assert set(walk.nodes) == {
        (NodeKind.DATASET, datasets[0].pk),
        (NodeKind.JOB, jobs[0].pk),
        (NodeKind.DATASET, datasets[1].pk),
    }
    assert walk.nodes[(NodeKind.DATASET, datasets[1].pk)] == 2
    assert len(walk.edges) == 2


def test_upstream_has_negative_depths():
    datasets, jobs = chain(3)
    walk = selectors.lineage_upstream_of(start=(NodeKind.DATASET, datasets[2].pk), depth=10)
    assert walk.nodes[(NodeKind.DATASET, datasets[0].pk)] == -4
    assert len(walk.nodes) == 5


def test_cycles_terminate():
    datasets, jobs = chain(3)
    back = Job.objects.create(namespace="ns", name="loop")
    edges_upsert(
        edges=[
            (NodeKind.DATASET, datasets[2].pk, NodeKind.JOB, back.pk, EdgeKind.READ, None),
            (NodeKind.JOB, back.pk, NodeKind.DATASET, datasets[0].pk, EdgeKind.WROTE, None),
        ],
        run=None,
        at=timezone.now(),
    )
    walk = selectors.lineage_downstream_of(start=(NodeKind.DATASET, datasets[0].pk), depth=50)
    assert len(walk.nodes) == 6
    assert walk.nodes[(NodeKind.DATASET, datasets[0].pk)] == 0


def test_walk_is_one_query_whatever_the_size():
    small, _ = chain(3)
    with CaptureQueriesContext(connection) as few:
        selectors.lineage_downstream_of(start=(NodeKind.DATASET, small[0].pk), depth=10)
    big, _ = chain(30, prefix="big")
    with CaptureQueriesContext(connection) as many:
        walk = selectors.lineage_downstream_of(start=(NodeKind.DATASET, big[0].pk), depth=100)
    assert len(few.captured_queries) == len(many.captured_queries) == 1
    assert len(walk.nodes) == 51  # depth capped at MAX_DEPTH=50 hops


def test_node_details_are_batched_per_kind(engineer):
    datasets, _ = chain(3)
    walk = selectors.lineage_downstream_of(start=(NodeKind.DATASET, datasets[0].pk), depth=10)
    visible = datasets_for(engineer, "view")
    with CaptureQueriesContext(connection) as few:
        selectors.lineage_node_details(user=engineer, keys=list(walk.nodes), visible=visible)
    datasets, _ = chain(20, prefix="more")
    walk = selectors.lineage_downstream_of(start=(NodeKind.DATASET, datasets[0].pk), depth=50)
    with CaptureQueriesContext(connection) as many:
        selectors.lineage_node_details(user=engineer, keys=list(walk.nodes), visible=visible)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_as_of_reads_the_past_graph():
    past = timezone.now() - timedelta(days=10)
    datasets, jobs = chain(2, at=past)
    edge = LineageEdge.objects.get(kind=EdgeKind.WROTE)
    edge_remove(edge=edge, at=past + timedelta(days=5))
    start = (NodeKind.DATASET, datasets[0].pk)
    now_walk = selectors.lineage_downstream_of(start=start, depth=5)
    then_walk = selectors.lineage_downstream_of(
        start=start, depth=5, as_of=past + timedelta(days=1)
    )
    before = selectors.lineage_downstream_of(start=start, depth=5, as_of=past - timedelta(days=1))
    assert (NodeKind.DATASET, datasets[1].pk) not in now_walk.nodes
    assert (NodeKind.DATASET, datasets[1].pk) in then_walk.nodes
    assert set(before.nodes) == {start}


def test_redacted_nodes_keep_their_place(engineer):
    datasets, jobs = chain(3)
    secret = datasets[1]
    secret.sensitivity = Sensitivity.RESTRICTED
    secret.save(update_fields=["sensitivity"])
    walk = selectors.lineage_downstream_of(start=(NodeKind.DATASET, datasets[0].pk), depth=10)
    details = selectors.lineage_node_details(
        user=engineer, keys=list(walk.nodes), visible=datasets_for(engineer, "view")
    )
    hidden = details[(NodeKind.DATASET, secret.pk)]
    assert hidden.redacted and secret.name not in hidden.label and not hidden.url
    assert not details[(NodeKind.DATASET, datasets[2].pk)].redacted


def test_impact_lists_downstream_with_owners_and_flags_truncation(engineer, steward):
    datasets, jobs = chain(4)
    datasets[3].owner = steward
    datasets[3].save(update_fields=["owner"])
    impact = selectors.lineage_impact(
        user=engineer,
        start=(NodeKind.DATASET, datasets[0].pk),
        visible=datasets_for(engineer, "view"),
    )
    assert [d["name"] for d in impact["datasets"]] == ["chain-1", "chain-2", "chain-3"]
    assert len(impact["jobs"]) == 3 and impact["owners"] == ["stella"] and not impact["truncated"]
    capped = selectors.lineage_walk(
        start=(NodeKind.DATASET, datasets[0].pk), direction="downstream", depth=50, cap=3
    )
    assert capped.truncated and len(capped.nodes) <= 4


def test_column_lineage_up_and_down():
    a, b, c = make_dataset("a"), make_dataset("b"), make_dataset("c")
    now = timezone.now()
    ColumnLineageEdge.objects.create(
        src_dataset=a, src_column="id", dst_dataset=b, dst_column="cid", created_at=now
    )
    ColumnLineageEdge.objects.create(
        src_dataset=b, src_column="cid", dst_dataset=c, dst_column="customer", created_at=now
    )
    ColumnLineageEdge.objects.create(
        src_dataset=a, src_column="name", dst_dataset=b, dst_column="n", created_at=now
    )
    with CaptureQueriesContext(connection) as ctx:
        up = selectors.column_lineage_walk(
            dataset_id=c.pk, column="customer", direction="upstream", depth=5
        )
    assert len(ctx.captured_queries) == 1
    assert [(r[0], r[1]) for r in up] == [(b.pk, "cid"), (a.pk, "id")]
    down = selectors.column_lineage_walk(
        dataset_id=a.pk, column="id", direction="downstream", depth=1
    )
    assert [(r[0], r[1]) for r in down] == [(b.pk, "cid")]
