"""Scale-out: audit throughput of a queue of audits with two workers against one.

Target (issue 8): two workers >= 1.7x the throughput of one on a queue of 100 audits. The
audits are real runs (`audit_run_request` queues them on Redis after commit; workers run
`audit_run_task`), one per dataset, each profiling and checking a CSV of `scaleout_rows` rows.
Throughput is runs / (last finished - first started), from the runs' own timestamps, so
worker start-up is not counted. The machine has 2 cores, so 2 workers is its ceiling.

To tell serialisation from a busy machine, each drain also reports its concurrency: the sum of
the runs' own durations over the span. Two workers that never wait for each other give ~2.0
whatever the load; if their runs merely got slower (cores shared with other processes), the
concurrency stays ~2.0 while the mean run time grows. A run waiting on a lock would look the
same, so the drain also samples PostgreSQL for backends waiting on a lock (row locks,
advisory locks) and reads the workers' CPU seconds from /proc.
"""

from __future__ import annotations

import os
import time

from bench.common import (
    CeleryWorkers,
    Figure,
    Scale,
    at_least,
    bench_data_dir,
    broker_flush,
    log,
    wait_until,
)

CHECKS = [
    {"kind": "not_null", "column": "age", "mostly": 0.95},
    {"kind": "unique", "column": "id"},
    {"kind": "range", "column": "income", "min_value": 0, "max_value": 10_000_000},
    {"kind": "allowed_values", "column": "plan", "value_set": ["free", "basic", "pro"]},
    {"kind": "regex", "column": "email", "regex": r"[a-z.]+[0-9]+@example\.com"},
    {"kind": "pii_scan", "columns": ["email", "phone"]},
]


def _queue(tag: str, count: int, path: str) -> list[int]:
    """`count` datasets on the file, one policy over them (by tag), and one queued run each."""
    from django.db import transaction

    from audits.services import audit_policy_create, audit_run_request
    from catalog.models import Dataset, Tag

    label, _ = Tag.objects.get_or_create(name=f"bench-scaleout-{tag}")
    with transaction.atomic():
        made = Dataset.objects.bulk_create(
            Dataset(
                name=f"bench-scaleout-{tag}-{n:03d}",
                source_kind="file",
                location=path,
                file_format="csv",
            )
            for n in range(count)
        )
        label.datasets.add(*made)
        policy = audit_policy_create(
            actor=None, name=f"bench-scaleout-{tag}", checks=CHECKS, target_tag=label
        )
        runs = audit_run_request(policy=policy, actor=None)
    if len(runs) != count:  # the figure is about a queue of `count` audits, not fewer
        raise RuntimeError(f"queued {len(runs)} audits, expected {count}")
    return [r.pk for r in runs]


def _backends_waiting_on_a_lock() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc; fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drain(run_ids: list[int], workers: int, timeout: float) -> dict:
    from django.db.models import Max, Min

    from audits.models import AuditRun

    runs = AuditRun.objects.filter(pk__in=run_ids)
    finished = runs.filter(finished_at__isnull=False)
    samples = {"taken": 0, "lock_waits": 0}

    def drained() -> bool:
        samples["taken"] += 1
        samples["lock_waits"] += _backends_waiting_on_a_lock()
        return finished.count() >= len(run_ids)

    start = time.perf_counter()
    with CeleryWorkers(workers) as pool:
        done = wait_until(drained, timeout=timeout, every=0.25)
        cpu = sum(_cpu_seconds(proc.pid) for proc in pool.procs)  # start-up included
    wall = time.perf_counter() - start
    span = finished.aggregate(first=Min("started_at"), last=Max("finished_at"))
    count = finished.count()
    seconds = (span["last"] - span["first"]).total_seconds() if count else None
    durations = [
        (f - s).total_seconds() for s, f in finished.values_list("started_at", "finished_at")
    ]
    states = {s: runs.filter(state=s).count() for s in ("passed", "failed", "error")}
    return {
        "runs": count,
        "seconds": seconds,
        "per_min": count / seconds * 60 if seconds else None,
        "drained": done,
        "wall_s": wall,
        "states": states,
        "mean_run_s": round(sum(durations) / count, 2) if count else None,
        "concurrency": round(sum(durations) / seconds, 2) if seconds else None,
        "lock_wait_samples": f"{samples['lock_waits']} in {samples['taken']}",
        "worker_cpu_s": round(cpu, 1),
    }


def run(scale: Scale) -> list[Figure]:
    from bench.datagen import csv_file

    path = str(csv_file(bench_data_dir(), scale.scaleout_rows))
    n = scale.scaleout_audits
    timeout = 60 + n * 20
    results = {}
    for workers in (1, 2):
        broker_flush()
        run_ids = _queue(f"w{workers}", n, path)
        results[workers] = _drain(run_ids, workers, timeout)
        log(f"scaleout: {workers} worker(s) {results[workers]}")
    one, two = results[1]["per_min"], results[2]["per_min"]
    speedup = two / one if one and two else None
    return [
        Figure(
            name="scaleout.audits_two_workers_vs_one",
            value=round(two, 1) if two else None,
            unit="audits/min",
            target=">= 1.7x one worker",
            passed=at_least(speedup, 1.7),
            baseline=round(one, 1) if one else None,
            baseline_name="the same queue with one worker",
            ratio=round(speedup, 2) if speedup else None,
            group="scaleout",
            notes=(
                f"queue of {n} audits ({scale.scaleout_rows:,}-row CSV each: profile + 5 checks"
                f" + PII scan); states 1w {results[1]['states']}, 2w {results[2]['states']};"
                f" mean run {results[1]['mean_run_s']} s (1w) vs {results[2]['mean_run_s']} s"
                f" (2w), concurrency {results[1]['concurrency']} vs {results[2]['concurrency']},"
                f" worker CPU {results[1]['worker_cpu_s']} vs {results[2]['worker_cpu_s']} s,"
                f" backends waiting on a lock: {results[2]['lock_wait_samples']} samples (2w)"
            ),
            extra=results,
        )
    ]
