"""Audits at scale: a full audit run on the big CSV, push-down on a big PostgreSQL table, and GX.

Targets (issue 8):
- a 1 GB CSV, full audit run (profile + ten quality checks + PII scan of three columns)
  <= 10 s wall and <= 1 GB peak memory, and <= 3x the fastest parse of the same file;
- the same checks >= 2x the speed of Great Expectations on 1M rows, side by side;
- a 10M-row PostgreSQL table, ten checks: one aggregate scan, <= 3x `SELECT count(*)`.

The full run is the real service (`audits.services.audit_run_execute`, what the Celery task
calls) in a fresh process, so its wall time and peak memory are its own. The first run on a
new file also profiles it (a new fingerprint makes a new version), as a real first audit does.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from bench.common import (
    RESULTS,
    Figure,
    Scale,
    at_least,
    at_most,
    bench_data_dir,
    log,
    own_peak_rss_mib,
    peak_rss_of,
)

QUALITY = [
    {"kind": "not_null", "column": "age", "mostly": 0.95},
    {"kind": "unique", "column": "id"},
    {"kind": "range", "column": "age", "min_value": 18, "max_value": 90},
    {"kind": "range", "column": "income", "min_value": 0, "max_value": 10_000_000},
    {"kind": "range", "column": "score", "min_value": 0, "max_value": 1},
    {"kind": "allowed_values", "column": "country", "value_set": ["DE", "FR", "GB", "US", "NL",
                                                                  "ES", "IT", "PL", "SE"]},
    {"kind": "allowed_values", "column": "plan", "value_set": ["free", "basic", "pro",
                                                               "enterprise"]},
    {"kind": "regex", "column": "email", "regex": r"[a-z.]+[0-9]+@example\.com"},
    {"kind": "row_count", "min_value": 1},
    {"kind": "freshness", "column": "last_seen", "max_age": "3650d"},
]  # fmt: skip
PII = {"kind": "pii_scan", "columns": ["email", "phone", "card_number"]}
CHECKS = [*QUALITY, PII]


# --- a full audit run on the big CSV ---------------------------------------------------------


def _prepare_run(path: str) -> int:
    """A dataset for the file, a policy with the checks, and one queued run; return its id."""
    from audits.services import audit_policy_create, audit_run_request
    from catalog.models import Dataset

    dataset, _ = Dataset.objects.get_or_create(
        name=f"bench-file-{abs(hash(path)) % 10**8}",
        defaults={"source_kind": "file", "location": path, "file_format": "csv"},
    )
    name = f"bench-policy-{dataset.pk}"
    from audits.models import AuditPolicy

    policy = AuditPolicy.objects.filter(name=name).first() or audit_policy_create(
        actor=None, name=name, checks=CHECKS, dataset=dataset, time_limit_seconds=3600
    )
    [run] = audit_run_request(
        policy=policy, actor=None, datasets=Dataset.objects.filter(pk=dataset.pk)
    )
    return run.pk


def _run_child(run_id: int) -> None:
    """In a fresh process: execute one queued audit run; print seconds, state and peak RSS."""
    import django

    django.setup()
    from audits.models import AuditRun
    from audits.services import audit_run_execute

    start = time.perf_counter()
    audit_run_execute(run_id=run_id, task_id=f"bench-{run_id}")
    seconds = time.perf_counter() - start
    run = AuditRun.objects.get(pk=run_id)
    print(json.dumps({"seconds": seconds, "state": run.state, "peak_rss_mib": own_peak_rss_mib()}))


def _engine_child(path: str) -> None:
    """In a fresh process: the checks alone (one chunked pass), no profile, no database."""
    import django

    django.setup()
    from django.utils import timezone

    from audits.checks.engine import run_on_source
    from audits.checks.quality import CheckContext
    from catalog.sources import source_for_file

    start = time.perf_counter()
    source = source_for_file(path)
    ctx = CheckContext(now=timezone.now(), columns=[c.as_dict() for c in source.columns()])
    results = run_on_source(source, CHECKS, ctx)
    seconds = time.perf_counter() - start
    failed = [r.get("exception_info") for r in results if r.get("status") == "error"]
    print(
        json.dumps({"seconds": seconds, "errors": failed[:3], "peak_rss_mib": own_peak_rss_mib()})
    )


def file_audit(scale: Scale) -> list[Figure]:
    from bench.datagen import csv_file

    path = str(csv_file(bench_data_dir(), scale.csv_rows))
    floor = RESULTS.get("files.parse_fastest")
    if floor is None:
        from bench.files_bench import measure

        floor = measure("pyarrow_read", path, 1)["seconds"]
    engine = peak_rss_of(f"from bench.audit_bench import _engine_child; _engine_child({path!r})")
    if engine.get("errors"):
        log(f"audit: engine check errors {engine['errors']}")
    runs = []
    for _ in range(2 if scale.name == "small" else 1):
        run_id = _prepare_run(path)
        runs.append(peak_rss_of(f"from bench.audit_bench import _run_child; _run_child({run_id})"))
    first, later = runs[0], runs[-1]
    log(
        f"audit: engine {engine['seconds']:.2f} s; full runs "
        f"{[round(r['seconds'], 2) for r in runs]} states {[r['state'] for r in runs]}"
    )
    size_gb = (bench_data_dir() / path).stat().st_size / 1e9
    full = first["seconds"]
    return [
        Figure(
            name="audit.file_full_run",
            value=round(full, 2),
            unit="s",
            target="<= 10 s per GB and <= 3x fastest parse",
            passed=bool(at_most(full / size_gb, 10)) and bool(at_most(full / floor, 3)),
            baseline=round(floor, 3),
            baseline_name="files.parse_fastest (same file, same run)",
            ratio=round(full / floor, 2),
            group="audit",
            notes=(
                f"profile + 10 checks + PII scan of 3 columns on {size_gb:.2f} GB "
                f"({full / size_gb:.1f} s/GB), state {first['state']}"
                + (
                    f"; a second run on the same version (no profile) took {later['seconds']:.2f} s"
                    if len(runs) > 1
                    else ""
                )
            ),
            extra={"runs": runs},
        ),
        Figure(
            name="audit.file_full_run_peak_memory",
            value=round(max(r["peak_rss_mib"] for r in runs), 0),
            unit="MiB",
            target="<= 1024 MiB",
            passed=at_most(max(r["peak_rss_mib"] for r in runs), 1024),
            group="audit",
            notes="peak RSS of the process running the audit (interpreter and Django included)",
        ),
        Figure(
            name="audit.file_checks_only",
            value=round(engine["seconds"], 2),
            unit="s",
            target="info (<= 3x fastest parse)",
            passed=at_most(engine["seconds"] / floor, 3),
            baseline=round(floor, 3),
            baseline_name="files.parse_fastest",
            ratio=round(engine["seconds"] / floor, 2),
            group="audit",
            notes=f"the engine's one chunked pass alone; peak {engine['peak_rss_mib']:.0f} MiB",
        ),
    ]


# --- Great Expectations side by side -----------------------------------------------------------


def _gx_suite(gx):
    e = gx.expectations
    suite = gx.ExpectationSuite(name="bench")
    for spec in QUALITY:
        kind, col = spec["kind"], spec.get("column")
        if kind == "not_null":
            suite.add_expectation(
                e.ExpectColumnValuesToNotBeNull(column=col, mostly=spec["mostly"])
            )
        elif kind == "unique":
            suite.add_expectation(e.ExpectColumnValuesToBeUnique(column=col))
        elif kind == "range":
            suite.add_expectation(
                e.ExpectColumnValuesToBeBetween(
                    column=col, min_value=spec["min_value"], max_value=spec["max_value"]
                )
            )
        elif kind == "allowed_values":
            suite.add_expectation(
                e.ExpectColumnValuesToBeInSet(column=col, value_set=spec["value_set"])
            )
        elif kind == "regex":
            suite.add_expectation(
                e.ExpectColumnValuesToMatchRegex(column=col, regex=f"^{spec['regex']}$")
            )
        elif kind == "row_count":
            suite.add_expectation(e.ExpectTableRowCountToBeBetween(min_value=spec["min_value"]))
        elif kind == "freshness":
            suite.add_expectation(e.ExpectColumnMaxToBeBetween(column=col, min_value="2016-01-01"))
    return suite  # fmt: skip


def gx_side_by_side(scale: Scale) -> Figure:
    import great_expectations as gx
    import pandas as pd
    from django.utils import timezone

    from audits.checks.engine import run_on_source
    from audits.checks.quality import CheckContext
    from bench.datagen import csv_file
    from catalog.sources import source_for_file

    path = csv_file(bench_data_dir(), scale.gx_rows)
    context = gx.get_context(mode="ephemeral")
    batch_definition = (
        context.data_sources.add_pandas("bench")
        .add_dataframe_asset("people")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(_gx_suite(gx))

    def ours() -> None:
        source = source_for_file(path)
        ctx = CheckContext(now=timezone.now(), columns=[c.as_dict() for c in source.columns()])
        run_on_source(source, QUALITY, ctx)

    def theirs() -> None:
        df = pd.read_csv(path, low_memory=False)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        batch.validate(suite, result_format={"result_format": "SUMMARY"})

    repeats = 3 if scale.name in ("small", "full") else 1
    ours(), theirs()  # warm-up (imports, page cache)
    ours_t, theirs_t = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        theirs()
        ours_t.append(t1 - t0)
        theirs_t.append(time.perf_counter() - t1)
    mine, gx_s = statistics.median(ours_t), statistics.median(theirs_t)
    speedup = gx_s / mine
    return Figure(
        name="audit.checks_vs_great_expectations",
        value=round(mine, 3),
        unit="s",
        target=">= 2x GX speed",
        passed=at_least(speedup, 2),
        baseline=round(gx_s, 3),
        baseline_name=f"GX {gx.__version__} pandas, same 10 checks, same file (read included)",
        ratio=round(mine / gx_s, 3),
        group="audit",
        notes=f"{scale.gx_rows:,} rows; Charter is {speedup:.2f}x GX's speed",
    )


# --- PostgreSQL push-down -------------------------------------------------------------------------


def _pg_table(rows: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.bench_people')")
        if cursor.fetchone()[0] is not None:
            return
        cursor.execute(
            """
            CREATE TABLE bench_people AS
            SELECT g AS id,
                   'user' || g || '@example.com' AS email,
                   (ARRAY['DE','FR','GB','US','NL','ES','IT','PL','SE','IE'])[1 + g %% 10]
                       AS country,
                   (ARRAY['free','basic','pro','enterprise'])[1 + g %% 4] AS plan,
                   CASE WHEN g %% 50 = 0 THEN NULL ELSE 18 + g %% 72 END AS age,
                   round((1000 + (g * 7919) %% 200000)::numeric, 2) AS income,
                   ((g * 31) %% 10000) / 10000.0 AS score,
                   timestamptz '2026-01-01' - make_interval(secs => (g * 13) %% 10000000)
                       AS last_seen
            FROM generate_series(1::bigint, %s::bigint) AS g
            """,
            [rows],
        )
        # A 10M-row table keyed by `id` has a primary key; the unique check reads it from
        # pg_index instead of grouping 10M ids (without it: +16-23 s, PERFORMANCE.md).
        cursor.execute("ALTER TABLE bench_people ADD PRIMARY KEY (id)")
        cursor.execute("ANALYZE bench_people")


PG_CHECKS = [
    {"kind": "not_null", "column": "age", "mostly": 0.95},
    {"kind": "unique", "column": "id"},
    {"kind": "range", "column": "age", "min_value": 18, "max_value": 90},
    {"kind": "range", "column": "income", "min_value": 0, "max_value": 10_000_000},
    {"kind": "range", "column": "score", "min_value": 0, "max_value": 1},
    {"kind": "allowed_values", "column": "country", "value_set": ["DE", "FR", "GB", "US"]},
    {"kind": "allowed_values", "column": "plan", "value_set": ["free", "basic", "pro"]},
    {"kind": "regex", "column": "email", "regex": r"user[0-9]+@example\.com"},
    {"kind": "row_count", "min_value": 1},
    {"kind": "freshness", "column": "last_seen", "max_age": "3650d"},
]


def pg_pushdown(scale: Scale) -> Figure:
    from django.conf import settings
    from django.utils import timezone

    from audits.checks.quality import CheckContext
    from audits.checks.sql import run_pushdown
    from catalog.models import Connection
    from catalog.sources import PostgresSource, encrypt_secret

    start = time.perf_counter()
    _pg_table(scale.pg_table_rows)
    log(
        f"audit: bench_people ({scale.pg_table_rows:,} rows) ready in "
        f"{time.perf_counter() - start:.0f} s"
    )
    db = settings.DATABASES["default"]
    conn, _ = Connection.objects.get_or_create(
        name="bench-pg",
        defaults={
            "host": db["HOST"] or "127.0.0.1",
            "port": int(db["PORT"] or 5432),
            "database": db["NAME"],
            "username": db["USER"] or "postgres",
            "password_encrypted": encrypt_secret(db.get("PASSWORD") or ""),
        },
    )
    source = PostgresSource(conn, "public.bench_people")
    ctx = CheckContext(now=timezone.now(), columns=[c.as_dict() for c in source.columns()])
    from psycopg import sql

    count_q = sql.SQL("SELECT count(*) FROM {}").format(source.qualified)
    repeats = 3 if scale.name in ("small", "full") else 1
    source.run_query(count_q)  # warm
    evidence: list[str] = []
    checks_t, count_t = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        source.run_query(count_q)
        t1 = time.perf_counter()
        results, evidence = run_pushdown(source, PG_CHECKS, ctx)
        checks_t.append(time.perf_counter() - t1)
        count_t.append(t1 - t0)
    checks, count = statistics.median(checks_t), statistics.median(count_t)
    errors = [r.get("exception_info") for r in results if r.get("status") == "error"]
    return Figure(
        name="audit.postgres_pushdown_10_checks",
        value=round(checks, 3),
        unit="s",
        target="<= 3x SELECT count(*)",
        passed=at_most(checks / count, 3) and not errors,
        baseline=round(count, 3),
        baseline_name="SELECT count(*) on the same table",
        ratio=round(checks / count, 2),
        group="audit",
        notes=f"{scale.pg_table_rows:,} rows, primary key on id; {len(evidence)} queries run"
        + (f"; errors: {errors[:2]}" if errors else ""),
        extra={"queries": [q[:300] for q in evidence]},
    )


def run(scale: Scale) -> list[Figure]:
    figures: list[Figure] = []
    parts = {"file": file_audit, "gx": gx_side_by_side, "pg": pg_pushdown}
    # BENCH_AUDIT_PARTS=pg (or file,gx) runs some parts only.
    wanted = [p for p in os.environ.get("BENCH_AUDIT_PARTS", "file,gx,pg").split(",") if p]
    names = {"file": "audit.file_full_run", "gx": "audit.checks_vs_great_expectations",
             "pg": "audit.postgres_pushdown_10_checks"}  # fmt: skip
    for key in wanted:
        name, part = names[key], parts[key]
        try:
            found = part(scale)
        except Exception as exc:  # noqa: BLE001 - report the part that broke, keep the others
            import traceback

            traceback.print_exc()
            note = f"error: {type(exc).__name__}: {exc}"[:400]
            found = Figure(name, None, "", "", None, group="audit", notes=note)
        figures += found if isinstance(found, list) else [found]
    return figures
