"""OpenLineage ingestion: events accepted per second over HTTP, processed per second by a worker.

Targets (issue 8): >= 300 events/s accepted at `POST /api/v1/lineage` (8 concurrent pipeline
clients, token auth, gunicorn); one worker processes >= 200 events/s, so a backlog drains.
Each event is a distinct RunEvent (own runId) of one of 50 jobs reading two datasets and
writing one, as a scheduler emits them. Accepting stores the raw event and queues a task on
Redis; the worker applies it to the graph. The processing rate comes from the events'
`processed_at` times (first to last), so worker start-up is not counted.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid

from bench.common import (
    SEED,
    CeleryWorkers,
    Figure,
    Gunicorn,
    Scale,
    at_least,
    broker_flush,
    load,
    log,
    wait_until,
)

# an engineer's own port range: BENCH_OPENLINEAGE_PORT, else BENCH_PORT (as the API benches)
PORT = int(os.environ.get("BENCH_OPENLINEAGE_PORT") or os.environ.get("BENCH_PORT", "8106"))
WARMUP = 32  # distinct events of their own, posted before the timed run and not counted
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python"


def events(count: int, *, namespace: str = "bench-scheduler", seed: int = SEED) -> list[str]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        job = n % 50
        stage = job % 5
        out.append(
            json.dumps(
                {
                    "eventType": "COMPLETE",
                    "eventTime": f"2026-11-20T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
                    "run": {"runId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                            "facets": {}},
                    "job": {"namespace": namespace, "name": f"etl.job_{job}", "facets": {}},
                    "inputs": [{"namespace": "warehouse", "name": f"stage{stage}.table_{job}_{k}"}
                               for k in range(2)],
                    "outputs": [{"namespace": "warehouse",
                                 "name": f"stage{stage + 1}.table_{job}_0"}],
                    "producer": PRODUCER,
                    "schemaURL": SCHEMA,
                }
            )
        )  # fmt: skip
    return out


def run(scale: Scale) -> list[Figure]:
    from django.db.models import Max, Min

    from bench.catalog_data import api_token_for, populate
    from lineage.models import LineageEvent

    pop = populate(
        datasets=scale.search_datasets,
        columns_per_dataset=scale.search_columns_per_dataset,
        grants=scale.api_grants,
    )
    headers = {"Authorization": f"Bearer {api_token_for(pop.engineer_username)}"}
    n = scale.openlineage_events
    # A reused database (BENCH_REUSE_DB) holds an earlier run's events: new run ids, or every
    # timed event would be refused as a redelivery and nothing would be left to process.
    seed = SEED + LineageEvent.objects.count()
    bodies = events(n, seed=seed)
    broker_flush()
    with Gunicorn(port=PORT) as server:
        # Warm cache, as the other HTTP figures: every gunicorn worker has loaded the URLconf
        # and opened its database connection before the clock starts (the loadgen's own
        # warm-up would re-post the timed bodies, which are then duplicates).
        load(
            base=server.base,
            paths=["/api/v1/lineage"],
            requests=WARMUP,
            method="POST",
            bodies=events(WARMUP, namespace="bench-warmup", seed=seed + 1),
            headers=headers,
            warmup=0,
        )
        last_before = LineageEvent.objects.aggregate(last=Max("pk"))["last"] or 0
        accepted = load(
            base=server.base,
            paths=["/api/v1/lineage"],
            requests=n,
            method="POST",
            bodies=bodies,
            headers=headers,
            warmup=0,
        )
    log(
        f"openlineage: accepted {accepted['throughput_rps']:.0f}/s statuses {accepted['statuses']}"
        f" p95 {accepted['p95_ms']:.0f} ms errors {accepted['errors']}"
    )
    timed = LineageEvent.objects.filter(pk__gt=last_before)  # not the warm-up's, nor older runs'
    stored = timed.count()
    processed = timed.filter(status=LineageEvent.Status.PROCESSED)
    start = time.perf_counter()
    with CeleryWorkers(1):
        done = wait_until(lambda: processed.count() >= stored, timeout=max(120, n / 20))
    wall = time.perf_counter() - start
    span = processed.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    count = processed.count()
    seconds = (span["last"] - span["first"]).total_seconds() if count > 1 else None
    rate = (count - 1) / seconds if seconds else None
    return [
        Figure(
            name="openlineage.accepted_per_s",
            value=round(accepted["throughput_rps"], 1),
            unit="events/s",
            target=">= 300 events/s",
            passed=at_least(accepted["throughput_rps"], 300)
            and set(accepted["statuses"]) <= {"200", "201"},
            group="openlineage",
            notes=f"{n} distinct RunEvents, 8 clients; p50 {accepted['p50_ms']:.0f} ms, "
            f"p95 {accepted['p95_ms']:.0f} ms; statuses {accepted['statuses']}; stored {stored}",
        ),
        Figure(
            name="openlineage.processed_per_s_one_worker",
            value=round(rate, 1) if rate else None,
            unit="events/s",
            target=">= 200 events/s",
            passed=at_least(rate, 200) if done else False,
            group="openlineage",
            notes=f"{count}/{stored} processed by one worker (solo pool); drained={done}; "
            f"{wall:.1f} s including worker start-up",
        ),
    ]
