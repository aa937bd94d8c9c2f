"""Quality checks: counts held against pandas and, where the semantics agree, Great Expectations."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from audits.checks.engine import run_on_chunks
from audits.checks.quality import CheckContext
from audits.checks.results import suite_statistics
from audits.checks.specs import CheckSpecError, parse_age, validate_checks

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def frame(n: int = 1000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(-5, 130, n).astype(float)
    age[rng.random(n) < 0.1] = np.nan
    code = rng.choice(["A1", "B2", "C3", "bad", "D44"], n).astype(object)
    code[rng.random(n) < 0.05] = None
    ident = rng.integers(0, n * 2, n)
    return pd.DataFrame(
        {
            "age": age,
            "code": code,
            "id": ident,
            "email": [f"user{i % 50}@example.com" for i in range(n)],
        }
    )


def run(df: pd.DataFrame, checks: list[dict], chunk: int = 137, **ctx) -> list[dict]:
    specs = validate_checks(checks)
    columns = [{"name": c, "type": str(t)} for c, t in df.dtypes.items()]
    context = CheckContext(now=NOW, columns=columns, **ctx)
    chunks = (df.iloc[i : i + chunk] for i in range(0, len(df), chunk))
    return run_on_chunks(chunks, specs, context)


# --- against pandas ---------------------------------------------------------------------------


def test_not_null_counts_match_pandas():
    df = frame()
    [r] = run(df, [{"kind": "not_null", "column": "age"}])
    nulls = int(df["age"].isna().sum())
    assert r["element_count"] == len(df)
    assert r["unexpected_count"] == r["missing_count"] == nulls
    assert r["unexpected_percent_total"] == pytest.approx(nulls / len(df) * 100)
    assert r["success"] is False and r["status"] == "fail"


def test_not_null_mostly_passes_when_share_is_enough():
    df = frame()
    share = df["age"].notna().mean()
    [ok, bad] = run(
        df,
        [
            {"kind": "not_null", "column": "age", "mostly": share - 0.001},
            {"kind": "not_null", "column": "age", "mostly": share + 0.001},
        ],
    )
    assert ok["success"] and not bad["success"]


def test_range_counts_nulls_apart_and_uses_non_null_denominator():
    df = frame()
    [r] = run(df, [{"kind": "range", "column": "age", "min_value": 0, "max_value": 120}])
    values = df["age"].dropna()
    bad = int(((values < 0) | (values > 120)).sum())
    assert r["unexpected_count"] == bad
    assert r["missing_count"] == int(df["age"].isna().sum())
    assert r["unexpected_percent"] == pytest.approx(bad / len(values) * 100)
    assert r["unexpected_percent_total"] == pytest.approx(bad / len(df) * 100)
    assert len(r["partial_unexpected_list"]) == min(20, bad)
    expected_first = values[(values < 0) | (values > 120)].iloc[:20].tolist()
    assert r["partial_unexpected_list"] == expected_first


def test_range_strict_and_single_bounds():
    df = pd.DataFrame({"x": [0, 1, 5, 10, None]})
    [strict, lower_only, upper_only] = run(
        df,
        [
            {
                "kind": "range",
                "column": "x",
                "min_value": 0,
                "max_value": 10,
                "strict_min": True,
                "strict_max": True,
            },
            {"kind": "range", "column": "x", "min_value": 1},
            {"kind": "range", "column": "x", "max_value": 5},
        ],
    )
    assert strict["unexpected_count"] == 2
    assert lower_only["unexpected_count"] == 1
    assert upper_only["unexpected_count"] == 1


def test_partial_counts_cover_all_rows_of_the_examples():
    df = pd.DataFrame({"x": [200] * 30 + [1] * 10 + [300] * 5})
    [r] = run(df, [{"kind": "range", "column": "x", "max_value": 100}], chunk=7)
    assert r["partial_unexpected_list"] == [200] * 20
    assert r["partial_unexpected_counts"] == [{"value": 200, "count": 30}]
    assert r["unexpected_count"] == 35


def test_allowed_values_and_mostly():
    df = frame()
    allowed = ["A1", "B2", "C3"]
    [r, lax] = run(
        df,
        [
            {"kind": "allowed_values", "column": "code", "value_set": allowed},
            {"kind": "allowed_values", "column": "code", "value_set": allowed, "mostly": 0.5},
        ],
    )
    values = df["code"].dropna()
    assert r["unexpected_count"] == int((~values.isin(allowed)).sum())
    assert not r["success"] and lax["success"]


@pytest.mark.parametrize(
    ("mode", "method"), [("fullmatch", "fullmatch"), ("match", "match"), ("search", "contains")]
)
def test_regex_modes_match_pandas(mode, method):
    df = frame()
    [r] = run(df, [{"kind": "regex", "column": "code", "regex": "[A-D][0-9]", "mode": mode}])
    values = df["code"].dropna().astype(str)
    ok = getattr(values.str, method)("[A-D][0-9]")
    assert r["unexpected_count"] == int((~ok).sum())
    assert r["details"]["mode"] == mode


def test_unique_reports_duplicate_rows_and_values():
    df = frame()
    [r] = run(df, [{"kind": "unique", "column": "id"}])
    counts = df["id"].value_counts()
    assert r["details"]["duplicate_values"] == int((counts > 1).sum())
    assert r["details"]["duplicate_rows"] == int(counts[counts > 1].sum())
    assert r["unexpected_count"] == int(df["id"].duplicated(keep=False).sum())


def test_pii_examples_are_masked():
    df = frame(200)
    mask = lambda v: "x" * len(str(v))  # noqa: E731
    [r] = run(df, [{"kind": "unique", "column": "email"}], masks={"email": mask})
    assert r["masked"] is True
    assert r["partial_unexpected_list"]
    assert all("@" not in str(v) for v in r["partial_unexpected_list"])
    assert all("@" not in str(c["value"]) for c in r["partial_unexpected_counts"])


def test_row_count_bounds():
    df = frame(100)
    [low, ok] = run(
        df,
        [
            {"kind": "row_count", "min_value": 101},
            {"kind": "row_count", "min_value": 10, "max_value": 100},
        ],
    )
    assert low["observed_value"] == 100 and not low["success"]
    assert ok["success"]


def test_freshness_in_utc():
    df = pd.DataFrame({"ts": ["2026-11-27T06:00:00", "2026-11-26T00:00:00", None]})
    [fresh, stale] = run(
        df,
        [
            {"kind": "freshness", "column": "ts", "max_age": "1d"},
            {"kind": "freshness", "column": "ts", "max_age": "5h"},
        ],
    )
    assert fresh["success"] and fresh["observed_value"] == 6 * 3600
    assert not stale["success"]
    assert parse_age("6h") == 21600 and parse_age("1d") == 86400


def test_schema_drift_kinds_and_actions():
    df = pd.DataFrame({"b": [1], "a": ["x"], "c": [1.0]})
    ref = [
        {"name": "a", "type": str(df["a"].dtype)},
        {"name": "b", "type": "float64"},
        {"name": "gone", "type": "int64"},
    ]
    [r] = run(df, [{"kind": "schema_drift"}], reference_schema=ref)
    d = r["details"]
    assert d["added"] == ["c"] and d["removed"] == ["gone"]
    assert d["retyped"] == [{"column": "b", "was": "float64", "now": "int64"}]
    assert d["reordered"] == ["b", "a"]
    assert r["status"] == "fail"
    [soft] = run(
        df, [{"kind": "schema_drift", "removed": "ignore", "retyped": "warn"}], reference_schema=ref
    )
    assert soft["status"] == "warn" and not soft["success"]


def test_missing_column_is_not_applicable_not_a_crash():
    [r] = run(frame(10), [{"kind": "not_null", "column": "nope"}])
    assert r["status"] == "not_applicable" and "nope" in r["details"]["reason"]


def test_severity_warning_turns_a_failure_into_warn():
    [r] = run(frame(), [{"kind": "not_null", "column": "age", "severity": "warning"}])
    assert r["status"] == "warn" and r["success"] is False


def test_suite_statistics():
    results = run(
        frame(),
        [
            {"kind": "not_null", "column": "age"},
            {"kind": "not_null", "column": "id"},
            {"kind": "not_null", "column": "nope"},
        ],
    )
    stats = suite_statistics(results)
    assert stats["evaluated"] == 2 and stats["successful"] == 1
    assert stats["success_percent"] == 50.0


def test_chunking_does_not_change_results():
    df = frame()
    checks = [
        {"kind": "range", "column": "age", "min_value": 0, "max_value": 120},
        {"kind": "unique", "column": "id"},
        {"kind": "not_null", "column": "code"},
    ]
    assert run(df, checks, chunk=10_000) == run(df, checks, chunk=33)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "nope"}, "unknown kind"),
        ({"kind": "range", "column": "x"}, "give min_value"),
        ({"kind": "regex", "column": "x", "regex": "("}, "does not compile"),
        ({"kind": "not_null", "column": "x", "mostly": 2}, "mostly"),
        ({"kind": "freshness", "column": "x", "max_age": "soon"}, "not an age"),
        ({"kind": "not_null", "column": "x", "bogus": 1}, "unknown parameter"),
        ({"kind": "not_null"}, "column is required"),
    ],
)
def test_bad_specs_are_refused_with_a_message(raw, message):
    with pytest.raises(CheckSpecError) as err:
        validate_checks([raw])
    assert message in str(err.value)
