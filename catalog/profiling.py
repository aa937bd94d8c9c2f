"""All of the catalog's pandas code: profile a source in bounded memory, one pass over chunks.

Imported only from `catalog.tasks` (and the services the tasks call lazily), never on the web
path: pandas is heavy to import. The result is plain JSON-safe data; no raw values of PII
columns survive into it (top values, min and max are dropped for them).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from catalog.pii import MAX_SAMPLE, suggest_pii

TOP_N = 10
# Beyond these many distinct values per column we stop counting exactly (memory stays bounded).
DISTINCT_CAP = 100_000
CHUNKSIZE = 50_000


@dataclass
class _ColumnStats:
    name: str
    kind: str  # "numeric", "datetime", "boolean", "text"
    count: int = 0
    nulls: int = 0
    distinct: set = field(default_factory=set)
    distinct_capped: bool = False
    minimum: Any = None
    maximum: Any = None
    total: float = 0.0
    numeric_count: int = 0
    min_length: int | None = None
    max_length: int | None = None
    counter: Counter = field(default_factory=Counter)
    pii_sample: list = field(default_factory=list)

    def add(self, series: pd.Series) -> None:
        self.count += len(series)
        non_null = series.dropna()
        self.nulls += len(series) - len(non_null)
        if non_null.empty:
            return
        self._add_distinct(non_null)
        if self.kind == "numeric":
            values = pd.to_numeric(non_null, errors="coerce").dropna()
            if not values.empty:
                self._extend(values.min(), values.max())
                self.total += float(values.sum())
                self.numeric_count += len(values)
        elif self.kind == "datetime":
            self._extend(non_null.min(), non_null.max())
        elif self.kind == "text":
            lengths = non_null.astype(str).str.len()
            low, high = int(lengths.min()), int(lengths.max())
            self.min_length = low if self.min_length is None else min(self.min_length, low)
            self.max_length = high if self.max_length is None else max(self.max_length, high)
        if self.kind in ("text", "boolean") or non_null.nunique() <= 50:
            self.counter.update(non_null.astype(str).value_counts().to_dict())
            if len(self.counter) > DISTINCT_CAP:
                self.counter = Counter(dict(self.counter.most_common(DISTINCT_CAP // 10)))
        if len(self.pii_sample) < MAX_SAMPLE and self.kind in ("text", "numeric"):
            known = set(self.pii_sample)
            for value in non_null.unique()[: MAX_SAMPLE * 2]:
                python_value = value.item() if hasattr(value, "item") else value
                if python_value not in known:
                    known.add(python_value)
                    self.pii_sample.append(python_value)
                    if len(self.pii_sample) >= MAX_SAMPLE:
                        break

    def _add_distinct(self, non_null: pd.Series) -> None:
        if self.distinct_capped:
            return
        self.distinct.update(non_null.unique().tolist())
        if len(self.distinct) > DISTINCT_CAP:
            self.distinct_capped = True
            self.distinct = set()

    def _extend(self, low: Any, high: Any) -> None:
        self.minimum = low if self.minimum is None else min(self.minimum, low)
        self.maximum = high if self.maximum is None else max(self.maximum, high)

    def result(self, *, pii: bool) -> dict[str, Any]:
        """The column's profile; PII columns keep only counts, never values."""
        profile: dict[str, Any] = {
            "kind": self.kind,
            "count": self.count,
            "null_count": self.nulls,
            "null_percent": round(self.nulls / self.count * 100, 2) if self.count else 0.0,
            "distinct_count": None if self.distinct_capped else len(self.distinct),
            "distinct_capped": self.distinct_capped,
        }
        if self.min_length is not None:
            profile["min_length"], profile["max_length"] = self.min_length, self.max_length
        if pii:
            profile["values_withheld"] = True
            return profile
        if self.minimum is not None:
            profile["min"], profile["max"] = _json_value(self.minimum), _json_value(self.maximum)
        if self.kind == "numeric" and self.numeric_count:
            profile["mean"] = _json_value(self.total / self.numeric_count)
        if self.counter and self.counter.most_common(1)[0][1] > 1:  # all-unique: no "top"
            profile["top_values"] = [
                {"value": _json_value(value[:200]), "count": int(count)}
                for value, count in self.counter.most_common(TOP_N)
            ]
        return profile


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL's jsonb cannot hold NUL
        return value.replace("\x00", "\ufffd")
    return value


def _estimate_rows(source: Any, size_bytes: int | None) -> int:
    """A row-count guess for progress only: exact for Parquet, from bytes per row for CSV."""
    if getattr(source, "fmt", "") == "parquet":
        return int(source.row_count())
    if not size_bytes:
        return 0
    head = source.head(1000)
    if head.empty:
        return 0
    sample_bytes = len(head.to_csv(index=False).encode())
    return max(1, int(size_bytes * len(head) / max(sample_bytes, 1)))


def _kind_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "text"


@dataclass
class ProfileResult:
    """A source's schema and profile, JSON-safe, plus its content fingerprint."""

    schema: list[dict[str, Any]]
    row_count: int
    size_bytes: int | None
    fingerprint: str
    columns: dict[str, dict[str, Any]]
    pii: dict[str, dict[str, Any]]


def profile_source(
    source: Any,
    *,
    declared_pii: set[str] | frozenset[str] = frozenset(),
    progress: Callable[[int], None] | None = None,
    chunksize: int = CHUNKSIZE,
) -> ProfileResult:
    """Profile `source` (a catalog.sources Source) in one chunked pass.

    1. Fingerprint first (sha256, size, row count), so progress can be reported per row.
    2. Read chunks, updating per-column stats and a distinct sample of at most 1,000 values.
    3. Suggest a PII kind per column from its name and sample; drop values of PII columns.
    """
    report = progress or (lambda _pct: None)
    schema = [
        {"name": c.name, "type": c.type, "nullable": bool(c.nullable)} for c in source.columns()
    ]
    fingerprint = source.fingerprint()
    report(10)
    expected = fingerprint.row_count or _estimate_rows(source, fingerprint.size_bytes)
    stats: dict[str, _ColumnStats] = {}
    rows = 0
    for chunk in source.iter_chunks(chunksize=chunksize):
        for name in chunk.columns:
            column = stats.get(name)
            if column is None:
                column = stats[name] = _ColumnStats(name=str(name), kind=_kind_of(chunk[name]))
            column.add(chunk[name])
        rows += len(chunk)
        if expected:
            report(10 + int(85 * min(rows, expected) / expected))  # at most 95 until done
    pii: dict[str, dict[str, Any]] = {}
    profiles: dict[str, dict[str, Any]] = {}
    for entry in schema:
        name = entry["name"]
        column = stats.get(name) or _ColumnStats(name=name, kind="text")
        finding = suggest_pii(name, column.pii_sample)
        if finding is not None:
            pii[name] = finding.as_dict()
        withheld = name in declared_pii or finding is not None
        profiles[name] = column.result(pii=withheld)
    report(100)
    return ProfileResult(
        schema=schema,
        row_count=rows if rows or not fingerprint.row_count else int(fingerprint.row_count),
        size_bytes=fingerprint.size_bytes,
        fingerprint=fingerprint.sha256,
        columns=profiles,
        pii=pii,
    )
