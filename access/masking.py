"""Masking of personal data before it leaves the server (SPEC.md §4).

Pure functions: no database, no settings read at import time, no pandas import (a DataFrame
is only ever passed in). Rules:

- `redact`: letters become x / X (case kept), digits become 0, everything else stays.
- `show_last_4` / `show_first_4`: keep 4 characters, replace the others with `*`. A value of
  4 characters or fewer is fully starred (showing "the last 4" of "1234" would show it all).
- `hash`: keyed HMAC-SHA256, hex. The same value under the same key always gives the same
  hash, so masked columns still join; without the key nobody can test guesses against it.
- `nullify`: the value is removed (None).
- `date_show_year`: a date, datetime or ISO-like string becomes its year ("1987"); anything
  that is not a recognisable date becomes None.

A column's `masking` field overrides the default rule for its PII kind. A column with no PII
kind and no masking rule is not masked. In masked mode, a column the catalog does not know
(no Column row) is withheld (None): unclassified data is treated as personal until described.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

REDACT = "redact"
SHOW_LAST_4 = "show_last_4"
SHOW_FIRST_4 = "show_first_4"
HASH = "hash"
NULLIFY = "nullify"
DATE_SHOW_YEAR = "date_show_year"
RULES = (REDACT, SHOW_LAST_4, SHOW_FIRST_4, HASH, NULLIFY, DATE_SHOW_YEAR)
WITHHELD = NULLIFY  # the rule applied to columns the catalog has not classified

# Default rule per PII kind (catalog.models.PiiKind values).
DEFAULT_RULES: dict[str, str] = {
    "email": HASH,  # joins on e-mail still work
    "phone": SHOW_LAST_4,
    "name": HASH,
    "national_id": HASH,
    "card_number": SHOW_LAST_4,  # what a receipt shows (PCI DSS allows the last four)
    "iban": SHOW_LAST_4,
    "ip_address": HASH,
    "address": REDACT,
    "postcode": REDACT,
    "date_of_birth": DATE_SHOW_YEAR,
    "passport": HASH,
    "free_text": NULLIFY,  # free text cannot be masked reliably: withhold it
    "other": REDACT,
}
FALLBACK_RULE = REDACT  # a PII kind we do not know yet

_YEAR = re.compile(r"^\s*(\d{4})(?:[-/.]\d{1,2}(?:[-/.]\d{1,2})?)?(?:[T ].*)?\s*$")
_DMY = re.compile(r"^\s*\d{1,2}[-/.]\d{1,2}[-/.](\d{4})\s*$")


def rule_for(pii_kind: str, override: str = "") -> str | None:
    """The masking rule for a column: its override, else its PII kind's default, else None."""
    if override:
        if override not in RULES:
            raise ValueError(f"unknown masking rule {override!r}")
        return override
    if not pii_kind:
        return None
    return DEFAULT_RULES.get(pii_kind, FALLBACK_RULE)


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas.NA (without importing pandas)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(value != value)  # NaN, NaT and pd.NA compare unequal to themselves
    except TypeError:  # pd.NA raises on bool()
        return True


def _text(value: Any) -> str:
    """A canonical text form, so 42, 42.0 and "42" hash alike across files and tables."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _text(value.item())
    return str(value)


def redact(text: str) -> str:
    out = []
    for ch in text:
        if ch.isdigit():
            out.append("0")
        elif ch.isalpha():
            out.append("X" if ch.isupper() else "x")
        else:
            out.append(ch)
    return "".join(out)


def show_last_4(text: str) -> str:
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def show_first_4(text: str) -> str:
    if len(text) <= 4:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 4)


def keyed_hash(text: str, key: str | bytes) -> str:
    if not key:
        raise ValueError("a masking key is required for the hash rule")
    raw_key = key.encode() if isinstance(key, str) else key
    return hmac.new(raw_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def year_of(value: Any) -> str | None:
    if isinstance(value, datetime | date):
        return f"{value.year:04d}"
    if hasattr(value, "year") and isinstance(getattr(value, "year", None), int):
        return f"{value.year:04d}"  # pandas Timestamp, numpy datetime wrappers
    text = _text(value)
    match = _YEAR.match(text) or _DMY.match(text)
    return match.group(1) if match else None


def mask_value(value: Any, rule: str | None, *, key: str | bytes) -> Any:
    """Mask one value by `rule`; None (no rule) returns it unchanged; missing stays missing."""
    if rule is None:
        return value
    if is_missing(value) or rule == NULLIFY:
        return None
    if rule == DATE_SHOW_YEAR:
        return year_of(value)
    text = _text(value)
    if rule == REDACT:
        return redact(text)
    if rule == SHOW_LAST_4:
        return show_last_4(text)
    if rule == SHOW_FIRST_4:
        return show_first_4(text)
    if rule == HASH:
        return keyed_hash(text, key)
    raise ValueError(f"unknown masking rule {rule!r}")


def column_rules(
    columns: Iterable[Any], *, masked: bool, names: Iterable[str] | None = None
) -> dict[str, str]:
    """Map column name -> rule for a read. `columns` are catalog Column rows (or look-alikes).

    Full reads mask nothing. Masked reads mask every PII column by its rule, and withhold
    any name in `names` (the source's columns) that the catalog does not know.
    """
    if not masked:
        return {}
    known = {c.name: c for c in columns}
    rules = {}
    for name, column in known.items():
        rule = rule_for(column.pii_kind or "", column.masking or "")
        if rule:
            rules[name] = rule
    for name in names or ():
        if name not in known:
            rules[name] = WITHHELD
    return rules


def mask_row(row: Mapping[str, Any], rules: Mapping[str, str], *, key: str | bytes) -> dict:
    """Mask one row given as a mapping of column name -> value."""
    return {name: mask_value(value, rules.get(name), key=key) for name, value in row.items()}


def mask_frame(frame: pd.DataFrame, rules: Mapping[str, str], *, key: str | bytes) -> pd.DataFrame:
    """Return a copy of `frame` with each ruled column masked (object dtype, None for missing)."""
    import pandas as pd

    out = frame.copy()
    for name, rule in rules.items():
        if name not in out.columns:
            continue
        values = [mask_value(v, rule, key=key) for v in out[name].tolist()]
        out[name] = pd.Series(values, index=out.index, dtype=object)
    return out
