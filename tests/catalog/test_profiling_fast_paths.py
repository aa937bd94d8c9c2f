"""The profile's shortcuts give exactly the figures of the long way (issue 8 audit run)."""

import numpy as np
import pandas as pd
import pytest

from catalog import profiling
from catalog.sources import FileSource

STRINGS = ["a@x.com", "b", "é", "", "ü漢字🙂", "long " * 40, "abcdefgh", "abcdefghi", "a\x00"]


@pytest.mark.parametrize(
    "dtype", ["str", pd.StringDtype("python"), object, "category"], ids=lambda d: str(d)
)
def test_string_hashes_depend_only_on_the_string(dtype):
    """A string hashes the same whatever its dtype, neighbours or place in the chunk, so the
    exact distinct count and the sketch see it once across chunks; different strings differ."""
    values = pd.Series(STRINGS, dtype=dtype)
    hashes = profiling._hashes(values)
    assert len(set(hashes.tolist())) == len(STRINGS)
    alone = [profiling._hashes(pd.Series([v], dtype="str"))[0] for v in STRINGS]
    assert hashes.tolist() == alone
    sliced = pd.Series(STRINGS * 3, dtype="str").iloc[5:20]
    assert profiling._hashes(sliced).tolist() == (hashes.tolist() * 3)[5:20]


def test_numbers_hash_as_float64():
    ints = pd.Series([1, 2, 3], dtype="int64")
    assert np.array_equal(profiling._hashes(ints), profiling._hashes(ints.astype("float64")))


def _frame(n: int = 6_000) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {
            "email": [f"user{i % 4_000}@example.com" for i in range(n)],  # PII by its values
            "contact_phone": [f"+44 20 7{i % 5_000:07d}" for i in range(n)],  # PII by its name
            "code": [f"c{i % 3_000}" for i in range(n)],  # declared PII below
            "card": rng.choice([4111111111111111, 5500005555555559], n),  # numbers
            "city": rng.choice(["Oslo", "Rome", None], n),
            "amount": rng.normal(100, 10, n).round(2),
        }
    )


@pytest.mark.parametrize("cap", [profiling.DISTINCT_CAP, 1_000])
def test_withheld_columns_skip_top_values_with_the_same_profile(tmp_path, monkeypatch, cap):
    """Once the PII sample is full, a column known to be withheld keeps no top values, min,
    max or mean (they are never shown): the profile is the same as when all are kept. Past
    the distinct cap (cap=1,000) its chunks go to the sketch without `unique()` first."""
    monkeypatch.setattr(profiling, "DISTINCT_CAP", cap)
    path = tmp_path / "people.csv"
    _frame().to_csv(path, index=False)
    source = FileSource(path, "csv")

    withheld = set()
    real = profiling._ColumnStats._values_withheld

    def spy(self):
        if real(self):
            withheld.add(self.name)
        return real(self)

    monkeypatch.setattr(profiling._ColumnStats, "_values_withheld", spy)
    fast = profiling.profile_source(source, chunksize=1_500, declared_pii={"code"})
    assert withheld == {"email", "contact_phone", "code"}  # the shortcut was taken
    monkeypatch.setattr(profiling._ColumnStats, "_values_withheld", lambda self: False)
    slow = profiling.profile_source(source, chunksize=1_500, declared_pii={"code"})

    assert fast == slow
    assert {"email", "contact_phone"} <= set(fast.pii)
    assert fast.columns["code"]["values_withheld"]
    assert "top_values" in fast.columns["city"] and "mean" in fast.columns["amount"]


def test_read_ahead_yields_in_order_and_raises_the_readers_error():
    def chunks():
        yield from range(5)
        raise ValueError("bad row")

    got = []
    with pytest.raises(ValueError, match="bad row"):
        for chunk in profiling.read_ahead(chunks()):
            got.append(chunk)
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_stops_its_reader_when_the_caller_stops_early():
    import threading

    closed = []

    def chunks():
        try:
            yield from range(1_000)
        finally:
            closed.append(True)

    reader = profiling.read_ahead(chunks())
    assert next(reader) == 0
    reader.close()
    assert not any(t.name == "charter-read-ahead" for t in threading.enumerate())
    assert closed == [True]  # the source's generator was closed, not left to the collector


def test_profile_beside_the_checks_is_the_same_profile(tmp_path):
    """With `on_chunk` (an audit's checks) the chunk's profile runs in a second thread: the
    same profile as without, every chunk handed to `on_chunk` in order, on the caller's
    thread (the checks may use its database connection)."""
    import threading

    path = tmp_path / "people.csv"
    _frame().to_csv(path, index=False)
    source = FileSource(path, "csv")
    seen = []

    def on_chunk(chunk):
        seen.append((len(chunk), threading.current_thread() is threading.main_thread()))

    beside = profiling.profile_source(source, chunksize=1_500, on_chunk=on_chunk)
    assert beside == profiling.profile_source(source, chunksize=1_500)
    assert seen == [(1_500, True)] * 4


def test_an_error_in_the_profile_thread_reaches_the_caller(tmp_path, monkeypatch):
    import threading

    path = tmp_path / "people.csv"
    _frame().to_csv(path, index=False)

    def broken(self, series):
        raise RuntimeError("profile broke")

    monkeypatch.setattr(profiling._ColumnStats, "add", broken)
    with pytest.raises(RuntimeError, match="profile broke"):
        profiling.profile_source(FileSource(path, "csv"), chunksize=1_500, on_chunk=lambda c: None)
    assert not any(t.name.startswith("charter-profile") for t in threading.enumerate())


def _reference_string_hash(text: str) -> int:
    """The profile's string hash in plain Python: the UTF-8 bytes mixed in 8 at a time."""
    mask = (1 << 64) - 1

    def fmix(h: int) -> int:
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & mask
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & mask
        return h ^ (h >> 33)

    data = text.encode()
    h = fmix((len(data) * 0x9E3779B97F4A7C15) & mask)
    for at in range(0, len(data), 8):
        word = int.from_bytes(data[at : at + 8], "little")
        h = fmix(((h ^ word) * 0x9E3779B97F4A7C15) & mask)
    return h


def test_string_hashes_equal_the_plain_python_hash():
    """The numpy hash (unaligned word reads, masked tails) is the plain definition, for
    strings of every length, non-ASCII text, and an Arrow slice that starts mid-buffer."""
    import pyarrow as pa

    rng = np.random.default_rng(11)
    values = [*STRINGS, "x" * 7, "y" * 8, "z" * 9, "w" * 16, "v" * 17]
    for _ in range(300):
        points = rng.integers(1, 0x2FFF, int(rng.integers(0, 30)))
        values.append("".join(chr(int(p)) for p in points if not 0xD800 <= p < 0xE000))
    array = pa.array(values, type=pa.large_string())
    for part in (array, array.slice(3), array.slice(5, 40), array.slice(len(values) - 1)):
        expected = [_reference_string_hash(v) for v in part.to_pylist()]
        assert profiling._string_hashes(part).tolist() == expected


def test_largest_first_picks_what_nlargest_picks_in_its_order():
    rng = np.random.default_rng(12)
    for trial in range(600):
        n = int(rng.integers(1, 250))
        size = int(rng.integers(n + 1, 2_000))
        if trial % 3 == 0:  # near-unique: mostly 1, a few repeats
            counts = np.where(rng.random(size) < 0.05, rng.integers(2, 5, size), 1)
        elif trial % 3 == 1:  # categorical value counts may hold zeros
            counts = rng.integers(0, 4, size)
        else:
            counts = rng.integers(1, 40, size)
        series = pd.Series(counts, index=[f"v{i}" for i in rng.permutation(size)])
        expected = series.nlargest(n)
        found = series.iloc[profiling._largest_first(series.to_numpy(), n)]
        assert found.index.equals(expected.index) and found.tolist() == expected.tolist()


def test_numbers_past_the_cap_skip_unique_with_the_same_profile(tmp_path, monkeypatch):
    """Past the distinct cap, a number chunk with many values feeds the sketch every value
    (no `unique()`): the same profile as the long way, also for a chunk holding 0.0 and -0.0
    (whose hashes differ while `unique` keeps one of them)."""
    monkeypatch.setattr(profiling, "DISTINCT_CAP", 1_000)
    rng = np.random.default_rng(13)
    n = 9_000
    amount = rng.normal(100, 30, n).round(3)
    amount[4_600:4_700] = 0.0
    amount[4_650:4_660] = -0.0  # one chunk with both zeros
    frame = pd.DataFrame(
        {"amount": amount, "id": np.arange(n), "few": rng.integers(0, 30, n).astype(float)}
    )
    path = tmp_path / "numbers.csv"
    frame.to_csv(path, index=False)
    source = FileSource(path, "csv")
    taken = []
    real = profiling._ColumnStats._only_sketch_needs_uniques

    def spy(self, non_null):
        taken.append(real(self, non_null))
        return taken[-1]

    monkeypatch.setattr(profiling._ColumnStats, "_only_sketch_needs_uniques", spy)
    fast = profiling.profile_source(source, chunksize=1_500)
    monkeypatch.setattr(profiling._ColumnStats, "_only_sketch_needs_uniques", lambda s, v: False)
    assert fast == profiling.profile_source(source, chunksize=1_500)
    assert True in taken and False in taken
    assert fast.columns["amount"]["distinct_is_estimate"]


def test_a_files_fingerprint_is_read_beside_the_parse(tmp_path):
    """The file's sha256 is computed in a thread while the chunks are read: the profile holds
    the same digest and size as a fingerprint taken first."""
    import hashlib
    import threading

    path = tmp_path / "people.csv"
    _frame().to_csv(path, index=False)
    names = []
    source = FileSource(path, "csv")
    real = source.fingerprint

    def fingerprint():
        names.append(threading.current_thread().name)
        return real()

    source.fingerprint = fingerprint
    result = profiling.profile_source(source, chunksize=1_500)
    assert result.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.size_bytes == path.stat().st_size
    assert len(names) == 1 and names[0].startswith("charter-fingerprint")
