"""Impact analysis: each node once at its nearest depth, an exact cap, redaction through the
access policies, cheap URLs that match reverse(), and a query count that does not grow."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access.policies import datasets_for
from catalog.models import Sensitivity
from lineage import selectors
from lineage.models import EdgeKind, Job, Model, ModelVersion, NodeKind
from lineage.services import edge_remove, edges_upsert
from tests.lineage.conftest import make_dataset

pytestmark = pytest.mark.django_db

D, J, MV = NodeKind.DATASET, NodeKind.JOB, NodeKind.MODEL_VERSION


def link(*pairs, at=None):
    """Edges between (kind, pk) nodes: read into a job, written by a job, trained on."""
    kinds = {(D, J): EdgeKind.READ, (J, D): EdgeKind.WROTE, (D, MV): EdgeKind.TRAINED_ON}
    edges = [(a[0], a[1], b[0], b[1], kinds[(a[0], b[0])], None) for a, b in pairs]
    edges_upsert(edges=edges, run=None, at=at or timezone.now())


def node(obj):
    kind = {"Dataset": D, "Job": J, "ModelVersion": MV}[type(obj).__name__]
    return (kind, obj.pk)


def layered(width: int, layers: int, prefix: str = "l"):
    """Every dataset of a layer feeds every job of the next; many paths lead to each node."""
    grid = [[make_dataset(f"{prefix}-{i}-{k}") for k in range(width)] for i in range(layers)]
    pairs = []
    for i in range(1, layers):
        for k, out in enumerate(grid[i]):
            job = Job.objects.create(namespace=prefix, name=f"{prefix}-job-{i}-{k}")
            pairs += [(node(src), node(job)) for src in grid[i - 1]]
            pairs.append((node(job), node(out)))
    link(*pairs)
    return grid


@pytest.fixture(params=["one statement", "one query per hop"])
def reach(request):
    """lineage_reach (on PostgreSQL one statement) and the per-hop walk other databases use:
    both must give the same nodes, depths, cap and flag."""
    if request.param == "one statement":
        return selectors.lineage_reach

    def by_hops(*, start, as_of=None, cap=selectors.IMPACT_CAP):
        return selectors._reach_by_hops(start, as_of, cap)

    return by_hops


def test_each_node_once_at_its_nearest_depth(reach):
    a, b, c = make_dataset("a"), make_dataset("b"), make_dataset("c")
    long1, long2, short = (Job.objects.create(namespace="n", name=n) for n in ("l1", "l2", "s"))
    # a -> l1 -> b -> l2 -> c, and a shortcut a -> s -> c
    link(
        (node(a), node(long1)),
        (node(long1), node(b)),
        (node(b), node(long2)),
        (node(long2), node(c)),
        (node(a), node(short)),
        (node(short), node(c)),
    )
    depths, truncated = reach(start=node(a))
    assert depths == {node(long1): 1, node(short): 1, node(b): 2, node(c): 2, node(long2): 3}
    assert not truncated


def test_many_paths_do_not_multiply_rows(reach):
    grid = layered(width=4, layers=4)  # 4**3 paths to the last layer, 4 + 12 nodes downstream
    depths, truncated = reach(start=node(grid[0][0]))
    assert len(depths) == 3 * 4 + 3 * 4 and not truncated
    assert {depths[node(d)] for d in grid[3]} == {6}


def test_cycles_back_to_the_start_terminate(reach):
    a, b = make_dataset("a"), make_dataset("b")
    there, back = Job.objects.create(name="there"), Job.objects.create(name="back")
    link(
        (node(a), node(there)),
        (node(there), node(b)),
        (node(b), node(back)),
        (node(back), node(a)),
    )
    depths, _ = reach(start=node(a))
    assert depths == {node(there): 1, node(b): 2, node(back): 3}


def test_cap_is_exact_keeps_the_nearest_and_flags_truncation(reach):
    grid = layered(width=3, layers=3)
    everything, cut = reach(start=node(grid[0][0]))
    assert len(everything) == 12 and not cut
    exactly, cut = reach(start=node(grid[0][0]), cap=12)
    assert exactly == everything and not cut
    capped, cut = reach(start=node(grid[0][0]), cap=5)
    assert cut and len(capped) == 5
    nearest = sorted(everything.values())[:5]
    assert sorted(capped.values()) == nearest


def test_the_last_hop_expands_no_more_of_the_frontier_than_the_cap_needs(monkeypatch):
    """The per-hop walk (databases other than PostgreSQL) slices the frontier of the last hop."""
    grid = layered(width=3, layers=3)
    everything, _ = selectors._reach_by_hops(node(grid[0][0]), None, selectors.IMPACT_CAP)
    monkeypatch.setattr(selectors, "HOP_SLICE_MIN", 1)
    sliced, cut = selectors._reach_by_hops(node(grid[0][0]), None, selectors.IMPACT_CAP)
    assert sliced == everything and not cut
    expanded = []
    next_nodes = selectors._next_nodes
    monkeypatch.setattr(
        selectors,
        "_next_nodes",
        lambda nodes, as_of: expanded.append(nodes) or next_nodes(nodes, as_of),
    )
    capped, cut = selectors._reach_by_hops(node(grid[0][0]), None, 4)
    assert cut and len(capped) == 4
    assert sorted(capped.values()) == sorted(everything.values())[:4]
    # the start, then 2 of the 3 jobs at depth 1: their 2 datasets pass the cap of 4
    assert [len(nodes) for nodes in expanded] == [1, 2]


def test_as_of_reads_the_past_graph(reach):
    past = timezone.now() - timedelta(days=10)
    a, b = make_dataset("a"), make_dataset("b")
    job = Job.objects.create(name="j")
    link((node(a), node(job)), (node(job), node(b)), at=past)
    edge_remove(edge=job_edge(job, b), at=past + timedelta(days=5))
    now, _ = reach(start=node(a))
    then, _ = reach(start=node(a), as_of=past + timedelta(days=1))
    assert now == {node(job): 1}
    assert then == {node(job): 1, node(b): 2}


def job_edge(job, dataset):
    from lineage.models import LineageEdge

    return LineageEdge.objects.get(src_kind=J, src_id=job.pk, dst_kind=D, dst_id=dataset.pk)


def test_impact_redacts_what_the_policies_hide(engineer, steward, admin_user):
    src, secret, after = make_dataset("src"), make_dataset("secret"), make_dataset("after")
    secret.sensitivity = Sensitivity.RESTRICTED
    secret.owner = steward
    secret.save(update_fields=["sensitivity", "owner"])
    j1, j2 = Job.objects.create(name="j1"), Job.objects.create(name="j2")
    link((node(src), node(j1)), (node(j1), node(secret)), (node(secret), node(j2)))
    link((node(j2), node(after)))

    def impact(user):
        visible = datasets_for(user, "view")
        return selectors.lineage_impact(user=user, start=node(src), visible=visible)

    hidden = impact(engineer)
    assert [d["name"] for d in hidden["datasets"]] == ["after"]
    assert hidden["hidden_count"] == 1 and hidden["total"] == 4
    assert "stella" not in hidden["owners"] and "secret" not in str(hidden)
    shown = impact(admin_user)
    assert [d["name"] for d in shown["datasets"]] == ["secret", "after"]
    assert shown["hidden_count"] == 0 and shown["owners"] == ["stella"]
    assert [d["depth"] for d in shown["datasets"]] == [2, 4]


def test_impact_urls_match_reverse(engineer):
    start = make_dataset("start")
    names = ["plain", "dots.and_under-score", "ünïcode name", "a%b?c#d&e"]
    job = Job.objects.create(name="fan")
    outs = [make_dataset(n) for n in names]
    model = Model.objects.create(name="churn model")
    mv = ModelVersion.objects.create(model=model, version="1.0 β")
    link((node(start), node(job)), *[(node(job), node(d)) for d in outs])
    link((node(outs[0]), node(mv)))
    impact = selectors.lineage_impact(
        user=engineer, start=node(start), visible=datasets_for(engineer, "view")
    )
    urls = {d["name"]: d["url"] for d in impact["datasets"]}
    assert urls == {n: reverse("catalog:dataset-detail", kwargs={"name": n}) for n in names}
    assert impact["jobs"][0]["url"] == reverse("lineage:job-detail", kwargs={"pk": job.pk})
    assert impact["model_versions"][0]["url"] == mv.get_absolute_url()
    assert impact["model_versions"][0]["name"] == "churn model 1.0 β"


def test_url_filler_gives_nothing_for_what_reverse_refuses():
    fill = selectors.url_filler("catalog:dataset-detail", "name")
    assert fill("a/b") == "" and fill("") == "" and fill("a b") == "/catalog/datasets/a%20b/"


def test_impact_query_count_is_flat(engineer):
    """PostgreSQL: one statement however many hops and nodes; elsewhere one query per hop walked
    (plus the empty one that ends the walk) and one per node kind."""
    model = Model.objects.create(name="m")
    narrow = layered(width=1, layers=4, prefix="s")
    link((node(narrow[3][0]), node(ModelVersion.objects.create(model=model, version="1"))))
    wide = layered(width=4, layers=4, prefix="b")
    link((node(wide[3][0]), node(ModelVersion.objects.create(model=model, version="2"))))
    visible = datasets_for(engineer, "view")
    with CaptureQueriesContext(connection) as few:
        small = selectors.lineage_impact(user=engineer, start=node(narrow[0][0]), visible=visible)
    with CaptureQueriesContext(connection) as many:
        big = selectors.lineage_impact(user=engineer, start=node(wide[0][0]), visible=visible)
    assert (small["total"], big["total"]) == (7, 25)
    # PostgreSQL: SET LOCAL jit = off, in a savepoint here (the test runs in a transaction)
    expected = 1 + 3 if connection.vendor == "postgresql" else 8 + 3
    assert len(many.captured_queries) == len(few.captured_queries) == expected


def test_impact_runs_without_jit_on_postgresql(engineer):
    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    start, visible = make_dataset("start"), datasets_for(engineer, "view")
    with CaptureQueriesContext(connection) as ctx:
        selectors.lineage_impact(user=engineer, start=node(start), visible=visible)
    sql = [query["sql"] for query in ctx.captured_queries]
    assert sql[0].startswith("SAVEPOINT") and sql[1] == "SET LOCAL jit = off"
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"  # until the test's transaction ends


def test_the_cap_keeps_the_lowest_ids_of_the_depth_it_cuts(reach):
    start, job = make_dataset("start"), Job.objects.create(name="fan")
    outs = [make_dataset(f"out-{i}") for i in range(5)]
    link((node(start), node(job)), *[(node(job), node(d)) for d in reversed(outs)])
    capped, cut = reach(start=node(start), cap=3)
    assert cut and capped == {node(job): 1, node(outs[0]): 2, node(outs[1]): 2}
    assert reach(start=node(start), cap=3) == (capped, cut)  # deterministic


def test_impact_rows_are_nearest_first_then_by_id(admin_user):
    start = make_dataset("start")
    near, far = Job.objects.create(name="near"), Job.objects.create(name="far")
    first = [make_dataset(f"first-{i}") for i in range(3)]
    second = [make_dataset(f"second-{i}") for i in range(3)]
    link((node(start), node(near)), *[(node(near), node(d)) for d in reversed(second)])
    link((node(second[0]), node(far)), *[(node(far), node(d)) for d in reversed(first)])
    impact = selectors.lineage_impact(
        user=admin_user, start=node(start), visible=datasets_for(admin_user, "view")
    )
    rows = [(d["depth"], d["name"]) for d in impact["datasets"]]
    assert rows == [(2, d.name) for d in second] + [(4, d.name) for d in first]
    assert [(j["depth"], j["name"]) for j in impact["jobs"]] == [(1, "near"), (3, "far")]


def test_impact_with_nothing_visible_names_nothing():
    start, job, out = make_dataset("start"), Job.objects.create(name="j"), make_dataset("out")
    link((node(start), node(job)), (node(job), node(out)))
    impact = selectors.lineage_impact(
        user=AnonymousUser(), start=node(start), visible=datasets_for(AnonymousUser(), "view")
    )
    assert impact["datasets"] == [] and impact["hidden_count"] == 1
    assert [j["name"] for j in impact["jobs"]] == ["j"] and impact["total"] == 2


def test_impact_names_a_page_and_counts_everything(engineer, steward, monkeypatch):
    """A page of each kind (nearest first, then by id) with the counts of all, per kind and per
    depth; a hidden dataset is counted in hidden_count only, on every page."""
    start, job = make_dataset("start"), Job.objects.create(name="fan")
    outs = [make_dataset(f"out-{i}") for i in range(6)]
    outs[2].sensitivity = Sensitivity.RESTRICTED
    outs[2].owner = steward
    outs[2].save(update_fields=["sensitivity", "owner"])
    outs[4].owner = engineer
    outs[4].save(update_fields=["owner"])
    link((node(start), node(job)), *[(node(job), node(d)) for d in outs])
    visible = datasets_for(engineer, "view")

    def impact(**page):
        return selectors.lineage_impact(user=engineer, start=node(start), visible=visible, **page)

    first, rest = impact(limit=2), impact(limit=10, offset=2)
    shown = [d for d in outs if d != outs[2]]
    assert [d["name"] for d in first["datasets"]] == [d.name for d in shown[:2]]
    assert [d["name"] for d in rest["datasets"]] == [d.name for d in shown[2:]]
    assert [j["name"] for j in first["jobs"]] == ["fan"] and rest["jobs"] == []
    for report in (first, rest):
        assert report["counts"] == {"datasets": 5, "jobs": 1, "model_versions": 0}
        assert report["by_depth"] == [{"depth": 1, "nodes": 1}, {"depth": 2, "nodes": 6}]
        assert report["total"] == 7 and report["hidden_count"] == 1
        assert report["owners"] == [engineer.username] and not report["truncated"]
        assert outs[2].name not in str(report) and steward.username not in str(report)
    assert impact()["datasets"] == impact(limit=selectors.IMPACT_CAP)["datasets"]  # 25 > 5


def test_impact_counts_stop_at_the_cap_and_flag_it(admin_user, monkeypatch):
    monkeypatch.setattr(selectors, "IMPACT_CAP", 4)
    start, job = make_dataset("start"), Job.objects.create(name="fan")
    outs = [make_dataset(f"out-{i}") for i in range(5)]
    link((node(start), node(job)), *[(node(job), node(d)) for d in reversed(outs)])
    impact = selectors.lineage_impact(
        user=admin_user, start=node(start), visible=datasets_for(admin_user, "view"), limit=10
    )
    assert impact["truncated"] and impact["total"] == 4
    assert [d["name"] for d in impact["datasets"]] == [d.name for d in outs[:3]]
    assert impact["counts"]["datasets"] == 3 and impact["hidden_count"] == 0
    assert impact["by_depth"] == [{"depth": 1, "nodes": 1}, {"depth": 2, "nodes": 3}]


def test_impact_counts_removed_nodes_as_hidden(admin_user):
    start, job, out = make_dataset("start"), Job.objects.create(name="gone"), make_dataset("out")
    link((node(start), node(job)), (node(job), node(out)))
    Job.objects.filter(pk=job.pk).delete()  # its edges stay, as after a hard delete
    impact = selectors.lineage_impact(
        user=admin_user, start=node(start), visible=datasets_for(admin_user, "view")
    )
    assert impact["jobs"] == [] and impact["counts"]["jobs"] == 0
    assert impact["hidden_count"] == 1 and impact["total"] == 2


def test_impact_as_of_reads_the_past_graph(admin_user):
    past = timezone.now() - timedelta(days=10)
    a, b = make_dataset("a"), make_dataset("b")
    job = Job.objects.create(name="j")
    link((node(a), node(job)), (node(job), node(b)), at=past)
    edge_remove(edge=job_edge(job, b), at=past + timedelta(days=5))
    visible = datasets_for(admin_user, "view")

    def impact(as_of=None):
        return selectors.lineage_impact(
            user=admin_user, start=node(a), visible=visible, as_of=as_of
        )

    assert impact()["total"] == 1 and impact()["datasets"] == []
    then = impact(as_of=past + timedelta(days=1))
    assert then["total"] == 2 and [d["name"] for d in then["datasets"]] == ["b"]


def test_impact_owner_ids_are_owners_and_stewards_downstream(engineer, steward, admin_user):
    """Owners and stewards of downstream datasets and owners of model versions, each once; not
    the start's own, nothing upstream; no permission filter."""
    up, start, job = make_dataset("up"), make_dataset("start"), Job.objects.create(name="j")
    out, secret = make_dataset("out"), make_dataset("secret")
    up.owner = admin_user
    up.save(update_fields=["owner"])
    start.owner = admin_user
    start.save(update_fields=["owner"])
    out.owner = engineer
    out.save(update_fields=["owner"])
    secret.sensitivity = Sensitivity.RESTRICTED
    secret.save(update_fields=["sensitivity"])
    secret.stewards.add(steward, engineer)
    mv = ModelVersion.objects.create(
        model=Model.objects.create(name="m"), version="1", owner=steward
    )
    link((node(up), node(job)), (node(start), node(job)))
    link((node(job), node(out)), (node(job), node(secret)), (node(out), node(mv)))
    ids = selectors.impact_owner_ids(dataset=start)
    assert ids == sorted({engineer.pk, steward.pk})
    assert selectors.impact_owner_ids(dataset=out) == [steward.pk]


def test_impact_off_postgresql_gives_the_same_report(engineer, steward, monkeypatch):
    """The per-hop path (other databases; run here by making the connection look like SQLite)
    and the one-statement path give the same report: pages, counts, owners, hidden, cap."""
    grid = layered(width=3, layers=4)
    grid[2][1].sensitivity = Sensitivity.RESTRICTED
    grid[2][1].owner = steward
    grid[2][1].save(update_fields=["sensitivity", "owner"])
    grid[3][0].owner = engineer
    grid[3][0].save(update_fields=["owner"])
    mv = ModelVersion.objects.create(model=Model.objects.create(name="m"), version="1")
    link((node(grid[3][2]), node(mv)))
    Job.objects.filter(name="l-job-2-0").delete()
    visible = datasets_for(engineer, "view")

    def reports():
        start = node(grid[0][0])
        return [
            selectors.lineage_impact(user=engineer, start=start, visible=visible, **page)
            for page in ({}, {"limit": 2, "offset": 1}, {"limit": 0})
        ]

    def off_postgresql():
        with monkeypatch.context() as patch:
            patch.setattr(connection, "vendor", "sqlite")
            return reports()

    in_sql = reports()
    assert off_postgresql() == in_sql
    assert in_sql[0]["hidden_count"] == 2 and in_sql[0]["owners"] == [engineer.username]
    monkeypatch.setattr(selectors, "IMPACT_CAP", 7)
    capped = reports()
    assert off_postgresql() == capped and capped[0]["truncated"] and capped[0]["total"] == 7
