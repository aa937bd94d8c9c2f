"""Reads of the lineage graph: one recursive SQL query per walk (PostgreSQL and SQLite), then one
batched query per node kind for the details, never a query per node."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Count, Max, Prefetch, QuerySet

from catalog.models import Dataset
from lineage.models import (
    ColumnLineageEdge,
    ExternalQualityResult,
    Job,
    LineageEdge,
    LineageEvent,
    Model,
    ModelVersion,
    ModelVersionData,
    NodeKind,
    Run,
)

IMPACT_CAP = 10_000
MAX_DEPTH = 50
UPSTREAM, DOWNSTREAM = "upstream", "downstream"

NodeKey = tuple[str, int]


@dataclass
class Walk:
    """A traversal: nodes with their distance, edges walked, and whether it was cut."""

    start: NodeKey
    nodes: dict[NodeKey, int] = field(default_factory=dict)  # node -> signed depth
    edges: dict[int, tuple[str, int, str, int, str]] = field(default_factory=dict)
    truncated: bool = False


def _walk_sql(direction: str, as_of: datetime | None) -> tuple[str, list[Any]]:
    table = LineageEdge._meta.db_table
    near, far = ("dst", "src") if direction == UPSTREAM else ("src", "dst")
    if as_of is None:
        when, params = "e.valid_to IS NULL", []
    else:
        when = "e.created_at <= %s AND (e.valid_to IS NULL OR e.valid_to > %s)"
        params = [as_of, as_of]
    sql = f"""
        WITH RECURSIVE walk(kind, id, depth, edge_id) AS (
            SELECT CAST(%s AS VARCHAR(20)), CAST(%s AS BIGINT), 0, CAST(NULL AS BIGINT)
            UNION
            SELECT CAST(e.{far}_kind AS VARCHAR(20)), e.{far}_id, w.depth + 1, e.id
            FROM walk w JOIN {table} e ON e.{near}_kind = w.kind AND e.{near}_id = w.id
            WHERE w.depth < %s AND {when}
        )
        SELECT w.kind, w.id, w.depth, e.id, e.src_kind, e.src_id, e.dst_kind, e.dst_id, e.kind
        FROM (SELECT * FROM walk LIMIT %s) w LEFT JOIN {table} e ON e.id = w.edge_id
    """  # noqa: S608 - table and column names are ours; values are parameters
    return sql, params


def lineage_walk(
    *,
    start: NodeKey,
    direction: str,
    depth: int,
    as_of: datetime | None = None,
    cap: int = IMPACT_CAP,
) -> Walk:
    """Upstream or downstream of `start` to `depth` hops as ONE recursive query; cycle-safe
    (UNION drops repeated rows and depth is bounded), "as of" a past time when given."""
    depth = max(0, min(int(depth), MAX_DEPTH))
    sql, when_params = _walk_sql(direction, as_of)
    params = [start[0], start[1], depth, *when_params, cap * 20 + 1]
    walk = Walk(start=start)
    sign = -1 if direction == UPSTREAM else 1
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if len(rows) > cap * 20:
        walk.truncated = True
    for kind, node_id, dist, edge_id, sk, si, dk, di, ek in rows:
        key = (kind, int(node_id))
        if key not in walk.nodes or abs(walk.nodes[key]) > dist:
            if key not in walk.nodes and len(walk.nodes) >= cap + 1:
                walk.truncated = True
                continue
            walk.nodes[key] = sign * dist
        if edge_id is not None:
            walk.edges[int(edge_id)] = (sk, int(si), dk, int(di), ek)
    if len(walk.nodes) > cap + 1:  # +1: the start node itself
        walk.truncated = True
    return walk


def lineage_upstream_of(*, start: NodeKey, depth: int, as_of: datetime | None = None) -> Walk:
    """Everything `start` was derived from, up to `depth` hops."""
    return lineage_walk(start=start, direction=UPSTREAM, depth=depth, as_of=as_of)


def lineage_downstream_of(*, start: NodeKey, depth: int, as_of: datetime | None = None) -> Walk:
    """Everything derived from `start`, up to `depth` hops."""
    return lineage_walk(start=start, direction=DOWNSTREAM, depth=depth, as_of=as_of)


def lineage_neighbourhood(
    *,
    start: NodeKey,
    depth: int,
    as_of: datetime | None = None,
    expand: list[NodeKey] | None = None,
) -> Walk:
    """Upstream and downstream of `start` (two queries) plus one hop around each expanded node."""
    up = lineage_upstream_of(start=start, depth=depth, as_of=as_of)
    down = lineage_downstream_of(start=start, depth=depth, as_of=as_of)
    result = Walk(start=start, truncated=up.truncated or down.truncated)
    for part in (up, down):
        for key, dist in part.nodes.items():
            if key not in result.nodes or abs(result.nodes[key]) > abs(dist):
                result.nodes[key] = dist
        result.edges.update(part.edges)
    for node in expand or []:
        for direction in (UPSTREAM, DOWNSTREAM):
            part = lineage_walk(start=node, direction=direction, depth=1, as_of=as_of)
            base = result.nodes.get(node, 0)
            for key, dist in part.nodes.items():
                result.nodes.setdefault(key, base + dist)
            result.edges.update(part.edges)
    return result


@dataclass
class NodeInfo:
    key: NodeKey
    kind: str
    label: str
    url: str = ""
    lineage_url: str = ""
    redacted: bool = False
    badge: str = ""
    badge_tone: str = ""
    owner: str = ""
    depth: int = 0
    sub: str = ""


def lineage_node_details(
    *, user: AbstractBaseUser | AnonymousUser, keys: list[NodeKey], visible: QuerySet[Dataset]
) -> dict[NodeKey, NodeInfo]:
    """Describe nodes for display in one query per kind; datasets `user` may not see are redacted
    (their name, owner and status are withheld, their place in the graph is kept)."""
    from django.urls import reverse

    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, pk in keys:
        by_kind[kind].append(pk)
    out: dict[NodeKey, NodeInfo] = {}
    if by_kind[NodeKind.DATASET]:
        ids = by_kind[NodeKind.DATASET]
        seen = set(visible.filter(pk__in=ids).values_list("pk", flat=True))
        for ds in Dataset.objects.filter(pk__in=seen).select_related("owner"):
            tone = {"discovered": "warn", "deprecated": "bad"}.get(ds.status, "ok")
            out[(NodeKind.DATASET, ds.pk)] = NodeInfo(
                key=(NodeKind.DATASET, ds.pk),
                kind=NodeKind.DATASET,
                label=ds.name,
                url=_safe_reverse("catalog:dataset-detail", name=ds.name),
                lineage_url=reverse("lineage:dataset-lineage", kwargs={"name": ds.name}),
                badge=ds.get_status_display().split(" (")[0],
                badge_tone=tone,
                owner=ds.owner.get_username() if ds.owner else "",
                sub=ds.sensitivity,
            )
        for pk in ids:
            out.setdefault(
                (NodeKind.DATASET, pk),
                NodeInfo(
                    key=(NodeKind.DATASET, pk),
                    kind=NodeKind.DATASET,
                    label="Restricted dataset",
                    redacted=True,
                ),
            )
    if by_kind[NodeKind.JOB]:
        last = {}
        for run in Run.objects.filter(job_id__in=by_kind[NodeKind.JOB]).order_by(
            "job_id", "-created_at"
        ):
            last.setdefault(run.job_id, run)
        for job in Job.objects.filter(pk__in=by_kind[NodeKind.JOB]):
            run = last.get(job.pk)
            tone = {"COMPLETE": "ok", "FAIL": "bad", "ABORT": "bad"}.get(
                run.state if run else "", "info"
            )
            out[(NodeKind.JOB, job.pk)] = NodeInfo(
                key=(NodeKind.JOB, job.pk),
                kind=NodeKind.JOB,
                label=job.name,
                sub=job.namespace,
                url=reverse("lineage:job-detail", kwargs={"pk": job.pk}),
                badge=run.state if run else "",
                badge_tone=tone,
            )
    if by_kind[NodeKind.MODEL_VERSION]:
        for mv in ModelVersion.objects.filter(
            pk__in=by_kind[NodeKind.MODEL_VERSION]
        ).select_related("model", "owner"):
            out[(NodeKind.MODEL_VERSION, mv.pk)] = NodeInfo(
                key=(NodeKind.MODEL_VERSION, mv.pk),
                kind=NodeKind.MODEL_VERSION,
                label=f"{mv.model.name} {mv.version}",
                url=mv.get_absolute_url(),
                owner=mv.owner.get_username() if mv.owner else "",
            )
    for key in keys:
        out.setdefault(key, NodeInfo(key=key, kind=key[0], label="(removed)", redacted=True))
    return out


def _safe_reverse(url_name: str, **kwargs: Any) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(url_name, kwargs=kwargs)
    except NoReverseMatch:
        return ""


def lineage_impact(
    *,
    user: AbstractBaseUser | AnonymousUser,
    start: NodeKey,
    visible: QuerySet[Dataset],
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Everything downstream of `start` (datasets, jobs, model versions) with owners, capped at
    10,000 nodes; invisible datasets are counted but not named."""
    walk = lineage_walk(start=start, direction=DOWNSTREAM, depth=MAX_DEPTH, as_of=as_of)
    keys = [k for k in walk.nodes if k != start]
    details = lineage_node_details(user=user, keys=keys, visible=visible)
    groups: dict[str, list[dict[str, Any]]] = {"datasets": [], "jobs": [], "model_versions": []}
    hidden = 0
    names = {
        NodeKind.DATASET: "datasets",
        NodeKind.JOB: "jobs",
        NodeKind.MODEL_VERSION: "model_versions",
    }
    for key in sorted(keys, key=lambda k: (walk.nodes[k], k)):
        info = details[key]
        if info.redacted:
            hidden += 1
            continue
        groups[names[key[0]]].append(
            {
                "kind": key[0],
                "id": key[1],
                "name": info.label,
                "owner": info.owner,
                "depth": walk.nodes[key],
                "url": info.url,
            }
        )
    owners = sorted({item["owner"] for g in groups.values() for item in g if item["owner"]})
    return {
        **groups,
        "owners": owners,
        "hidden_count": hidden,
        "truncated": walk.truncated,
        "total": len(keys),
    }


def impact_owner_ids(*, dataset: Dataset) -> list[int]:
    """Ids of the owners and stewards of datasets and model versions downstream of `dataset`
    (for notifications; no permission filter: owners are told about their own assets)."""
    walk = lineage_downstream_of(start=(NodeKind.DATASET, dataset.pk), depth=MAX_DEPTH)
    ds_ids = [pk for kind, pk in walk.nodes if kind == NodeKind.DATASET and pk != dataset.pk]
    mv_ids = [pk for kind, pk in walk.nodes if kind == NodeKind.MODEL_VERSION]
    ids = set(
        Dataset.objects.filter(pk__in=ds_ids, owner__isnull=False).values_list(
            "owner_id", flat=True
        )
    )
    ids |= set(
        Dataset.stewards.through.objects.filter(dataset_id__in=ds_ids).values_list(
            "user_id", flat=True
        )
    )
    ids |= set(
        ModelVersion.objects.filter(pk__in=mv_ids, owner__isnull=False).values_list(
            "owner_id", flat=True
        )
    )
    return sorted(ids)


# --- column lineage ---------------------------------------------------------------------------


def column_lineage_walk(
    *, dataset_id: int, column: str, direction: str, depth: int, as_of: datetime | None = None
) -> list[tuple[int, str, int, int, str, int, str]]:
    """Columns feeding (upstream) or fed by (downstream) one column, as ONE recursive query.

    Returns rows (dataset_id, column, depth, src_dataset, src_column, dst_dataset, dst_column)."""
    table = ColumnLineageEdge._meta.db_table
    near, far = ("dst", "src") if direction == UPSTREAM else ("src", "dst")
    when, params = "e.valid_to IS NULL", []
    if as_of is not None:
        when = "e.created_at <= %s AND (e.valid_to IS NULL OR e.valid_to > %s)"
        params = [as_of, as_of]
    sql = f"""
        WITH RECURSIVE walk(ds, col, depth, edge_id) AS (
            SELECT CAST(%s AS BIGINT), CAST(%s AS VARCHAR(200)), 0, CAST(NULL AS BIGINT)
            UNION
            SELECT e.{far}_dataset_id, CAST(e.{far}_column AS VARCHAR(200)), w.depth + 1, e.id
            FROM walk w JOIN {table} e ON e.{near}_dataset_id = w.ds AND e.{near}_column = w.col
            WHERE w.depth < %s AND {when}
        )
        SELECT w.ds, w.col, w.depth, e.src_dataset_id, e.src_column, e.dst_dataset_id, e.dst_column
        FROM (SELECT * FROM walk LIMIT %s) w JOIN {table} e ON e.id = w.edge_id
        ORDER BY w.depth
    """  # noqa: S608 - identifiers are ours; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [dataset_id, column, min(int(depth), MAX_DEPTH), *params, IMPACT_CAP])
        return [tuple(r) for r in cursor.fetchall()]


# --- lists ---------------------------------------------------------------------------------------


def run_list() -> QuerySet[Run]:
    """Recent runs with their job (one query)."""
    return Run.objects.select_related("job").order_by("-created_at")


def job_list() -> QuerySet[Job]:
    return Job.objects.annotate(run_count=Count("runs"), last_run_at=Max("runs__created_at"))


def model_list() -> QuerySet[Model]:
    """Models with their version count and owner (one query)."""
    return (
        Model.objects.select_related("owner")
        .annotate(version_count=Count("versions"), last_version_at=Max("versions__created_at"))
        .order_by("name")
    )


def model_version_list(*, model: Model) -> QuerySet[ModelVersion]:
    return (
        model.versions.select_related("owner", "created_by")
        .prefetch_related(
            Prefetch(
                "data", queryset=ModelVersionData.objects.select_related("dataset_version__dataset")
            )
        )
        .order_by("-created_at")
    )


def model_version_get(*, name: str, version: str) -> ModelVersion:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        ModelVersion.objects.select_related(
            "model", "owner", "created_by", "run__job"
        ).prefetch_related(
            Prefetch(
                "data",
                queryset=ModelVersionData.objects.select_related(
                    "dataset_version__dataset", "dataset_version__dataset__owner"
                ),
            )
        ),
        model__name=name,
        version=version,
    )


def dataset_model_versions(*, dataset: Dataset) -> QuerySet[ModelVersionData]:
    """Model versions trained or evaluated on any version of `dataset`."""
    return (
        ModelVersionData.objects.filter(dataset_version__dataset=dataset)
        .select_related("model_version__model", "dataset_version")
        .order_by("-model_version__created_at")
    )


def external_quality_for(*, dataset: Dataset, limit: int = 50) -> list[ExternalQualityResult]:
    return list(
        dataset.external_quality.select_related("run__job").order_by("-observed_at", "id")[:limit]
    )


def discovered_dataset_list(*, visible: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """Datasets found through lineage and not yet adopted, with their OpenLineage names."""
    return (
        visible.filter(status=Dataset.Status.DISCOVERED)
        .prefetch_related("lineage_refs")
        .order_by("-created_at")
    )


def lineage_event_list() -> QuerySet[LineageEvent]:
    return LineageEvent.objects.select_related("submitted_by").order_by("-received_at")
