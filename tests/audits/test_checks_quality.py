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


def _expected_unique(values: pd.Series) -> tuple[int, int, list[dict]]:
    """duplicate rows, duplicate values and the 20 most duplicated (ties by value as text)."""
    counts = values.dropna().value_counts()
    dup = counts[counts > 1]
    top = sorted(dup.items(), key=lambda kv: (-kv[1], str(kv[0])))[:20]
    return int(dup.sum()), int(len(dup)), [{"value": v, "count": int(n)} for v, n in top]


@pytest.mark.parametrize("merge_min", [50, 500_000])
def test_unique_integer_path_equals_value_counts(monkeypatch, merge_min):
    # many duplicated values with tied counts, merged in many runs (merge_min=50) or at the end
    from audits.checks import quality

    monkeypatch.setattr(quality, "UNIQUE_MERGE_MIN", merge_min)
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"id": rng.integers(-300, 2_000, 5_000)})
    [r] = run(df, [{"kind": "unique", "column": "id"}], chunk=97)
    rows, values, top = _expected_unique(df["id"])
    assert (r["details"]["duplicate_rows"], r["details"]["duplicate_values"]) == (rows, values)
    assert r["unexpected_count"] == rows and r["observed_value"] == values
    assert r["partial_unexpected_counts"] == top
    assert all(type(c["value"]) is int for c in r["partial_unexpected_counts"])


def test_unique_moves_to_pandas_when_a_chunk_is_not_integers():
    # an id column whose later chunks hold nulls are float chunks: counts carry over
    ids = [1, 2, 3, 2, 5, 6, 7, 1, None, 2, 9, 7]
    df = pd.DataFrame({"id": ids})
    [r] = run(df, [{"kind": "unique", "column": "id"}], chunk=4)
    rows, values, top = _expected_unique(df["id"])
    assert (r["details"]["duplicate_rows"], r["details"]["duplicate_values"]) == (rows, values)
    assert r["missing_count"] == 1
    assert r["partial_unexpected_counts"] == top
    whole = run(df, [{"kind": "unique", "column": "id"}], chunk=100)  # one float chunk
    assert r == whole[0]


def test_unique_of_unique_integers_passes():
    df = pd.DataFrame({"id": np.arange(10_000, dtype=np.int64)})
    [r] = run(df, [{"kind": "unique", "column": "id"}], chunk=999)
    assert r["success"] and r["unexpected_count"] == 0 and r["partial_unexpected_counts"] == []


@pytest.mark.parametrize(
    "values",
    [
        ["2025-10-21T02:18:00", None, "2024-02-29T23:59:59", "1500-01-01T00:00:00"],
        ["2025-10-21 02:18:00", "2025-01-01 00:00:00", None],
        ["2025-10-21", "2024-02-29", None, "9999-12-31"],
        ["2025-10-21T02:18:00", "2023-02-29T00:00:00"],  # no 29 Feb 2023: pandas' NaT
        ["2025-10-21T24:00:00", "2025-10-21T23:59:60", "2025-13-01T00:00:00"],
        ["0000-01-01T00:00:00", "2025-10-21T02:18:00"],
        ["2025-10-21T02:18:00", "2025-10-21 02:18:00"],  # two shapes: pandas decides
        ["2025-10-21", "2025-10-21T02:18:00"],
        ["2025-10-21T02:18:00Z", "2025-10-21T02:18:00+02:00"],
        ["21/10/2025", "not a date", None],
        ["٢٠٢٥-١٠-٢١", "2025-10-21"],  # Arabic-Indic digits are not \d for RE2's ASCII class
        [None, None],
    ],
)
def test_utc_stamps_equal_pandas_to_datetime(values):
    from audits.checks.quality import utc_stamps

    series = pd.Series(values, dtype="str", index=range(40, 40 + len(values)))
    expected = pd.to_datetime(series, errors="coerce", utc=True)
    pd.testing.assert_series_equal(utc_stamps(series), expected)
    as_object = series.astype(object)  # not Arrow text: pandas' own parse
    pd.testing.assert_series_equal(
        utc_stamps(as_object), pd.to_datetime(as_object, errors="coerce", utc=True)
    )


def test_freshness_and_retention_read_iso_text_as_before():
    stamps = pd.date_range("2020-01-01", periods=3_000, freq="17h")
    text = pd.Series(stamps.strftime("%Y-%m-%dT%H:%M:%S"), dtype="str")
    text[::97] = None
    df = pd.DataFrame({"seen": text})
    [fresh] = run(df, [{"kind": "freshness", "column": "seen", "max_age": "30d"}], chunk=250)
    parsed = pd.to_datetime(text, errors="coerce", utc=True)
    assert fresh["missing_count"] == int(parsed.isna().sum())
    assert fresh["details"]["latest"] == parsed.max().isoformat()


def test_iso_shape_read_from_the_bytes_says_what_re2_says():
    """`_iso_shaped` (a byte matrix compared with the pattern) decides exactly as RE2 over the
    `_ISO_SHAPES` pattern that the first value's length and separator pick: fuzzed values
    with replaced, inserted and deleted characters, in both Arrow string types, sliced and
    split into chunks."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from audits.checks.quality import _ISO_SHAPES, _iso_shaped

    def re2(present):
        lengths = pc.min_max(pc.utf8_length(present))
        low, high = lengths["min"].as_py(), lengths["max"].as_py()
        first = present[0].as_py()
        pattern = _ISO_SHAPES.get((low, first[10:11])) if low == high else None
        return pattern is not None and pc.all(pc.match_substring_regex(present, pattern)).as_py()

    rng = np.random.default_rng(3)
    shapes = ["2025-10-21T02:18:00", "2025-10-21 02:18:00", "2025-10-21", "2024-02-29T23:59:59"]
    alphabet = list("0123456789-: TZ/a٢é\n")
    agreed = {True: 0, False: 0}
    for trial in range(3_000):
        values = []
        for _ in range(int(rng.integers(1, 6))):
            value = list(shapes[int(rng.integers(0, len(shapes)))])
            for _ in range(int(rng.integers(0, 3)) if trial % 2 else 0):
                where = int(rng.integers(0, len(value) + 1))
                char = alphabet[int(rng.integers(0, len(alphabet)))]
                action = int(rng.integers(0, 3))
                if action == 0 and where < len(value):
                    value[where] = char
                elif action == 1:
                    value.insert(where, char)
                elif where < len(value):
                    del value[where]
            values.append("".join(value))
        for kind in (pa.large_string(), pa.string()):
            array = pa.array(values, type=kind)
            if trial % 3 == 0 and len(array) > 1:
                array = array.slice(1)
            half = len(array) // 2
            chunked = pa.chunked_array([array[:half], array[half:]] if trial % 5 else [array])
            expected = re2(chunked)
            assert _iso_shaped(chunked) is expected, values
            agreed[expected] += 1
    assert min(agreed.values()) > 500


@pytest.mark.parametrize("dtype", ["float64", "int64", "uint8", "float32"])
def test_range_on_numpy_numbers_counts_as_the_pandas_way(dtype, monkeypatch):
    """A plain numpy number chunk is checked in numpy: the same result (counts, examples and
    their counts, observed min and max with their types) as the pandas way, for each kind of
    bound, strict or not, with nulls and chunks that have no value at all."""
    from audits.checks.quality import RangeCheck

    rng = np.random.default_rng(9)
    chunks = []
    for size in (500, 300, 0, 40, 700):
        values = rng.integers(0, 120, size).astype(dtype)
        if dtype.startswith("float"):
            values[rng.random(size) < 0.1] = np.nan
            if size == 40:
                values[:] = np.nan
        chunks.append(pd.DataFrame({"x": values}))
    specs = [
        {"kind": "range", "column": "x", "min_value": 18, "max_value": 90},
        {"kind": "range", "column": "x", "min_value": 18, "strict_min": True},
        {"kind": "range", "column": "x", "max_value": 90.5, "strict_max": True, "mostly": 0.5},
        {"kind": "range", "column": "x", "min_value": -1, "max_value": 1_000},
    ]
    ctx = CheckContext(now=NOW, columns=[{"name": "x", "type": dtype}])
    for spec in specs:
        fast = run_on_chunks(chunks, [spec], ctx)
        monkeypatch.setattr(
            RangeCheck, "_update_numbers", lambda self, s: self._update_any(pd.DataFrame({"x": s}))
        )
        slow = run_on_chunks(chunks, [spec], ctx)
        monkeypatch.undo()
        assert fast == slow
        for key in ("observed_min", "observed_max"):
            assert type(fast[0]["details"][key]) is type(slow[0]["details"][key])
