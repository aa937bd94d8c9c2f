"""All of the catalog's pandas code: profile a source in bounded memory, one pass over chunks.

Imported only from `catalog.tasks` (and the services the tasks call lazily), never on the web
path: pandas is heavy to import. The result is plain JSON-safe data; no raw values of PII
columns survive into it (top values, min and max are dropped for them).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog.pii import MAX_SAMPLE, suggest_pii

TOP_N = 10
# Up to this many distinct values per column the count is exact (a sorted array of 64-bit
# hashes); past it the column switches to a HyperLogLog estimate (about 0.8% standard error).
DISTINCT_CAP = 100_000
CHUNKSIZE = 50_000
# Heavy-hitter candidates kept per column, and taken from each chunk's value counts.
TOP_CAPACITY = TOP_N * 100
TOP_PER_CHUNK = TOP_N * 20
# Numeric and date columns get top values only while a chunk has at most this many values.
LOW_CARDINALITY = 50
HLL_BITS = 14  # 16,384 one-byte registers per column


_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_ALL_ONES = _U64(0xFFFFFFFFFFFFFFFF)


def _hashes(values: pd.Series) -> np.ndarray:
    """64-bit hashes of the values, vectorised.

    Numbers hash as float64, so 3 in an int64 chunk and 3.0 in a chunk made float64 by a
    null count as one value (as they did in a Python set). The values are a chunk's distinct
    values already, so pandas' `categorize` (factorize first, hash the categories) is pure
    cost: the same hashes, 3x (strings) to 80x (floats) slower.
    Text of any dtype (Arrow strings, object, categorical) hashes its UTF-8 string form with
    `_string_hashes`, straight from the Arrow buffers: no Python object per value.
    """
    dtype = values.dtype
    if (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    ):
        hashed = pd.util.hash_pandas_object(values, index=False, categorize=False)
        return hashed.to_numpy(dtype=np.uint64)
    if pd.api.types.is_numeric_dtype(dtype):
        hashed = pd.util.hash_pandas_object(values.astype("float64"), index=False, categorize=False)
        return hashed.to_numpy(dtype=np.uint64)
    return _string_hashes(_arrow_strings(values))


def _arrow_strings(values: pd.Series) -> Any:
    """The values as one Arrow large_string array (their `str` form when not strings)."""
    import pyarrow as pa

    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        array = values.array.__arrow_array__()
    else:
        array = pa.array([str(v) for v in values.tolist()], type=pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array if array.type == pa.large_string() else array.cast(pa.large_string())


def _fmix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place: every input bit moves every output bit."""
    h ^= h >> _U64(33)
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    h ^= h >> _U64(33)
    return h


def _string_hashes(array: Any) -> np.ndarray:
    """A 64-bit hash of each string's UTF-8 bytes (no nulls), 8 bytes at a time in numpy.

    Half the time of pandas' siphash over Python strings for a near-unique column. The hash
    of a string depends only on its bytes (not on its neighbours or the chunk), so the exact
    distinct count and the HyperLogLog sketch see a string the same way in every chunk.
    Word j of a string is the 8 bytes from its start + 8j, read through an unaligned uint64
    view of the zero-padded data (no (rows x width) byte copy), with the bytes past the
    string's end masked off; a string shorter than 8j keeps its hash as is.
    """
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    starts, lengths = offsets[:-1], np.diff(offsets)
    end = int(offsets[-1]) if len(offsets) else 0
    padded = np.zeros(end + 8, dtype=np.uint8)
    if data_buffer is not None and end:
        padded[:end] = np.frombuffer(data_buffer, dtype=np.uint8, count=end)
    words = np.ndarray((end + 1,), dtype="<u8", buffer=padded, strides=(1,))
    shortest, longest = int(lengths.min(initial=0)), int(lengths.max(initial=0))
    with np.errstate(over="ignore"):
        hashes = _fmix(lengths.astype(np.uint64) * _GOLDEN)
        for at in range(0, longest, 8):
            # a string that ended before `at` reads its start instead (and is not updated)
            at_word = starts + at if shortest > at else np.where(lengths > at, starts + at, starts)
            word = words[at_word]
            if shortest < at + 8:  # some strings end inside this word: keep their own bytes
                rest = np.clip(lengths - at, 0, 8).astype(np.uint64)
                word &= _ALL_ONES >> ((_U64(8) - rest) * _U64(8))
            word ^= hashes
            word *= _GOLDEN
            mixed = _fmix(word)
            hashes = mixed if shortest > at else np.where(lengths > at, mixed, hashes)
    return hashes


def _largest_first(counts: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` largest counts, largest first, ties in order of position: what
    `Series.nlargest(n)` (keep="first") picks, in its order, without its overhead (~4 ms
    on a near-unique chunk's counts). Needs n < len(counts)."""
    above_one = counts[counts > 1]
    if len(above_one) >= n:
        floor = np.partition(above_one, len(above_one) - n)[len(above_one) - n]
    elif counts.min() >= 1:  # a near-unique chunk: the n-th largest count is 1
        floor = 1
    else:
        floor = np.partition(counts, len(counts) - n)[len(counts) - n]
    above = np.flatnonzero(counts > floor)  # fewer than n: all of them, largest first
    at_floor = np.flatnonzero(counts == floor)[: n - len(above)]  # then the first ties
    return np.concatenate([above[np.argsort(-counts[above], kind="stable")], at_floor])


class _HyperLogLog:
    """A HyperLogLog sketch over 64-bit hashes: bounded memory, numpy only."""

    def __init__(self, bits: int = HLL_BITS) -> None:
        self.bits = bits
        self.registers = np.zeros(1 << bits, dtype=np.uint8)

    def add(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        rest_bits = 64 - self.bits
        index = (hashes >> np.uint64(rest_bits)).astype(np.intp)
        rest = hashes & np.uint64((1 << rest_bits) - 1)
        # rank = leading zeros of the remaining bits + 1; < 2**53, so log2 in float64 is exact
        with np.errstate(divide="ignore"):
            width = np.where(rest > 0, np.floor(np.log2(rest.astype(np.float64))) + 1, 0)
        rank = (rest_bits - width + 1).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)

    def estimate(self) -> int:
        m = float(len(self.registers))
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))  # linear counting for small sets
        return round(raw)


@dataclass
class _ColumnStats:
    name: str
    kind: str  # "numeric", "datetime", "boolean", "text"
    count: int = 0
    nulls: int = 0
    distinct_hashes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    sketch: _HyperLogLog | None = None  # set once past DISTINCT_CAP
    minimum: Any = None
    maximum: Any = None
    total: float = 0.0
    numeric_count: int = 0
    min_length: int | None = None
    max_length: int | None = None
    counter: Counter = field(default_factory=Counter)
    top_exact: bool = True
    pii_sample: list = field(default_factory=list)
    declared_pii: bool = False
    withheld: bool | None = None  # known once the PII sample is full (see `_values_withheld`)

    @property
    def distinct_capped(self) -> bool:
        return self.sketch is not None

    def add(self, series: pd.Series) -> None:
        self.count += len(series)
        non_null = series.dropna()
        self.nulls += len(series) - len(non_null)
        if non_null.empty:
            return
        # Text columns need the counts anyway (top values): one hash pass gives both the
        # distinct values (in order of appearance) and their counts. Numbers count only when
        # few (LOW_CARDINALITY), so for them `unique` alone is cheaper.
        # A column whose values the profile withholds (PII) shows no top values, min, max or
        # mean: only counts, distinct and lengths are kept for it.
        withheld = self._values_withheld()
        if withheld and self.sketch is not None:
            # Past DISTINCT_CAP a withheld column needs only the sketch and the lengths, and a
            # sketch ignores repeats: hash the chunk as is, without finding its distinct values.
            self.sketch.add(_hashes(non_null))
            if self.kind == "text":
                self._add_lengths(non_null)
            return
        counts = None
        if self.kind in ("text", "boolean") and not withheld:
            counts = non_null.value_counts(sort=False)
            uniques = pd.Series(counts.index.array, dtype=non_null.dtype)
        elif self._only_sketch_needs_uniques(non_null):
            # Past DISTINCT_CAP, with the PII sample full and more than LOW_CARDINALITY values
            # in the chunk, its distinct values would only feed the sketch, which ignores
            # repeats: hash the chunk as is (`unique` of 50,000 floats is ~8 ms)
            self.sketch.add(_hashes(non_null))
            uniques = None
        else:
            uniques = pd.Series(non_null.unique(), dtype=non_null.dtype)
        if uniques is None:
            chunk_distinct = LOW_CARDINALITY + 1  # at least: no top values from this chunk
        else:
            chunk_distinct = len(uniques)
            self._add_distinct(uniques)
        if withheld and self.kind != "text":
            return
        if self.kind == "numeric":
            values = pd.to_numeric(non_null, errors="coerce").dropna()
            if not values.empty:
                self._extend(values.min(), values.max())
                self.total += float(values.sum())
                self.numeric_count += len(values)
        elif self.kind == "datetime":
            self._extend(non_null.min(), non_null.max())
        elif self.kind == "text":
            # the distinct values have the same shortest and longest lengths as all of them
            # (for strings; an object column's values may share a distinct value's text)
            self._add_lengths(uniques if isinstance(uniques.dtype, pd.StringDtype) else non_null)
        if withheld:
            return
        if self.kind in ("text", "boolean") or chunk_distinct <= LOW_CARDINALITY:
            self._add_top(non_null, chunk_distinct, counts)
        if len(self.pii_sample) < MAX_SAMPLE and self.kind in ("text", "numeric"):
            known = set(self.pii_sample)
            for value in uniques.iloc[: MAX_SAMPLE * 2].tolist():
                python_value = value.item() if hasattr(value, "item") else value
                if python_value not in known:
                    known.add(python_value)
                    self.pii_sample.append(python_value)
                    if len(self.pii_sample) >= MAX_SAMPLE:
                        break

    def _only_sketch_needs_uniques(self, non_null: pd.Series) -> bool:
        """True when a number or date chunk's distinct values would feed the sketch alone.

        That is: past DISTINCT_CAP, the PII sample full, a numpy dtype, and more than
        LOW_CARDINALITY distinct values among the first 1,000 (so no top values). A float
        chunk holding both 0.0 and -0.0 says no: `unique` keeps one of them and their hashes
        differ, so hashing every value would feed the sketch one more hash than before.
        """
        dtype = non_null.dtype
        if (
            self.sketch is None
            or self.kind not in ("numeric", "datetime")
            or (self.kind == "numeric" and len(self.pii_sample) < MAX_SAMPLE)
            or not isinstance(dtype, np.dtype)
            or dtype.kind not in "iufmM"
        ):
            return False
        if len(pd.unique(non_null.to_numpy()[:1000])) <= LOW_CARDINALITY:
            return False
        if dtype.kind == "f":
            zeros = non_null.to_numpy()
            zeros = zeros[zeros == 0]
            if len(zeros) and np.signbit(zeros).any() and not np.signbit(zeros).all():
                return False
        return True

    def _add_lengths(self, non_null: pd.Series) -> None:
        # pandas' str dtype has fast lengths; object columns (Decimal, UUID...) go via str
        dtype = non_null.dtype
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            import pyarrow.compute as pc

            # Arrow's own kernel (what `str.len` calls), without pandas' result Series
            found = pc.min_max(pc.utf8_length(non_null.array.__arrow_array__()))
            low, high = found["min"].as_py(), found["max"].as_py()
        else:
            text = non_null if isinstance(dtype, pd.StringDtype) else non_null.astype(str)
            lengths = text.str.len()
            low, high = int(lengths.min()), int(lengths.max())
        self.min_length = low if self.min_length is None else min(self.min_length, low)
        self.max_length = high if self.max_length is None else max(self.max_length, high)

    def _values_withheld(self) -> bool:
        """True once it is certain that `result` will withhold this column's values.

        That is decided by the declared PII and by `suggest_pii` over the PII sample, which
        stops growing at MAX_SAMPLE; until the sample is full the answer is False (keep all).
        """
        if self.withheld is None and len(self.pii_sample) >= MAX_SAMPLE:
            self.withheld = self.declared_pii or suggest_pii(self.name, self.pii_sample) is not None
        return bool(self.withheld)

    def _add_distinct(self, uniques: pd.Series) -> None:
        """Feed the chunk's distinct values, hashed, to the exact set or to the sketch."""
        hashes = _hashes(uniques)
        if self.sketch is not None:
            self.sketch.add(hashes)
            return
        hashes = np.sort(hashes)
        known = self.distinct_hashes
        if len(known):
            at = np.searchsorted(known, hashes)
            seen = known[np.minimum(at, len(known) - 1)] == hashes
            hashes, at = hashes[~seen], at[~seen]
            known = np.insert(known, at, hashes)  # stays sorted, O(n) instead of a re-sort
        else:
            known = hashes
        self.distinct_hashes = known
        if len(known) > DISTINCT_CAP:
            self.sketch = _HyperLogLog()
            self.sketch.add(known)
            self.distinct_hashes = np.empty(0, dtype=np.uint64)

    def _add_top(
        self, non_null: pd.Series, chunk_distinct: int, counts: pd.Series | None = None
    ) -> None:
        """Merge the chunk's most frequent values into a bounded candidate counter.

        Counts are exact while every chunk's values fit in TOP_PER_CHUNK and the counter in
        TOP_CAPACITY; otherwise values that are frequent overall are still found (they lead
        their chunks) but their counts may be low, and the profile says so.
        """
        if chunk_distinct == len(non_null):  # every value once in this chunk: no heavy hitter
            if chunk_distinct > 1:
                self.top_exact = False
            else:
                self.counter[str(non_null.iloc[0])] += 1
            return
        if counts is None:
            counts = non_null.value_counts(sort=False)
        if len(counts) > TOP_PER_CHUNK:
            counts = counts.iloc[_largest_first(counts.to_numpy(), TOP_PER_CHUNK)]
            self.top_exact = False
        for value, number in zip(counts.index.astype(str), counts.tolist(), strict=True):
            self.counter[value] += int(number)
        if len(self.counter) > TOP_CAPACITY:
            self.counter = Counter(dict(self.counter.most_common(TOP_CAPACITY // 2)))
            self.top_exact = False

    def _extend(self, low: Any, high: Any) -> None:
        self.minimum = low if self.minimum is None else min(self.minimum, low)
        self.maximum = high if self.maximum is None else max(self.maximum, high)

    def result(self, *, pii: bool) -> dict[str, Any]:
        """The column's profile; PII columns keep only counts, never values.

        Past DISTINCT_CAP, `distinct_count` is a HyperLogLog estimate and `distinct_is_estimate`
        is true (`distinct_capped` stays true as before); `top_values_approximate` is true
        when some counts were trimmed away (see `_add_top`).
        """
        estimate = self.sketch is not None
        profile: dict[str, Any] = {
            "kind": self.kind,
            "count": self.count,
            "null_count": self.nulls,
            "null_percent": round(self.nulls / self.count * 100, 2) if self.count else 0.0,
            "distinct_count": self.sketch.estimate() if estimate else len(self.distinct_hashes),
            "distinct_capped": estimate,
            "distinct_is_estimate": estimate,
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
            # ties by value, so the order does not depend on how the file was chunked
            ranked = sorted(self.counter.items(), key=lambda vc: (-vc[1], vc[0]))
            profile["top_values"] = [
                {"value": _json_value(value[:200]), "count": int(count)}
                for value, count in ranked[:TOP_N]
            ]
            profile["top_values_approximate"] = not self.top_exact
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


def read_ahead(chunks: Iterator[Any]) -> Iterator[Any]:
    """Yield `chunks`, parsing the next one in a thread while the caller works on this one.

    The CSV tokenizer and Arrow's kernels release the GIL, so the parse of chunk n+1 runs on
    the second core during the profile and checks of chunk n. One chunk ahead at most: memory
    stays bounded by two chunks. An error of the reader is raised here, in order.
    """
    import queue
    import threading

    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        handoff.put((chunk, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    close = getattr(chunks, "close", None)
                    if close is not None:  # a generator: its file or cursor closes now
                        close()
                    return
            handoff.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            handoff.put((done, exc))

    reader = threading.Thread(target=produce, name="charter-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            chunk, error = handoff.get()
            if chunk is done:
                if error is not None:
                    raise error
                return
            yield chunk
    finally:
        stop.set()  # the consumer stopped early (or raised): let the reader finish
        while reader.is_alive():
            try:
                handoff.get_nowait()
            except queue.Empty:
                reader.join(timeout=0.1)


class _Beside:
    """Run one job at a time in a second thread, or inline when not `threaded`.

    numpy's and Arrow's kernels release the GIL, so a chunk's profile and its audit checks
    share the cores that the CSV parse (in `read_ahead`'s thread) leaves free. `wait` returns
    once the job is done and raises what it raised.
    """

    def __init__(self, threaded: bool) -> None:
        self.pool = None
        self.job: Any = None
        if threaded:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(1, thread_name_prefix="charter-profile")

    def __enter__(self) -> _Beside:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, job: Callable[[Any], None], arg: Any) -> None:
        if self.pool is None:
            job(arg)
        else:
            self.job = self.pool.submit(job, arg)

    def wait(self) -> None:
        if self.job is not None:
            job, self.job = self.job, None
            job.result()


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
    on_chunk: Callable[[pd.DataFrame], None] | None = None,
) -> ProfileResult:
    """Profile `source` (a catalog.sources Source) in one chunked pass.

    1. Fingerprint (sha256, size, row count): a table's first, for the progress; a file's in
       a thread while its chunks are read (the digest is needed only in the result).
    2. Read chunks, updating per-column stats and a distinct sample of at most 1,000 values.
       Each chunk (all columns) is also handed to `on_chunk`, so an audit's checks can ride
       on this parse instead of reading the file a second time.
    3. Suggest a PII kind per column from its name and sample; drop values of PII columns.
    """
    report = progress or (lambda _pct: None)
    schema = [
        {"name": c.name, "type": c.type, "nullable": bool(c.nullable)} for c in source.columns()
    ]
    # A file's sha256 (~1 s per GB of one core) is read in a thread beside the parse: only
    # the result needs it. A table's fingerprint (a count) comes first, for the progress.
    hasher = None
    if isinstance(getattr(source, "path", None), Path):
        from concurrent.futures import ThreadPoolExecutor

        hasher = ThreadPoolExecutor(1, thread_name_prefix="charter-fingerprint")
        digest = hasher.submit(source.fingerprint)
        expected = _estimate_rows(source, source.path.stat().st_size)
    else:
        fingerprint = source.fingerprint()
        expected = fingerprint.row_count or _estimate_rows(source, fingerprint.size_bytes)
    report(10)
    try:
        stats, rows = _profile_chunks(source, declared_pii, report, expected, chunksize, on_chunk)
    finally:
        if hasher is not None:
            hasher.shutdown(wait=True)  # an error above: let the hash finish before raising
    if hasher is not None:
        fingerprint = digest.result()
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


def _profile_chunks(
    source: Any,
    declared_pii: set[str] | frozenset[str],
    report: Callable[[int], None],
    expected: int,
    chunksize: int,
    on_chunk: Callable[[pd.DataFrame], None] | None,
) -> tuple[dict[str, _ColumnStats], int]:
    """Step 2 of `profile_source`: every chunk into per-column stats; (stats, rows read)."""
    stats: dict[str, _ColumnStats] = {}

    def add(chunk: pd.DataFrame) -> None:
        for name in chunk.columns:
            column = stats.get(name)
            if column is None:
                column = stats[name] = _ColumnStats(
                    name=str(name), kind=_kind_of(chunk[name]), declared_pii=name in declared_pii
                )
            column.add(chunk[name])

    rows = 0
    with _Beside(on_chunk is not None) as beside:
        for chunk in read_ahead(source.iter_chunks(chunksize=chunksize)):
            # With an audit riding on the parse, the chunk's profile runs in a thread while its
            # checks run here (they may touch the database: keep them on the caller's thread).
            beside.run(add, chunk)
            if on_chunk is not None:
                on_chunk(chunk)
            beside.wait()
            rows += len(chunk)
            if expected:
                report(10 + int(85 * min(rows, expected) / expected))  # at most 95 until done
    return stats, rows
