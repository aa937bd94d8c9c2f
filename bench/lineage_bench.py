"""Lineage at scale: traversal p95 at depth <= 3 and impact analysis cost per visited node.

Integrates the lineage team's `bench/lineage_traversal.py` (a layered warehouse graph built with
bulk_create, walks timed in-process) in a database of its own, sized so the graph has about
`scale.lineage_edges` edges; then times `lineage.selectors.lineage_impact` (everything
downstream, capped at 10,000 nodes) from the top layer, where the cap is reached.

Targets (issue 8): depth <= 3 traversal p95 <= 50 ms at 1M edges; impact analysis capped at
10,000 nodes (flagged as truncated) at <= 5 us per visited node.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

from bench.common import (
    BENCH_DIR,
    PY,
    ROOT,
    Figure,
    Scale,
    at_most,
    bench_env,
    database_create,
    database_drop,
    log,
)

FANOUT = 3
# A database of its own, named after the harness's (BENCH_DB) so parallel runs do not collide.
DB = os.environ.get("BENCH_DB", "charter_bench_run") + "_lineage"


def _impact_child(repeats: int) -> None:
    """In a process on the lineage database: time impact analysis from top-layer datasets."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from catalog.models import Dataset
    from lineage.models import NodeKind
    from lineage.selectors import lineage_impact, lineage_reach

    users = get_user_model().objects
    # reused when re-timing on a database kept with BENCH_KEEP_DB=1
    admin = users.filter(username="bench-admin").first() or users.create_superuser(
        "bench-admin", "a@example.com", None
    )
    ids = list(
        Dataset.objects.filter(name__startswith="bench-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    top = ids[: max(10, len(ids) // 10)]
    visible = Dataset.objects.all()
    walks, impacts = [], []
    for n in range(repeats + 1):
        start = (NodeKind.DATASET, top[(n * 7919) % len(top)])
        t0 = time.perf_counter()
        depths, truncated = lineage_reach(start=start)
        t1 = time.perf_counter()
        report = lineage_impact(user=admin, start=start, visible=visible)
        t2 = time.perf_counter()
        if n:  # the first is a warm-up
            walks.append((t1 - t0, len(depths), truncated))
            impacts.append((t2 - t1, report["total"], report["truncated"]))
    print(
        json.dumps(
            {
                "walk_s": statistics.median(w[0] for w in walks),
                "walk_nodes": statistics.median(w[1] for w in walks),
                "walk_truncated": all(w[2] for w in walks),
                "impact_s": statistics.median(i[0] for i in impacts),
                "impact_nodes": statistics.median(i[1] for i in impacts),
                "impact_truncated": sum(1 for i in impacts if i[2]),
                "repeats": repeats,
            }
        )
    )


def run(scale: Scale) -> list[Figure]:
    script = BENCH_DIR / "lineage_traversal.py"
    if not script.exists():
        from bench.common import NotReady

        raise NotReady("bench/lineage_traversal.py has not landed")
    datasets = max(200, int(scale.lineage_edges / ((FANOUT + 1) * 0.9)))
    url = database_create(DB)
    try:
        env = bench_env(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="bench.settings")
        repeats = 20 if scale.name in ("small", "full") else 5
        start = time.perf_counter()
        proc = subprocess.run(
            [PY, str(script), "--datasets", str(datasets), "--fanout", str(FANOUT),
             "--repeats", str(repeats)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"lineage_traversal.py failed: {proc.stderr[-1500:]}")
        traversal = json.loads(proc.stdout)
        log(
            f"lineage: {traversal['edges']:,} edges, {traversal['datasets']:,} datasets "
            f"(built in {traversal['build_seconds']:.0f} s; {time.perf_counter() - start:.0f} s)"
        )
        code = f"from bench.lineage_bench import _impact_child; _impact_child({repeats // 2})"
        proc = subprocess.run(
            [PY, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=1800, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"impact child failed: {proc.stderr[-1500:]}")
        impact = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":  # kept for re-timing in-process (EXPLAIN work)
            database_drop(DB)
    shallow = [w for w in traversal["walks"] if w["depth"] <= 3]
    worst = max(shallow, key=lambda w: w["p95_ms"])
    depth1 = [w for w in shallow if w["depth"] == 1]
    per_node_us = impact["impact_s"] / max(impact["impact_nodes"], 1) * 1e6
    walk_per_node_us = impact["walk_s"] / max(impact["walk_nodes"], 1) * 1e6
    edges = traversal["edges"]
    return [
        Figure(
            name="lineage.traversal_depth3_p95",
            value=worst["p95_ms"],
            unit="ms",
            target="<= 50 ms (depth <= 3)",
            passed=at_most(worst["p95_ms"], 50),
            group="lineage",
            notes=(
                f"worst of depth 1..3 x up/down/both: depth {worst['depth']} {worst['direction']}"
                f" ({worst['mean_nodes']:.0f} nodes, {worst['queries_per_walk']} queries); "
                f"depth-1 p95 {max(w['p95_ms'] for w in depth1):.1f} ms; {edges:,} edges"
            ),
            extra={"traversal": traversal},
        ),
        Figure(
            name="lineage.impact_per_visited_node",
            value=round(per_node_us, 2),
            unit="us/node",
            target="<= 5 us per node, capped at 10,000 (truncated flag)",
            passed=bool(at_most(per_node_us, 5)) and impact["impact_truncated"] > 0,
            baseline=round(walk_per_node_us, 2),
            baseline_name="the walk alone (lineage_reach: ids and depths, no details)",
            ratio=round(per_node_us / walk_per_node_us, 2) if walk_per_node_us else None,
            group="lineage",
            notes=(
                f"lineage_impact {impact['impact_s'] * 1000:.0f} ms for "
                f"{impact['impact_nodes']:.0f} nodes (truncated in {impact['impact_truncated']}"
                f"/{impact['repeats']}); walk {impact['walk_s'] * 1000:.0f} ms; {edges:,} edges"
            ),
            extra=impact,
        ),
    ]
