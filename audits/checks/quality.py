"""Quality checks over pandas chunks: one accumulator per check, combined across chunks.

Each accumulator sees every chunk once (`update`) and then builds its result (`finish`), so
all checks of a run share one pass over a file and memory stays bounded by the chunk size
(uniqueness keeps one count per distinct value; drift keeps a fixed-size sample).
Semantics follow SPEC §1 (GX's): nulls are never "unexpected" in value checks.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from audits.checks.results import (
    PARTIAL_LIMIT,
    Masker,
    error_result,
    make_result,
    not_applicable_result,
)
from audits.checks.specs import parse_age

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class CheckContext:
    """What checks need besides the rows: time, the schemas, masks for PII columns, baselines."""

    now: dt.datetime
    columns: list[dict[str, Any]] = field(default_factory=list)
    reference_schema: list[dict[str, Any]] | None = None
    current_schema: list[dict[str, Any]] | None = None  # the bound version's; else `columns`
    masks: dict[str, Masker] = field(default_factory=dict)
    references: dict[int, dict[str, Any]] = field(default_factory=dict)
    declared_pii: dict[str, str] = field(default_factory=dict)  # column -> declared PII kind
    facts: dict[str, Any] = field(default_factory=dict)  # retention days, legal basis, purpose...


class Accumulator:
    """Base: the columns a check reads, `update` per chunk, `finish` into one result."""

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        self.spec = spec
        self.ctx = ctx
        self.index = index

    @property
    def columns(self) -> list[str]:
        column = self.spec.get("column")
        return [column] if column else []

    def update(self, chunk: pd.DataFrame) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def finish(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def mask(self) -> Masker | None:
        return self.ctx.masks.get(self.spec.get("column") or "")


class MapAccumulator(Accumulator):
    """A per-value check: counts rows, nulls and unexpected non-null values, keeps examples."""

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        super().__init__(spec, ctx, index)
        self.total = 0
        self.nulls = 0
        self.unexpected = 0
        self.examples: list[Any] = []
        self.example_counts: dict[Any, int] = {}

    def unexpected_mask(self, values: pd.Series) -> pd.Series:  # pragma: no cover
        raise NotImplementedError

    def update(self, chunk: pd.DataFrame) -> None:
        series = chunk[self.spec["column"]]
        self.total += len(series)
        present = series.notna()
        self.nulls += int((~present).sum())
        values = series[present]
        if values.empty:
            return
        bad = values[self.unexpected_mask(values).to_numpy(dtype=bool)]
        self.unexpected += len(bad)
        self._keep_examples(bad)

    def _keep_examples(self, bad: pd.Series) -> None:
        if bad.empty:
            return
        room = PARTIAL_LIMIT - len(self.examples)
        if room > 0:
            for value in bad.iloc[:room].tolist():
                self.examples.append(value)
                self.example_counts.setdefault(value, 0)
        if self.example_counts:
            # count only the kept examples: value_counts of every bad value is slow on
            # near-unique columns (one Python object per distinct value per chunk)
            counts = bad[bad.isin(list(self.example_counts))].value_counts()
            for value in self.example_counts:
                self.example_counts[value] += int(counts.get(value, 0))

    def success(self) -> bool:
        non_null = self.total - self.nulls
        if non_null == 0:
            return True
        return (non_null - self.unexpected) / non_null >= self.spec.get("mostly", 1.0)

    def details(self) -> dict[str, Any]:
        return {"mostly": self.spec.get("mostly", 1.0)}

    def finish(self) -> dict[str, Any]:
        return make_result(
            spec=self.spec,
            success=self.success(),
            element_count=self.total,
            missing_count=self.nulls,
            unexpected_count=self.unexpected,
            partial=self.examples,
            partial_counts=self.example_counts,
            mask=self.mask,
            details=self.details(),
        )


class NotNullCheck(MapAccumulator):
    """Completeness: the nulls are the unexpected rows; `mostly` applies to non_null / all."""

    def update(self, chunk: pd.DataFrame) -> None:
        series = chunk[self.spec["column"]]
        self.total += len(series)
        self.nulls += int(series.isna().sum())

    def success(self) -> bool:
        if self.total == 0:
            return True
        return (self.total - self.nulls) / self.total >= self.spec.get("mostly", 1.0)

    def finish(self) -> dict[str, Any]:
        result = make_result(
            spec=self.spec,
            success=self.success(),
            element_count=self.total,
            missing_count=self.nulls,
            unexpected_count=self.nulls,
            partial=[None] * min(self.nulls, PARTIAL_LIMIT),
            details={
                "mostly": self.spec.get("mostly", 1.0),
                "rule": "non_null / all rows >= mostly",
            },
        )
        # For not-null every row is in scope, so both percentages are over all rows (GX does this).
        result["unexpected_percent"] = result["unexpected_percent_total"]
        result["partial_unexpected_counts"] = (
            [{"value": None, "count": self.nulls}] if self.nulls else []
        )
        return result


def _bound_cast(value: Any):
    import pandas as pd

    if isinstance(value, str):
        stamp = pd.Timestamp(value)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return value


class RangeCheck(MapAccumulator):
    """min_value <= x <= max_value (strict bounds optional, either bound may be absent)."""

    def unexpected_mask(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        lo, hi = self.spec.get("min_value"), self.spec.get("max_value")
        dated = isinstance(lo, str) or isinstance(hi, str)
        if dated:
            numbers = pd.to_datetime(values, errors="coerce", utc=True)
        else:
            numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna()  # a value that is not a number (or date) cannot be in range
        if lo is not None:
            lo = _bound_cast(lo)
            bad |= (numbers <= lo) if self.spec.get("strict_min") else (numbers < lo)
        if hi is not None:
            hi = _bound_cast(hi)
            bad |= (numbers >= hi) if self.spec.get("strict_max") else (numbers > hi)
        return bad.fillna(True)

    def update(self, chunk: pd.DataFrame) -> None:
        import numpy as np

        series = chunk[self.spec["column"]]
        lo, hi = self.spec.get("min_value"), self.spec.get("max_value")
        dtype = series.dtype
        if (
            isinstance(dtype, np.dtype)
            and dtype.kind in "iuf"
            and not isinstance(lo, str)
            and not isinstance(hi, str)
        ):
            self._update_numbers(series)
        else:
            self._update_any(chunk)

    def _update_numbers(self, series: pd.Series) -> None:
        """A plain numpy number chunk, in numpy: what `_update_any` counts, without pandas'
        per-call overhead (`to_numeric` is the identity here, NaN is the only null and a
        number is never NaN after it)."""
        import numpy as np

        array = series.to_numpy()
        present = ~np.isnan(array) if array.dtype.kind == "f" else None
        values = array[present] if present is not None else array
        self.total += len(array)
        self.nulls += len(array) - len(values)
        if not len(values):
            return
        lo, hi = self.spec.get("min_value"), self.spec.get("max_value")
        bad = np.zeros(len(values), dtype=bool)
        if lo is not None:
            bad |= (values <= lo) if self.spec.get("strict_min") else (values < lo)
        if hi is not None:
            bad |= (values >= hi) if self.spec.get("strict_max") else (values > hi)
        if bad.any():
            kept = series[present] if present is not None else series
            found = kept[bad]
            self.unexpected += len(found)
            self._keep_examples(found)
        low, high = values.min(), values.max()
        self.observed_min = (
            low if getattr(self, "observed_min", None) is None else min(self.observed_min, low)
        )
        self.observed_max = (
            high if getattr(self, "observed_max", None) is None else max(self.observed_max, high)
        )

    def _update_any(self, chunk: pd.DataFrame) -> None:
        super().update(chunk)
        import pandas as pd

        series = chunk[self.spec["column"]].dropna()
        numbers = pd.to_numeric(series, errors="coerce").dropna()
        if not numbers.empty:
            lo, hi = numbers.min(), numbers.max()
            self.observed_min = (
                lo if getattr(self, "observed_min", None) is None else min(self.observed_min, lo)
            )
            self.observed_max = (
                hi if getattr(self, "observed_max", None) is None else max(self.observed_max, hi)
            )

    def details(self) -> dict[str, Any]:
        from audits.checks.results import json_value

        keys = ("min_value", "max_value", "strict_min", "strict_max", "mostly")
        data = {k: self.spec.get(k) for k in keys}
        if self.mask is None:
            data["observed_min"] = json_value(getattr(self, "observed_min", None))
            data["observed_max"] = json_value(getattr(self, "observed_max", None))
        return data


class AllowedValuesCheck(MapAccumulator):
    """Every non-null value is in `value_set`."""

    def unexpected_mask(self, values: pd.Series) -> pd.Series:
        return ~values.isin(self.spec["value_set"])

    def details(self) -> dict[str, Any]:
        return {"value_set": self.spec["value_set"], "mostly": self.spec.get("mostly", 1.0)}


class RegexCheck(MapAccumulator):
    """Values match `regex` in `mode`: fullmatch (default), match (at the start) or search."""

    def unexpected_mask(self, values: pd.Series) -> pd.Series:
        text = values.astype(str)
        pattern = re.compile(str(self.spec["regex"]))
        mode = self.spec.get("mode", "fullmatch")
        if mode == "fullmatch":
            ok = text.str.fullmatch(pattern)
        elif mode == "match":
            ok = text.str.match(pattern)
        else:
            with warnings.catch_warnings():  # pandas warns about groups; we only test for a match
                warnings.simplefilter("ignore", UserWarning)
                ok = text.str.contains(pattern, regex=True)
        return ~ok.fillna(False).astype(bool)

    def details(self) -> dict[str, Any]:
        return {
            "regex": self.spec["regex"],
            "mode": self.spec.get("mode", "fullmatch"),
            "mostly": self.spec.get("mostly", 1.0),
        }


UNIQUE_MERGE_MIN = 500_000  # per-chunk value counts buffered before a merge


class UniqueCheck(Accumulator):
    """Uniqueness: duplicate_rows (every row of a duplicated group, GX's unexpected) and
    duplicate_values (distinct values seen more than once, Soda's).

    Integer columns (ids, the usual subject of this check) are counted in numpy: each chunk's
    sorted distinct values and counts, merged by a stable sort of the sorted runs. pandas'
    concat + groupby of the same counts was a quarter of a 1 GB audit's CPU. A chunk of
    another dtype (a float chunk of an id column with nulls, text) moves the counts to the
    pandas path, which then goes on as before: the results are the same either way.
    """

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        super().__init__(spec, ctx, index)
        self.total = 0
        self.nulls = 0
        self.counts = None
        self.pending: list[pd.Series] = []  # per-chunk counts not merged yet
        self.pending_size = 0
        # numpy path: (values, counts) runs, sorted by value; None once off that path
        self.runs: list[tuple[Any, Any]] | None = []
        self.run_dtype: Any = None

    def update(self, chunk: pd.DataFrame) -> None:
        series = chunk[self.spec["column"]]
        self.total += len(series)
        present = series.dropna()
        self.nulls += len(series) - len(present)
        if self.runs is not None and self._integer_chunk(present):
            import numpy as np

            values = present.to_numpy()
            if len(values) > 1 and bool((values[1:] > values[:-1]).all()):  # ascending ids
                counts = np.ones(len(values), dtype=np.int64)
            else:
                values, counts = np.unique(values, return_counts=True)
            self.runs.append((values, counts))
            self.pending_size += len(values)
            if self.pending_size > max(UNIQUE_MERGE_MIN, len(self.runs[0][0])):
                self._merge_runs()
            return
        if self.runs is not None:
            self._leave_numpy_path()
        counts = present.value_counts(sort=False)
        self.pending.append(counts)
        self.pending_size += len(counts)
        # Merge when the pending counts outgrow the merged ones: aligning the whole running
        # count with every chunk (Series.add) was quadratic in the chunks on unique columns.
        if self.pending_size > max(
            UNIQUE_MERGE_MIN, len(self.counts) if self.counts is not None else 0
        ):
            self._merge()

    def _integer_chunk(self, present: pd.Series) -> bool:
        """True for a plain numpy integer chunk of the same dtype as the first one."""
        import numpy as np

        dtype = present.dtype
        if not isinstance(dtype, np.dtype) or dtype.kind not in "iu":
            return False
        if self.run_dtype is None:
            self.run_dtype = dtype
        return dtype == self.run_dtype

    def _merge_runs(self) -> None:
        """Merge the sorted runs into one (values ascending, counts summed)."""
        import numpy as np

        if len(self.runs) > 1:
            values = np.concatenate([v for v, _ in self.runs])
            counts = np.concatenate([c for _, c in self.runs])
            if not bool((values[1:] > values[:-1]).all()):  # else: ascending runs, no repeats
                order = np.argsort(values, kind="stable")  # timsort: merges the sorted runs
                values, counts = values[order], counts[order]
                starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
                values, counts = values[starts], np.add.reduceat(counts, starts)
            self.runs = [(values, counts)]
        self.pending_size = 0

    def _leave_numpy_path(self) -> None:
        import pandas as pd

        self._merge_runs()
        if self.runs:
            values, counts = self.runs[0]
            self.counts = pd.Series(counts, index=pd.Index(values), name="count")
        self.runs = None
        self.pending_size = 0

    def _merge(self) -> None:
        import pandas as pd

        if not self.pending:
            return
        parts = ([self.counts] if self.counts is not None else []) + self.pending
        merged = pd.concat(parts) if len(parts) > 1 else parts[0]
        self.counts = merged.groupby(level=0, sort=False).sum() if len(parts) > 1 else merged
        self.pending, self.pending_size = [], 0

    def _duplicated(self) -> tuple[int, int, dict[Any, int]]:
        """(rows in duplicated groups, duplicated values, the PARTIAL_LIMIT most duplicated
        values with their counts, most first, then by value as text)."""
        if self.runs is not None:
            self._merge_runs()
            if not self.runs:
                return 0, 0, {}
            values, counts = self.runs[0]
            many = counts > 1
            values, counts = values[many], counts[many]
            dup_rows, dup_values = int(counts.sum()), len(counts)
            if len(counts) > PARTIAL_LIMIT:  # only ties with the PARTIAL_LIMIT-th count remain
                import numpy as np

                floor = np.partition(counts, len(counts) - PARTIAL_LIMIT)[-PARTIAL_LIMIT]
                values, counts = values[counts >= floor], counts[counts >= floor]
            found = zip(values.tolist(), counts.tolist(), strict=True)
        else:
            self._merge()
            if self.counts is None:
                return 0, 0, {}
            duplicated = self.counts[self.counts > 1]
            found = duplicated.items()
            dup_rows, dup_values = int(duplicated.sum()), int(len(duplicated))
        order = sorted(found, key=lambda kv: (-kv[1], str(kv[0])))  # independent of chunking
        return dup_rows, dup_values, dict(order[:PARTIAL_LIMIT])

    def finish(self) -> dict[str, Any]:
        dup_rows, dup_values, top = self._duplicated()
        non_null = self.total - self.nulls
        mostly = self.spec.get("mostly", 1.0)
        success = non_null == 0 or (non_null - dup_rows) / non_null >= mostly
        examples = [v for v, n in top.items() for _ in range(int(n))][:PARTIAL_LIMIT]
        return make_result(
            spec=self.spec,
            success=success,
            observed_value=dup_values,
            element_count=self.total,
            missing_count=self.nulls,
            unexpected_count=dup_rows,
            partial=examples,
            partial_counts={v: int(n) for v, n in top.items()},
            mask=self.mask,
            details={"duplicate_rows": dup_rows, "duplicate_values": dup_values, "mostly": mostly},
        )


class RowCountCheck(Accumulator):
    """min_value <= number of rows <= max_value."""

    columns: list[str] = []

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        super().__init__(spec, ctx, index)
        self.total = 0

    def update(self, chunk: pd.DataFrame) -> None:
        self.total += len(chunk)

    def finish(self) -> dict[str, Any]:
        return row_count_result(self.spec, self.total)


def row_count_result(spec: dict[str, Any], rows: int) -> dict[str, Any]:
    lo, hi = spec.get("min_value"), spec.get("max_value")
    success = (lo is None or rows >= lo) and (hi is None or rows <= hi)
    return make_result(
        spec=spec,
        success=success,
        observed_value=rows,
        element_count=rows,
        details={"min_value": lo, "max_value": hi},
    )


# Plain ISO 8601 text of one shape per chunk (what CSV exports hold), by length and separator.
_ISO_SHAPES = {
    (10, ""): r"^\d{4}-\d{2}-\d{2}$",
    (19, "T"): r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$",
    (19, " "): r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
}


def utc_stamps(series: pd.Series) -> pd.Series:
    """`pd.to_datetime(series, errors="coerce", utc=True)`, faster for plain ISO text.

    pandas makes a Python string per value to parse it; a chunk of Arrow strings that all
    have one of the `_ISO_SHAPES` is parsed by Arrow's cast instead (no Python objects,
    ~10x less CPU). pandas infers that very format from the chunk's first value and parses
    every value exactly to it, so both give the same stamps; any value Arrow refuses (a
    30 February, 24:00:00) sends the whole chunk to pandas, which makes it NaT as before.
    """
    import pandas as pd

    fast = _iso_stamps(series)
    return fast if fast is not None else pd.to_datetime(series, errors="coerce", utc=True)


def _iso_stamps(series: pd.Series) -> pd.Series | None:
    import pandas as pd

    dtype = series.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    array = series.array.__arrow_array__()
    present = pc.drop_null(array)
    if not len(present):
        return None
    shaped = _iso_shaped(present)
    if shaped is None:  # not Arrow's plain string layout: ask RE2 as before
        lengths = pc.min_max(pc.utf8_length(present))
        low, high = lengths["min"].as_py(), lengths["max"].as_py()
        first = present[0].as_py()
        pattern = _ISO_SHAPES.get((low, first[10:11])) if low == high else None
        shaped = pattern is not None and pc.all(pc.match_substring_regex(present, pattern)).as_py()
    if not shaped:
        return None
    try:
        stamps = pc.cast(array, pa.timestamp("us"))
    except pa.ArrowInvalid:
        return None
    return pd.Series(stamps.to_numpy(), index=series.index).dt.tz_localize("UTC")


def _iso_shaped(present: Any) -> bool | None:
    """Whether every value (no nulls) matches the `_ISO_SHAPES` pattern that the first value's
    length and separator pick, as `match_substring_regex` would say, read from the bytes.

    A value that matches is ASCII, so the strings all have the pattern's length in bytes and
    lie back to back in the data buffer: one (rows x length) byte matrix, compared per column
    with '0'..'9' and the separators (RE2's \\d is ASCII only). ~0.3 ms for 50,000 values
    against ~10 ms for the regex. None for a layout it does not read (the caller asks RE2).
    """
    import numpy as np
    import pyarrow as pa

    chunks = present.chunks if isinstance(present, pa.ChunkedArray) else [present]
    template: tuple[np.ndarray, np.ndarray] | None = None
    for chunk in chunks:
        if not len(chunk):
            continue
        if chunk.type == pa.large_string():
            offset_type = np.int64
        elif chunk.type == pa.string():
            offset_type = np.int32
        else:
            return None
        _, offsets_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        width = int(offsets[1] - offsets[0])
        if width not in (10, 19) or int(offsets[-1] - offsets[0]) != width * len(chunk):
            return False
        if not bool((np.diff(offsets) == width).all()):
            return False
        data = np.frombuffer(data_buffer, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
        rows = data.reshape(len(chunk), width)
        if template is None:
            separator = chr(rows[0, 10]) if width == 19 else ""
            pattern = _ISO_SHAPES.get((width, separator))
            if pattern is None:
                return False
            shape = pattern[1:-1].replace(r"\d{4}", "0000").replace(r"\d{2}", "00")
            low = np.frombuffer(shape.encode(), dtype=np.uint8)
            template = (low, np.where(low == ord("0"), ord("9"), low).astype(np.uint8))
        low, high = template
        if rows.shape[1] != len(low) or not bool(((rows >= low) & (rows <= high)).all()):
            return False
    return True


class FreshnessCheck(Accumulator):
    """now - max(column) <= max_age, in UTC (naive timestamps are taken as UTC)."""

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        super().__init__(spec, ctx, index)
        self.latest = None
        self.total = 0
        self.nulls = 0

    def update(self, chunk: pd.DataFrame) -> None:
        series = chunk[self.spec["column"]]
        self.total += len(series)
        stamps = utc_stamps(series)
        self.nulls += int(stamps.isna().sum())
        if stamps.notna().any():
            top = stamps.max()
            self.latest = top if self.latest is None or top > self.latest else self.latest

    def finish(self) -> dict[str, Any]:
        return freshness_result(self.spec, self.ctx.now, self.latest, self.total, self.nulls)


def freshness_result(
    spec: dict[str, Any], now: dt.datetime, latest: Any, total: int, nulls: int
) -> dict[str, Any]:
    max_age = parse_age(spec["max_age"])
    if latest is None:
        result = make_result(
            spec=spec,
            success=False,
            element_count=total,
            missing_count=nulls,
            details={"max_age": spec["max_age"], "reason": "no timestamps"},
        )
        result["exception_info"] = None
        return result
    if getattr(latest, "tzinfo", None) is None:
        latest = latest.replace(tzinfo=dt.UTC)
    age = (now - latest).total_seconds()
    return make_result(
        spec=spec,
        success=age <= max_age,
        observed_value=age,
        element_count=total,
        missing_count=nulls,
        details={
            "max_age": spec["max_age"],
            "max_age_seconds": max_age,
            "age_seconds": age,
            "latest": latest.isoformat(),
            "now": now.isoformat(),
            "rule": "now - max(column) <= max_age (UTC)",
        },
    )


def schema_drift_result(spec: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    """Compare the source's columns with the current version's schema; each kind acts per spec."""
    if not ctx.reference_schema:
        return not_applicable_result(spec, "the dataset has no current version schema to compare")
    current = ctx.current_schema if ctx.current_schema is not None else ctx.columns
    ref = {c["name"]: str(c.get("type", "")) for c in ctx.reference_schema}
    now = {c["name"]: str(c.get("type", "")) for c in current}
    ref_order = [c["name"] for c in ctx.reference_schema]
    now_order = [c["name"] for c in current]
    common = [n for n in now_order if n in ref]
    found = {
        "added": [n for n in now_order if n not in ref],
        "removed": [n for n in ref_order if n not in now],
        "retyped": [
            {"column": n, "was": ref[n], "now": now[n]} for n in common if ref[n] != now[n]
        ],
        "reordered": common if common != [n for n in ref_order if n in now] else [],
    }
    acted = [k for k, v in found.items() if v and spec.get(k) != "ignore"]
    status = "pass"
    if any(spec.get(k) == "fail" for k in acted):
        status = "fail"
    elif acted:
        status = "warn"
    result = make_result(
        spec=spec,
        success=status == "pass",
        status=status,
        observed_value={k: len(v) for k, v in found.items()},
        details={**found, "actions": {k: spec.get(k) for k in found}},
    )
    result["unexpected_count"] = sum(len(found[k]) for k in acted)
    return result


class SchemaDriftCheck(Accumulator):
    columns: list[str] = []

    def update(self, chunk: pd.DataFrame) -> None:
        return None

    def finish(self) -> dict[str, Any]:
        return schema_drift_result(self.spec, self.ctx)


def column_missing_result(
    spec: dict[str, Any], missing: list[str], available: list[str]
) -> dict[str, Any]:
    shown = ", ".join(available[:30])
    return not_applicable_result(
        spec, f"no column {', '.join(repr(m) for m in missing)} in this dataset (columns: {shown})"
    )


__all__ = [
    "Accumulator",
    "AllowedValuesCheck",
    "CheckContext",
    "FreshnessCheck",
    "MapAccumulator",
    "NotNullCheck",
    "RangeCheck",
    "RegexCheck",
    "RowCountCheck",
    "SchemaDriftCheck",
    "UniqueCheck",
    "column_missing_result",
    "error_result",
    "row_count_result",
    "schema_drift_result",
    "utc_stamps",
]
