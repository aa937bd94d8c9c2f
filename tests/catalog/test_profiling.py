"""Bounded-memory profiling: exact distinct counts below the cap, an estimate above it,
heavy hitters found across chunks, and no raw values for PII columns."""

import csv
import json
import random

import numpy as np

from catalog import profiling
from catalog.sources import FileSource


def _skewed_rows(seed: int = 3) -> tuple[list[dict], dict[str, int]]:
    rng = random.Random(seed)
    truth: dict[str, int] = {}
    for k in range(10):  # ten heavy values, 3,000 down to 1,200 rows each
        truth[f"heavy{k}"] = 3000 - 200 * k
    for k in range(4000):  # and a long tail of 4,000 values seen 1–5 times
        truth[f"tail{k}"] = rng.randint(1, 5)
    values = [v for v, n in truth.items() for _ in range(n)]
    rng.shuffle(values)
    rows = [
        {"id": i, "email": f"person{i}@example.org", "segment": value}
        for i, value in enumerate(values)
    ]
    return rows, truth


def _profile(tmp_path, rows, **kwargs):
    path = tmp_path / "skewed.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return profiling.profile_source(FileSource(path, "csv"), **kwargs)


def test_past_the_cap_distinct_is_an_estimate_and_top_values_are_right(tmp_path, monkeypatch):
    monkeypatch.setattr(profiling, "DISTINCT_CAP", 2000)
    rows, truth = _skewed_rows()
    result = _profile(tmp_path, rows, chunksize=5000)
    n = len(rows)

    ids = result.columns["id"]
    assert ids["distinct_is_estimate"] is True and ids["distinct_capped"] is True
    assert abs(ids["distinct_count"] - n) / n < 0.03

    segment = result.columns["segment"]
    assert segment["distinct_is_estimate"] is True
    assert abs(segment["distinct_count"] - len(truth)) / len(truth) < 0.03
    expected = sorted(truth.items(), key=lambda kv: -kv[1])[: profiling.TOP_N]
    assert [(t["value"], t["count"]) for t in segment["top_values"]] == expected
    # more distinct values per chunk than are kept: the profile says counts may be trimmed
    assert segment["top_values_approximate"] is True

    # the near-unique email column is PII: counts only, no values anywhere in the profile
    email = result.columns["email"]
    assert email["values_withheld"] is True and "top_values" not in email
    assert "@example.org" not in json.dumps(result.columns)
    assert abs(email["distinct_count"] - n) / n < 0.03


def test_below_the_cap_counts_are_exact(tmp_path):
    rows = [{"id": i % 700, "segment": "ab"[i % 2]} for i in range(3000)]
    result = _profile(tmp_path, rows, chunksize=1000)
    assert result.columns["id"]["distinct_count"] == 700
    assert result.columns["id"]["distinct_is_estimate"] is False
    segment = result.columns["segment"]
    assert segment["top_values"] == [{"value": "a", "count": 1500}, {"value": "b", "count": 1500}]
    assert segment["top_values_approximate"] is False


def test_int_and_float_chunks_of_one_column_count_a_value_once(tmp_path):
    # the second chunk has a null, so pandas reads it as float64: 5 and 5.0 are one value
    rows = [{"n": i % 10} for i in range(20)] + [{"n": ""}] + [{"n": i % 10} for i in range(19)]
    result = _profile(tmp_path, rows, chunksize=20)
    assert result.columns["n"]["distinct_count"] == 10


def test_hyperloglog_is_within_a_few_percent_at_scale():
    rng = np.random.default_rng(11)
    for n in (150_000, 1_000_000):
        sketch = profiling._HyperLogLog()
        hashes = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        for part in np.array_split(hashes, 7):
            sketch.add(part)
            sketch.add(part[:100])  # repeats do not count twice
        assert abs(sketch.estimate() - n) / n < 0.03


def test_tied_top_values_come_in_value_order_whatever_the_chunking(tmp_path):
    values = ["d", "d", "b", "b", "c", "c", "a", "a", "e"]  # a, b, c, d twice; e once
    rows = [{"id": i, "segment": v} for i, v in enumerate(values)]
    for chunksize in (2, 4, 100):  # every chunk repeats its values: counts stay exact
        profile = _profile(tmp_path, rows, chunksize=chunksize).columns["segment"]
        assert [t["value"] for t in profile["top_values"]][:4] == ["a", "b", "c", "d"], chunksize
        assert [t["count"] for t in profile["top_values"]][:4] == [2, 2, 2, 2]
