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
