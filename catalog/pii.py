"""PII detection: by column name and by sampled values, with validators. Pure Python, no model.

The public API (the audits PII-scan check imports it too):

- `pii_kind_from_name(column_name)` -> the PII kind a column's *name* suggests, or "".
- `sample_distinct(values, limit=1000)` -> up to `limit` distinct non-null values, first seen first.
- `scan_values(values, column_name="")` -> one `PiiFinding` per entity in the values, best first.
- `suggest_pii(column_name, values)` -> the single best `PiiFinding` (name and values), or None.
- Validators: `luhn_valid`, `iban_valid`, `ssn_valid`, `is_ip_address`, `is_email`, `is_phone`.

Findings never hold raw values: only the entity, counts, fractions, a score and the evidence
source ("name", "values", "name+values"). Entities are `catalog.models.PiiKind` values.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_SAMPLE = 1000
# A value recognizer must match at least this share of the sample to suggest a kind by itself.
MIN_VALUE_FRACTION = 0.5
NAME_ONLY_SCORE = 0.6
NAME_CONTEXT_BOOST = 0.3

EMAIL = "email"
PHONE = "phone"
NAME = "name"
NATIONAL_ID = "national_id"
CARD_NUMBER = "card_number"
IBAN = "iban"
IP_ADDRESS = "ip_address"
ADDRESS = "address"
POSTCODE = "postcode"
DATE_OF_BIRTH = "date_of_birth"
PASSPORT = "passport"

# Order matters: the first pattern that matches a normalised name wins ("ip address" is an IP,
# not a postal address; "email address" is an e-mail).
NAME_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (EMAIL, re.compile(r"\be ?mail\b|\bemail")),
    (IP_ADDRESS, re.compile(r"\bip\b|\bip ?addr|\bipv[46]\b|\bremote addr")),
    (CARD_NUMBER, re.compile(r"credit ?card|card ?(number|num|no)\b|\bpan\b|\bcc ?(num|number)\b")),
    (IBAN, re.compile(r"\biban\b|bank ?account")),
    (
        NATIONAL_ID,
        re.compile(r"\bssn\b|social ?sec|national ?(id|insurance)|\btax ?id\b|\bnino?\b"),
    ),
    (PASSPORT, re.compile(r"passport")),
    (PHONE, re.compile(r"phone|\bmobile\b|\btel\b|telephone|\bmsisdn\b|\bfax\b")),
    (DATE_OF_BIRTH, re.compile(r"\bdob\b|date ?of ?birth|birth ?date|birthday")),
    (POSTCODE, re.compile(r"\bzip\b|zip ?code|postal|post ?code")),
    (ADDRESS, re.compile(r"address|\bstreet\b|\baddr\b")),
    (
        NAME,
        re.compile(
            r"^(first|last|full|given|family|middle|sur|maiden)? ?name$|"
            r"\b(customer|person|applicant|holder|patient|employee|contact|user) ?name\b"
        ),
    ),
]

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$"
)
_SSN_RE = re.compile(r"^(\d{3})[- ](\d{2})[- ](\d{4})$")
_IBAN_RE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_PHONE_RE = re.compile(r"^\+?[\d\s().-]{7,24}$")
_DATE_LIKE_RE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")
_CARD_RE = re.compile(r"^\d(?:[ -]?\d){12,18}$")


@dataclass(frozen=True)
class PiiFinding:
    """What a scan found for one entity in one column. Holds no raw values."""

    entity: str
    score: float
    match_fraction: float = 0.0
    matched: int = 0
    sample_size: int = 0
    evidence: str = "values"  # "name", "values" or "name+values"
    validators: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["validators"] = list(self.validators)
        data["score"] = round(self.score, 3)
        data["match_fraction"] = round(self.match_fraction, 4)
        return data


# --- validators ----------------------------------------------------------------------------


def luhn_valid(number: str) -> bool:
    """True if the digits of `number` pass the Luhn (mod 10) checksum used by payment cards."""
    digits = [int(ch) for ch in number if ch.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_card_number(value: str) -> bool:
    """13–19 digits (spaces or dashes allowed), a card-network first digit, and a valid Luhn sum."""
    if not _CARD_RE.match(value):
        return False
    digits = re.sub(r"\D", "", value)
    return digits[0] in "3456" and len(set(digits)) > 1 and luhn_valid(digits)


def iban_valid(value: str) -> bool:
    """True for an IBAN whose ISO 13616 mod-97 check equals 1."""
    compact = re.sub(r"\s", "", value).upper()
    if not _IBAN_RE.match(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def ssn_valid(value: str) -> bool:
    """A US SSN written AAA-GG-SSSS: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    match = _SSN_RE.match(value.strip())
    if not match:
        return False
    area, group, serial = match.groups()
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


_IP_CHARS = frozenset("0123456789abcdefABCDEF:.")


def is_ip_address(value: str) -> bool:
    """True for a literal IPv4 or IPv6 address."""
    if not value or len(value) > 45 or not any(ch in value for ch in ".:"):
        return False
    # Only an IPv6 scope ("%eth0") may hold other characters: anything else (an e-mail, a
    # time of day) would only raise below, and a raised ValueError per sampled value is costly.
    if "%" not in value and not _IP_CHARS.issuperset(value.strip()):
        return False
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def is_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL_RE.match(value.strip()))


def is_phone(value: str) -> bool:
    """A phone number: 7–15 digits, written with a leading + or with separators (not a bare int)."""
    text = value.strip()
    if not _PHONE_RE.match(text) or _DATE_LIKE_RE.match(text):
        return False
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15:
        return False
    return text.startswith("+") or bool(re.search(r"[\s().-]", text))


VALUE_RECOGNIZERS: list[tuple[str, Any, str]] = [
    (EMAIL, is_email, "email-syntax"),
    (CARD_NUMBER, is_card_number, "luhn"),
    (IBAN, iban_valid, "iban-mod97"),
    (NATIONAL_ID, ssn_valid, "ssn-rules"),
    (IP_ADDRESS, is_ip_address, "ip-parse"),
    (PHONE, is_phone, "phone-shape"),
]


# --- name and value scanning ---------------------------------------------------------------


def normalise_name(column_name: str) -> str:
    """'customerEmail_Address' -> 'customer email address' (word boundaries for the patterns)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column_name)
    return re.sub(r"[^a-z0-9]+", " ", spaced.lower()).strip()


def pii_kind_from_name(column_name: str) -> str:
    """The PII kind a column name suggests ("" when none): the name-regex evidence."""
    normalised = normalise_name(column_name)
    for entity, pattern in NAME_PATTERNS:
        if pattern.search(normalised):
            return entity
    return ""


def sample_distinct(values: Iterable[Any], limit: int = MAX_SAMPLE) -> list[Any]:
    """Up to `limit` distinct non-null values of `values`, in the order first seen."""
    seen: dict[Any, None] = {}
    for value in values:
        if value is None or (isinstance(value, float) and value != value):  # None or NaN
            continue
        if value not in seen:
            seen[value] = None
            if len(seen) >= limit:
                break
    return list(seen)


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None  # floats, dates and the rest are not scanned as identifiers


def scan_values(
    values: Iterable[Any], *, column_name: str = "", limit: int = MAX_SAMPLE
) -> list[PiiFinding]:
    """Run every recognizer over a distinct sample of `values`; one finding per entity, best first.

    The column name is context: a name that agrees with a value recognizer adds to its score.
    """
    sample = [text for text in (_as_text(v) for v in sample_distinct(values, limit)) if text]
    if not sample:
        return []
    name_kind = pii_kind_from_name(column_name) if column_name else ""
    findings = []
    for entity, recognizer, validator in VALUE_RECOGNIZERS:
        matched = sum(1 for text in sample if recognizer(text))
        if not matched:
            continue
        fraction = matched / len(sample)
        agrees = name_kind == entity
        score = min(1.0, fraction + (NAME_CONTEXT_BOOST if agrees else 0.0))
        findings.append(
            PiiFinding(
                entity=entity,
                score=score,
                match_fraction=fraction,
                matched=matched,
                sample_size=len(sample),
                evidence="name+values" if agrees else "values",
                validators=(validator,),
            )
        )
    return sorted(findings, key=lambda f: (-f.score, f.entity))


def suggest_pii(column_name: str, values: Iterable[Any] = ()) -> PiiFinding | None:
    """The best PII suggestion for a column from its name and sampled values, or None.

    Values win when a recognizer matches at least half the sample; otherwise a name match alone
    suggests its kind with a moderate score (e.g. `first_name`, where no validator exists).
    """
    sample = sample_distinct(values)
    findings = scan_values(sample, column_name=column_name)
    best = findings[0] if findings else None
    if best is not None and best.match_fraction >= MIN_VALUE_FRACTION:
        return best
    name_kind = pii_kind_from_name(column_name)
    if name_kind:
        scanned = sum(1 for v in sample if _as_text(v))
        return PiiFinding(
            entity=name_kind, score=NAME_ONLY_SCORE, sample_size=scanned, evidence="name"
        )
    return None
