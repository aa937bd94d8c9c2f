"""Ledger: appends per second with 8 concurrent writers, and verifying a long chain.

Targets (issue 8): >= 500 appends/s with 8 concurrent writers on PostgreSQL, chain intact;
verifying 1M events <= 10 s. Writers are separate processes (no shared GIL), each calling the
real `ledger_record` in its own transaction, as services do. The long chain is written with
COPY, hashed by the real `ledger.hashing.event_hash`, then checked by the real `ledger_verify`.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from datetime import UTC, datetime, timedelta

from bench.common import SEED, Figure, Scale, at_least, at_most, log, median_time

WRITERS = 8
ACTIONS = [
    "dataset.registered",
    "dataset.classified",
    "access.requested",
    "access.approved",
    "access.granted",
    "audit.run.finished",
    "data.read",
    "report.downloaded",
]


def _writer(index: int, count: int, ready: mp.Queue, go: mp.Event, done: mp.Queue) -> None:
    import django

    django.setup()
    from django.db import connection

    from ledger.services import ledger_record

    connection.ensure_connection()
    ledger_record(actor=None, action="bench.writer.ready", data={"writer": index})
    ready.put(index)
    go.wait()
    start = time.perf_counter()
    for n in range(count):
        ledger_record(
            actor=None,
            action="bench.append",
            target=("catalog.dataset", str(n)),
            data={"writer": index, "n": n, "reason": "benchmark append"},
        )
    done.put((index, time.perf_counter() - start))
    connection.close()


def appends(scale: Scale) -> Figure:
    """8 writer processes append concurrently; throughput over the whole burst."""
    from ledger.services import ledger_verify

    ctx = mp.get_context("spawn")
    ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    count = scale.ledger_appends_per_writer
    procs = [
        ctx.Process(target=_writer, args=(i, count, ready, go, done), daemon=True)
        for i in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    start = time.perf_counter()
    go.set()
    for _ in procs:
        done.get(timeout=600)
    wall = time.perf_counter() - start
    for p in procs:
        p.join(timeout=30)
    total = WRITERS * count
    rate = total / wall
    check = ledger_verify()
    ok = check.ok
    return Figure(
        name="ledger.appends_per_s_8_writers",
        value=round(rate, 1),
        unit="appends/s",
        target=">= 500 appends/s, chain intact",
        passed=bool(at_least(rate, 500)) and ok,
        group="ledger",
        notes=f"{total} appends by {WRITERS} processes in {wall:.2f} s; verify ok={ok}",
        extra={"appends": total, "wall_s": wall, "chain_ok": ok, "checked": check.checked},
    )


def _synthetic_rows(start_seq: int, prev_hash: str, count: int):
    """Yield COPY rows for a valid chain continuing from (start_seq - 1, prev_hash)."""
    from ledger.hashing import canonical_json, event_hash, json_safe

    rng = random.Random(SEED)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    users = [(i, f"user{i:04d}") for i in range(1, 201)]
    for seq in range(start_seq, start_seq + count):
        actor_id, username = rng.choice(users) if rng.random() < 0.9 else (None, "")
        action = ACTIONS[seq % len(ACTIONS)]
        target_id = str(rng.randrange(1, 100_000))
        data = json_safe(
            {
                "dataset": f"dataset-{target_id}",
                "reason": "synthetic governance act",
                "level": rng.choice(["masked", "full"]),
                "days": rng.randrange(1, 90),
                "columns": [f"col_{rng.randrange(50)}" for _ in range(rng.randrange(0, 4))],
            }
        )
        fields = {
            "seq": seq,
            "prev_hash": prev_hash,
            "created_at": t0 + timedelta(milliseconds=seq * 37, microseconds=seq % 997),
            "actor_id": actor_id,
            "actor_username": username,
            "action": action,
            "target_type": "catalog.dataset",
            "target_id": target_id,
            "target_repr": f"dataset-{target_id}",
            "data": data,
        }
        digest = event_hash(**fields)
        yield (
            seq,
            fields["created_at"],
            actor_id,
            username,
            action,
            "catalog.dataset",
            target_id,
            fields["target_repr"],
            canonical_json(data),
            prev_hash,
            digest,
        )
        prev_hash = digest


def chain_fill(total: int) -> int:
    """Extend the ledger with COPY until it holds `total` events; return how many were added."""
    from django.db import connection

    from ledger.services import ledger_head

    head = ledger_head()
    missing = total - head["seq"]
    if missing <= 0:
        return 0
    columns = (
        "seq, created_at, actor_id, actor_username, action, target_type, target_id, "
        "target_repr, data, prev_hash, hash"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        with raw.copy(f"COPY ledger_event ({columns}) FROM STDIN") as copy:
            for row in _synthetic_rows(head["seq"] + 1, head["hash"], missing):
                copy.write_row(row)
        cursor.execute("ANALYZE ledger_event")
    return missing


def verify(scale: Scale) -> Figure:
    from ledger.services import ledger_verify

    start = time.perf_counter()
    added = chain_fill(scale.ledger_verify_events)
    log(f"ledger: wrote {added} synthetic events in {time.perf_counter() - start:.1f} s")
    repeats = 3 if scale.name == "full" else scale.repeats
    seconds, result = median_time(ledger_verify, repeats=repeats, warmup=1 if repeats > 1 else 0)
    per_million = seconds / result.checked * 1_000_000 if result.checked else None
    return Figure(
        name="ledger.verify_1M_events",
        value=round(per_million, 3) if per_million is not None else None,
        unit="s per 1M events",
        target="<= 10 s for 1M events",
        passed=bool(at_most(per_million, 10)) and result.ok,
        group="ledger",
        notes=(
            f"verified {result.checked} events in {seconds:.2f} s (median of {repeats}), "
            f"ok={result.ok}" + ("" if result.checked >= 1_000_000 else "; scaled linearly to 1M")
        ),
        extra={"events": result.checked, "seconds": seconds, "ok": result.ok},
    )


def run(scale: Scale) -> list[Figure]:
    return [appends(scale), verify(scale)]
