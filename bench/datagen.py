"""Synthetic data with a fixed seed: a mixed-type CSV (people, money, dates, labels).

The CSV is what an audit reads: numbers, dates, booleans, categories, free text, PII columns
(email, phone, card numbers) and a protected attribute with a label for fairness checks.
About 100 bytes a row, so 10M rows is about 1 GB. Files are cached by (rows, seed).
"""

from __future__ import annotations

from pathlib import Path

from bench.common import SEED

COUNTRIES = ["DE", "FR", "GB", "US", "NL", "ES", "IT", "PL", "SE", "IE"]
PLANS = ["free", "basic", "pro", "enterprise"]
FIRST = ["ana", "ben", "chloe", "dev", "eva", "finn", "gia", "hugo", "ines", "jan", "kim", "leo"]
LAST = ["smith", "muller", "garcia", "rossi", "novak", "dubois", "jansen", "silva", "berg"]
CSV_COLUMNS = [
    "id",
    "email",
    "full_name",
    "phone",
    "card_number",
    "country",
    "plan",
    "signup_date",
    "last_seen",
    "age",
    "income",
    "score",
    "is_active",
    "sex",
    "label",
    "prediction",
]


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _batch(rng, start: int, n: int):
    """One batch of rows as a pyarrow Table."""
    import numpy as np
    import pyarrow as pa

    ids = np.arange(start, start + n, dtype=np.int64)
    first = np.array(FIRST)[rng.integers(0, len(FIRST), n)]
    last = np.array(LAST)[rng.integers(0, len(LAST), n)]
    email = np.char.add(
        np.char.add(np.char.add(first, "."), last), np.char.mod("%d@example.com", ids)
    )
    full_name = np.char.add(np.char.add(np.char.capitalize(first), " "), np.char.capitalize(last))
    phone = np.char.mod("+44 20 7%07d", rng.integers(0, 10_000_000, n))
    cards = [f"4{d:014d}" for d in rng.integers(0, 10**14, 64)]
    card_pool = np.array([c + _luhn_digit(c) for c in cards])
    card = card_pool[rng.integers(0, len(card_pool), n)]
    base = np.datetime64("2020-01-01")
    signup = base + rng.integers(0, 2000, n).astype("timedelta64[D]")
    last_seen = np.datetime64("2026-01-01T00:00:00") - rng.integers(0, 10**7, n).astype(
        "timedelta64[s]"
    )
    age = rng.integers(18, 90, n).astype(float)
    age[rng.random(n) < 0.02] = np.nan  # some missing values
    income = np.round(rng.lognormal(10.5, 0.6, n), 2)
    score = np.round(rng.random(n), 4)
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    label = (rng.random(n) < np.where(sex == "F", 0.30, 0.36)).astype(np.int8)
    prediction = np.where(rng.random(n) < 0.85, label, 1 - label).astype(np.int8)
    return pa.table(
        {
            "id": ids,
            "email": email,
            "full_name": full_name,
            "phone": phone,
            "card_number": card,
            "country": np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), n)],
            "plan": np.array(PLANS)[rng.integers(0, len(PLANS), n)],
            "signup_date": signup.astype(str),
            "last_seen": np.datetime_as_string(last_seen, unit="s"),
            "age": pa.array(age, from_pandas=True).cast(pa.int64()),
            "income": income,
            "score": score,
            "is_active": rng.random(n) < 0.8,
            "sex": sex,
            "label": label,
            "prediction": prediction,
        }
    )


def csv_file(directory: Path, rows: int) -> Path:
    """Write (once) a CSV of `rows` rows under `directory` and return its path."""
    import numpy as np
    import pyarrow.csv as pacsv

    path = directory / f"people_{rows}_{SEED}.csv"
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = path.with_suffix(".part")
    rng = np.random.default_rng(SEED)
    batch_rows = 500_000
    with pacsv.CSVWriter(tmp, _batch(rng, 0, 1).schema) as writer:
        done = 0
        while done < rows:
            n = min(batch_rows, rows - done)
            writer.write_table(_batch(rng, done + 1, n))
            done += n
    tmp.rename(path)
    return path
