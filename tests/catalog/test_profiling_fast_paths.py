"""The profile's shortcuts give exactly the figures of the long way (issue 8 audit run)."""

import numpy as np
import pandas as pd
import pytest

from catalog import profiling
from catalog.sources import FileSource


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a@x.com", "b", "é", "", "long " * 40], dtype="str"),
        pd.Series(["a@x.com", "b", "é"], dtype=pd.StringDtype("python")),
        pd.Series(["a@x.com", "b", "é"], dtype=object),
    ],
)
def test_string_hashes_are_pandas_hashes(values):
    expected = pd.util.hash_pandas_object(values, index=False, categorize=False).to_numpy()
    assert np.array_equal(profiling._hashes(values), expected)


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


def test_withheld_columns_skip_top_values_with_the_same_profile(tmp_path, monkeypatch):
    """Once the PII sample is full, a column known to be withheld keeps no top values, min,
    max or mean (they are never shown): the profile is the same as when all are kept."""
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
