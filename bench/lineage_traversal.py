"""Benchmark: depth <= 3 lineage traversal on a generated graph; prints JSON figures.

    .venv/bin/python bench/lineage_traversal.py [--datasets 2000] [--fanout 3] [--repeats 20]

Uses DATABASE_URL when set (PostgreSQL), else a throw-away SQLite file. The graph is layered:
each job reads `fanout` datasets of one layer and writes one dataset of the next, so a walk from a
dataset fans out like a real warehouse. Reports the median and p95 time of upstream, downstream
and both-way walks at depth 1..3, node counts, and the queries each walk issued (one per
direction).
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup() -> str:
    tmp = tempfile.mkdtemp(prefix="charter-bench-lineage-")
    os.environ.setdefault("CHARTER_VAR_DIR", tmp)
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return os.environ["DATABASE_URL"].split(":", 1)[0]


def _build(datasets: int, fanout: int, seed: int) -> list[int]:
    from django.db import transaction
    from django.utils import timezone

    from catalog.models import Dataset
    from lineage.models import EdgeKind, Job, LineageEdge, NodeKind

    rng = random.Random(seed)
    now = timezone.now()
    with transaction.atomic():
        LineageEdge.objects.all().delete()
        Job.objects.filter(namespace="bench").delete()
        Dataset.objects.filter(name__startswith="bench-").delete()
        rows = Dataset.objects.bulk_create(
            Dataset(name=f"bench-{i}", source_kind="external", location=f"bench/{i}")
            for i in range(datasets)
        )
        ids = (
            [d.pk for d in rows]
            if rows[0].pk
            else list(
                Dataset.objects.filter(name__startswith="bench-")
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        )
        layer = max(10, datasets // 10)
        jobs = Job.objects.bulk_create(
            Job(namespace="bench", name=f"job-{i}") for i in range(layer, datasets)
        )
        job_ids = (
            [j.pk for j in jobs]
            if jobs[0].pk
            else list(
                Job.objects.filter(namespace="bench").order_by("pk").values_list("pk", flat=True)
            )
        )
        edges = []
        for out_idx, job_id in zip(range(layer, datasets), job_ids, strict=True):
            lo = max(0, (out_idx // layer - 1) * layer)
            for src in rng.sample(range(lo, lo + layer), fanout):
                edges.append((NodeKind.DATASET, ids[src], NodeKind.JOB, job_id, EdgeKind.READ))
            edges.append((NodeKind.JOB, job_id, NodeKind.DATASET, ids[out_idx], EdgeKind.WROTE))
        LineageEdge.objects.bulk_create(
            [
                LineageEdge(
                    src_kind=a,
                    src_id=b,
                    dst_kind=c,
                    dst_id=d,
                    kind=k,
                    created_at=now,
                    last_seen_at=now,
                )
                for a, b, c, d, k in set(edges)
            ],
            batch_size=2000,
        )
    _analyse(LineageEdge, Dataset, Job)
    return ids


def _analyse(*models) -> None:
    """Give the planner statistics and the visibility map for the bulk-loaded tables, as
    autovacuum does in production within a minute of such a load. The shared bench server runs
    with autovacuum off; without this every plan is guessed from empty statistics (a walk
    level then scanned all 250,000 job edges instead of looking up its 18 ids)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=2000)
    parser.add_argument("--fanout", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    vendor = _setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lineage import selectors
    from lineage.models import LineageEdge, NodeKind

    started = time.perf_counter()
    ids = _build(args.datasets, args.fanout, args.seed)
    build_s = time.perf_counter() - started
    rng = random.Random(args.seed)
    middle = ids[len(ids) // 3 : 2 * len(ids) // 3]
    figures = []
    for depth in (1, 2, 3):
        for direction in ("upstream", "downstream", "both"):
            times, nodes, queries = [], [], 0
            for _ in range(args.repeats):
                start = (NodeKind.DATASET, rng.choice(middle))
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    if direction == "both":
                        walk = selectors.lineage_neighbourhood(start=start, depth=depth)
                    else:
                        walk = selectors.lineage_walk(start=start, direction=direction, depth=depth)
                    times.append((time.perf_counter() - t0) * 1000)
                nodes.append(len(walk.nodes))
                queries = max(queries, len(ctx.captured_queries))
            times.sort()
            figures.append(
                {
                    "depth": depth,
                    "direction": direction,
                    "median_ms": round(statistics.median(times), 3),
                    "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
                    "mean_nodes": round(statistics.mean(nodes), 1),
                    "queries_per_walk": queries,
                }
            )
    result = {
        "benchmark": "lineage_traversal",
        "database": vendor,
        "datasets": args.datasets,
        "jobs": args.datasets - max(10, args.datasets // 10),
        "edges": LineageEdge.objects.count(),
        "fanout": args.fanout,
        "repeats": args.repeats,
        "build_seconds": round(build_s, 3),
        "walks": figures,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
