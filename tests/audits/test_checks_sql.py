"""Pushed-down checks on a real PostgreSQL table give the same figures as the chunked pass."""

import datetime as dt
import os

import numpy as np
import pandas as pd
import pytest

from audits.checks.engine import run_on_chunks
from audits.checks.quality import CheckContext
from audits.checks.specs import validate_checks
from audits.checks.sql import run_pushdown
from catalog.models import Connection
from catalog.sources import PostgresSource
from tests.audits.test_checks_quality import NOW, frame
from tests.audits.test_fairness import generated

psycopg = pytest.importorskip("psycopg")
PG_DB = os.environ.get("CHARTER_AUDITS_SOURCE_DB", "charter_audits")


def _connect(dbname: str):
    return psycopg.connect(
        host="127.0.0.1",
        port=5432,
        user="postgres",
        dbname=dbname,
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture(scope="module")
def pg_table():
    try:
        admin = _connect("postgres")
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    with admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB]).fetchone():
            admin.execute(f'CREATE DATABASE "{PG_DB}"')
    df = frame(800, seed=5)
    df["ts"] = pd.date_range("2026-11-20", periods=len(df), freq="10min", tz="UTC")
    fair = generated(600)
    with _connect(PG_DB) as conn:
        conn.execute("DROP SCHEMA IF EXISTS audit_src CASCADE; CREATE SCHEMA audit_src")
        conn.execute(
            'CREATE TABLE audit_src."QualityData" (age float8, code text, id bigint, '
            "email text, ts timestamptz)"
        )
        with conn.cursor().copy('COPY audit_src."QualityData" FROM STDIN') as copy:
            for row in df.itertuples(index=False):
                code = None if pd.isna(row.code) else row.code
                copy.write_row(
                    [
                        None if pd.isna(row.age) else row.age,
                        code,
                        int(row.id),
                        row.email,
                        row.ts.to_pydatetime(),
                    ]
                )
        conn.execute("CREATE TABLE audit_src.fair (y int, yhat int, sex text, race text, w float8)")
        with conn.cursor().copy("COPY audit_src.fair FROM STDIN") as copy:
            for row in fair.itertuples(index=False):
                copy.write_row([int(row.y), int(row.yhat), row.sex, row.race, float(row.w)])
    connection = Connection(
        name="local",
        host="127.0.0.1",
        port=5432,
        database=PG_DB,
        username="postgres",
        schema="audit_src",
    )
    return {
        "quality": (PostgresSource(connection, "QualityData"), df),
        "fair": (PostgresSource(connection, "fair"), fair),
    }


def both(source, df, checks, **ctx_extra):
    specs = validate_checks(checks)
    ctx = CheckContext(now=NOW, columns=[c.as_dict() for c in source.columns()], **ctx_extra)
    pushed, evidence = run_pushdown(source, specs, ctx)
    local_ctx = CheckContext(now=NOW, columns=[{"name": c} for c in df.columns], **ctx_extra)
    local = run_on_chunks([df], specs, local_ctx)
    return pushed, local, evidence


COUNTED = (
    "element_count",
    "missing_count",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "success",
    "status",
)


def test_quality_checks_agree_with_the_chunked_pass(pg_table):
    source, df = pg_table["quality"]
    checks = [
        {"kind": "not_null", "column": "age"},
        {"kind": "range", "column": "age", "min_value": 0, "max_value": 120},
        {"kind": "range", "column": "age", "min_value": 0, "strict_min": True},
        {"kind": "allowed_values", "column": "code", "value_set": ["A1", "B2", "C3"]},
        {"kind": "regex", "column": "code", "regex": "[A-D][0-9]", "mode": "fullmatch"},
        {"kind": "regex", "column": "code", "regex": "[A-D][0-9]", "mode": "match"},
        {"kind": "regex", "column": "code", "regex": "[0-9]$", "mode": "search"},
        {"kind": "unique", "column": "id"},
        {"kind": "row_count", "min_value": 10},
        {"kind": "freshness", "column": "ts", "max_age": "3d"},
    ]
    pushed, local, evidence = both(source, df, checks)
    for p, q, spec in zip(pushed, local, checks, strict=True):
        for field in COUNTED:
            assert p[field] == pytest.approx(q[field]), (spec, field)
    assert pushed[7]["details"]["duplicate_values"] == local[7]["details"]["duplicate_values"]
    assert pushed[-1]["observed_value"] == pytest.approx(local[-1]["observed_value"])
    ages = df["age"].dropna()
    for example in pushed[1]["partial_unexpected_counts"]:  # grouped examples, true counts
        assert not 0 <= example["value"] <= 120
        assert example["count"] == int((ages == example["value"]).sum())
    # one aggregate scan (freshness's MAX folded in), the catalog asked whether an index proves
    # uniqueness, one GROUP BY since none does, examples for failures only
    assert evidence[0].startswith('SELECT COUNT(*) AS "total"')
    assert 'MAX("ts")' in evidence[0] and "FILTER" in evidence[0]
    assert not any(q.startswith("SELECT MAX") for q in evidence)
    assert sum("pg_index" in q for q in evidence) == 1
    assert sum("HAVING COUNT(*) > 1) AS dup" in q for q in evidence) == 1
    assert all("LIMIT 20" in q for q in evidence if "ORDER BY COUNT(*) DESC" in q)
    assert '"audit_src"."QualityData"' in evidence[0]
    table_scans = [q for q in evidence if '"audit_src"."QualityData"' in q]
    examined = ("range", "allowed_values", "regex", "unique")
    failed = sum(not r["success"] for r in pushed if r["kind"] in examined)
    assert len(table_scans) == 2 + failed  # aggregate + duplicates + one example query a failure


@pytest.fixture(scope="module")
def keyed_table(pg_table):
    """id is a primary key, code has a unique index, (a, b) a two-column one, dup has none."""
    with _connect(PG_DB) as conn:
        conn.execute(
            "CREATE TABLE audit_src.keyed (id bigint PRIMARY KEY, code text UNIQUE, a int, "
            "b int, dup int, UNIQUE (a, b))"
        )
        conn.execute(
            "INSERT INTO audit_src.keyed SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'k' || g END,"
            " g % 5, g, g % 50 FROM generate_series(1, 300) AS g"
        )
        conn.execute("CREATE INDEX ON audit_src.keyed (dup)")  # not unique: proves nothing
        conn.execute("CREATE UNIQUE INDEX ON audit_src.keyed (dup) WHERE dup > 1000")  # partial
        rows = conn.execute("SELECT id, code, a, b, dup FROM audit_src.keyed").fetchall()
    source = PostgresSource(pg_table["quality"][0].connection, "keyed")
    return source, pd.DataFrame(rows, columns=["id", "code", "a", "b", "dup"])


def test_a_unique_index_proves_uniqueness_without_a_scan(keyed_table):
    source, df = keyed_table
    checks = [{"kind": "unique", "column": c} for c in ("id", "code", "a", "dup")]
    pushed, local, evidence = both(source, df, checks)
    for p, q, spec in zip(pushed, local, checks, strict=True):
        for field in COUNTED:
            assert p[field] == pytest.approx(q[field]), (spec, field)
        assert p["details"]["duplicate_values"] == q["details"]["duplicate_values"], spec
    assert [p["success"] for p in pushed] == [True, True, False, False]
    assert pushed[0]["details"]["proved_by_index"] == "keyed_pkey"
    assert pushed[1]["details"]["proved_by_index"] == "keyed_code_key"
    assert pushed[2]["details"]["proved_by_index"] is None  # (a, b) is unique, a alone is not
    assert pushed[3]["details"]["proved_by_index"] is None  # partial and plain indexes
    grouped = [q for q in evidence if "GROUP BY" in q and "AS dup" in q]
    assert len(grouped) == 2
    assert not any('"id"' in q or '"code"' in q for q in grouped)


def test_audit_queries_outlast_the_source_timeout_but_not_a_lock(pg_table, settings):
    """A big scan may take longer than the 30 s source timeout; waiting on a lock may not."""
    from catalog.sources import SourceError, connect

    source, df = pg_table["quality"]
    columns = [c.as_dict() for c in source.columns()]
    settings.CHARTER_SOURCE_STATEMENT_TIMEOUT_MS = 50
    settings.CHARTER_AUDIT_STATEMENT_TIMEOUT_MS = 60_000
    ctx = CheckContext(now=NOW, columns=columns)
    slow = PostgresSource(source.connection, "slow_view")
    with _connect(PG_DB) as conn:
        conn.execute(
            "CREATE OR REPLACE VIEW audit_src.slow_view AS "
            'SELECT * FROM audit_src."QualityData" WHERE (SELECT pg_sleep(0.2)) IS NOT NULL'
        )
    pushed, _ = run_pushdown(slow, validate_checks([{"kind": "row_count", "min_value": 1}]), ctx)
    assert pushed[0]["element_count"] == len(df)  # 0.2 s > 50 ms: the audit timeout applied
    with connect(source.connection, timeout_ms=60_000) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
        assert conn.execute("SHOW lock_timeout").fetchone()[0] == "50ms"
    with _connect(PG_DB) as locker, locker.transaction():
        locker.execute('LOCK TABLE audit_src."QualityData" IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(SourceError, match="waited too long"):
            run_pushdown(source, validate_checks([{"kind": "row_count", "min_value": 1}]), ctx)


def test_missing_column_is_not_applicable(pg_table):
    source, df = pg_table["quality"]
    pushed, _, _ = both(source, df, [{"kind": "not_null", "column": "nope"}])
    assert pushed[0]["status"] == "not_applicable"


def test_fairness_pushdown_equals_in_memory(pg_table):
    source, df = pg_table["fair"]
    checks = [
        {
            "kind": "fairness",
            "label": "y",
            "prediction": "yhat",
            "protected": ["sex", "race"],
            "weight": "w",
        }
    ]
    pushed, local, evidence = both(source, df, checks)
    for name, value in local[0]["details"]["metrics"].items():
        assert pushed[0]["details"]["metrics"][name] == pytest.approx(value, abs=1e-9), name
    assert any("GROUP BY" in q for q in evidence)


def test_drift_pushdown_against_a_reference(pg_table):
    source, df = pg_table["quality"]
    edges = list(np.linspace(0, 130, 11))
    reference = {"type": "numeric", "edges": edges, "counts": [10] * 10, "version": 1}
    checks = [{"kind": "distribution_drift", "column": "age"}]
    pushed, local, _ = both(source, df, checks, references={0: reference})
    assert pushed[0]["details"]["current_counts"] == local[0]["details"]["current_counts"]
    assert pushed[0]["observed_value"] == pytest.approx(local[0]["observed_value"])
    categorical = {"type": "categorical", "counts": {"A1": 100, "B2": 100}, "version": 1}
    pushed, local, _ = both(
        source, df, [{"kind": "distribution_drift", "column": "code"}], references={0: categorical}
    )
    assert pushed[0]["observed_value"] == pytest.approx(local[0]["observed_value"])
    assert pushed[0]["details"]["method"] == "chi_square"


def test_now_is_utc():
    assert NOW.tzinfo is dt.UTC


def test_pii_scan_and_retention_pushdown(pg_table):
    source, df = pg_table["quality"]
    facts = {"retention_days": 3, "legal_basis": "", "purpose": "", "pii_columns": ["email"]}
    checks = [
        {"kind": "pii_scan", "columns": ["email", "code"]},
        {"kind": "retention", "date_column": "ts"},
    ]
    pushed, local, _ = both(source, df, checks, declared_pii={"email": ""}, facts=facts)
    assert pushed[0]["details"]["columns"] == local[0]["details"]["columns"]
    assert pushed[0]["details"]["columns"][0]["detected"] == "email"
    assert "@" not in str(pushed[0])
    assert pushed[1]["unexpected_count"] == local[1]["unexpected_count"]
    assert pushed[1]["details"]["findings"] == local[1]["details"]["findings"]


@pytest.fixture(scope="module")
def ranges_table(pg_table):
    """n numeric NOT NULL, f float8 with a NaN and nulls, i int with nulls."""
    with _connect(PG_DB) as conn:
        conn.execute(
            "CREATE TABLE audit_src.ranges AS SELECT g::numeric / 4 AS n, "
            "CASE WHEN g = 77 THEN 'NaN'::float8 WHEN g % 9 = 0 THEN NULL ELSE g * 1.5 END AS f, "
            "CASE WHEN g % 11 = 0 THEN NULL ELSE g % 40 END AS i FROM generate_series(1, 400) g"
        )
        conn.execute("ALTER TABLE audit_src.ranges ALTER COLUMN n SET NOT NULL")
        rows = conn.execute("SELECT n::float8, f, i FROM audit_src.ranges").fetchall()
    source = PostgresSource(pg_table["quality"][0].connection, "ranges")
    return source, pd.DataFrame(rows, columns=["n", "f", "i"]).astype({"i": "float64"})


def test_numeric_ranges_are_proved_by_min_and_max(ranges_table):
    """A numeric range whose MIN and MAX are inside its bounds is proved without per-row
    comparisons; one with values out counts them in its examples query (one scan for both).
    Either way the figures equal the chunked pass's. A NOT NULL column gets no null count,
    and an expression two checks share is computed once."""
    source, df = ranges_table
    checks = [
        {"kind": "range", "column": "n", "min_value": 0, "max_value": 100},  # proved
        {"kind": "range", "column": "n", "min_value": 0.25, "strict_min": True},  # edge: fails
        {"kind": "range", "column": "i", "min_value": 0, "max_value": 39},  # proved
        {"kind": "range", "column": "i", "max_value": 30, "mostly": 0.5},  # out, but passes
        {"kind": "range", "column": "i", "min_value": 5, "max_value": 30},  # fails
        {"kind": "range", "column": "f", "min_value": 0, "max_value": 1e6},  # NaN: counted
        {"kind": "not_null", "column": "i"},
    ]
    pushed, local, evidence = both(source, df, checks)
    for p, q, spec in zip(pushed[:5], local[:5], checks, strict=False):
        for field in COUNTED:
            assert p[field] == pytest.approx(q[field]), (spec, field)
        for example in p["partial_unexpected_counts"]:  # the most frequent, true counts
            assert example["count"] == int((df[spec["column"]] == example["value"]).sum())
        assert bool(p["partial_unexpected_counts"]) == (not p["success"]), spec
    # pandas reads PostgreSQL's NaN as a null; PostgreSQL sorts it above 1e6: one value out
    assert (pushed[5]["unexpected_count"], pushed[5]["missing_count"]) == (1, 400 // 9)
    assert [p["success"] for p in pushed] == [True, False, True, True, False, False, False]
    aggregate = evidence[0]
    assert '"n" IS NULL' not in aggregate  # NOT NULL column
    assert aggregate.count('COUNT(*) FILTER (WHERE "i" IS NULL)') == 1  # shared by 4 checks
    assert aggregate.count('MIN("i")') == 1
    assert '" <' not in aggregate and '" >' not in aggregate  # no per-row bound comparison
    counted = [q for q in evidence if "OVER ()" in q]
    assert len(counted) == 4  # the checks with values out of range: n strict, i twice, f NaN
