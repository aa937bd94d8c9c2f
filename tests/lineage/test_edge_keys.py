"""The edges' BIGINT node keys (src_key, dst_key), which the impact walk follows through the open
edges' (src_key, dst_key) index: the database keeps them exact on every write (ORM, bulk, raw
SQL, close, delete, repointing), and the walk over them agrees with the walk over (kind, id)."""

import pytest
from django.db import connection
from django.utils import timezone

from lineage import selectors
from lineage.models import KEY_SHIFT, KIND_CODES, EdgeKind, Job, LineageEdge, NodeKind
from lineage.services import _edges_repoint, edge_remove
from tests.lineage.conftest import make_dataset
from tests.lineage.test_impact import link, node

pytestmark = pytest.mark.django_db

D, J = NodeKind.DATASET, NodeKind.JOB


def key(kind: str, pk: int) -> int:
    return KIND_CODES[kind] << KEY_SHIFT | pk


def assert_keys_exact() -> None:
    """Every edge's keys encode its (kind, id) ends, as stored in the database now."""
    rows = LineageEdge.objects.values_list(
        "src_kind", "src_id", "dst_kind", "dst_id", "src_key", "dst_key"
    )
    for sk, si, dk, di, src_key, dst_key in rows:
        assert (src_key, dst_key) == (key(sk, si), key(dk, di))


def next_keys(start: tuple[str, int]) -> set[int]:
    """The open graph's next nodes of `start`, read as the walk reads them: by src_key."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT dst_key FROM lineage_lineageedge WHERE src_key = %s AND valid_to IS NULL",
            [key(*start)],
        )
        return {row[0] for row in cursor.fetchall()}


def assert_walks_agree(start: tuple[str, int]) -> dict:
    """The walk by keys (one statement on PostgreSQL) and by (kind, id) per hop agree."""
    by_keys = selectors.lineage_reach(start=start)
    assert by_keys == selectors._reach_by_hops(start, None, selectors.IMPACT_CAP)
    return by_keys[0]


def test_keys_follow_every_write():
    a, b, c = make_dataset("a"), make_dataset("b"), make_dataset("c")
    job = Job.objects.create(namespace="n", name="j")
    # ORM bulk_create (edges_upsert), then a plain save and a raw INSERT naming only (kind, id)
    link((node(a), node(job)), (node(job), node(b)))
    now = timezone.now()
    LineageEdge.objects.create(
        src_kind=D, src_id=b.pk, dst_kind=J, dst_id=job.pk, kind=EdgeKind.READ,
        created_at=now, last_seen_at=now,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lineage_lineageedge (src_kind, src_id, dst_kind, dst_id, kind,"
            " created_at, last_seen_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [J, job.pk, D, c.pk, EdgeKind.WROTE, now, now],
        )
    assert_keys_exact()
    assert next_keys(node(job)) == {key(*node(b)), key(*node(c))}
    assert assert_walks_agree(node(a)) == {node(job): 1, node(b): 2, node(c): 2}

    # closed (valid_to): it leaves the adjacency the walk reads
    edge_remove(edge=LineageEdge.objects.get(src_kind=J, dst_id=c.pk))
    assert next_keys(node(job)) == {key(*node(b))}
    assert assert_walks_agree(node(a)) == {node(job): 1, node(b): 2}

    # deleted
    LineageEdge.objects.filter(src_kind=J, dst_id=b.pk).delete()
    assert next_keys(node(job)) == set()
    assert assert_walks_agree(node(a)) == {node(job): 1}

    # an UPDATE of the ends (merging a discovered dataset repoints its edges): keys follow
    _edges_repoint(old=a.pk, new=c.pk, at=timezone.now())
    assert_keys_exact()
    assert next_keys(node(a)) == set() and next_keys(node(c)) == {key(*node(job))}
    assert assert_walks_agree(node(c)) == {node(job): 1}

    # a queryset UPDATE of valid_to (the ingest worker closes stale edges so)
    LineageEdge.objects.filter(src_kind=D, src_id=c.pk).update(valid_to=timezone.now())
    assert next_keys(node(c)) == set() and assert_walks_agree(node(c)) == {}
    assert_keys_exact()
