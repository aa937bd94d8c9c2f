"""Check specifications: what each check kind accepts, validated before a policy is saved.

A spec is a JSON object: `{"kind": "range", "column": "age", "min_value": 0, "max_value": 120}`.
`validate_checks` returns normalised copies (defaults filled in) or raises `CheckSpecError`
with one message per bad check, so a policy is never half-saved with a check that can't run.
"""

from __future__ import annotations

import re
from typing import Any

from audits.checks.results import SEVERITIES

ACTIONS = ("fail", "warn", "ignore")
REGEX_MODES = ("fullmatch", "match", "search")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# kind -> (label, required keys, {optional key: default})
_COMMON = {"severity": "critical", "name": ""}
KINDS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "not_null": ("Not null / completeness", ("column",), {"mostly": 1.0}),
    "unique": ("Uniqueness", ("column",), {"mostly": 1.0}),
    "range": (
        "Value range",
        ("column",),
        {
            "min_value": None,
            "max_value": None,
            "strict_min": False,
            "strict_max": False,
            "mostly": 1.0,
        },
    ),
    "allowed_values": ("Allowed values", ("column", "value_set"), {"mostly": 1.0}),
    "regex": ("Regular expression", ("column", "regex"), {"mode": "fullmatch", "mostly": 1.0}),
    "row_count": ("Row count bounds", (), {"min_value": None, "max_value": None}),
    "freshness": ("Freshness", ("column", "max_age"), {}),
    "schema_drift": (
        "Schema drift against the current version",
        (),
        {"added": "warn", "removed": "fail", "retyped": "fail", "reordered": "warn"},
    ),
    "distribution_drift": (
        "Distribution drift against a reference version",
        ("column",),
        {"reference_version": None, "method": "auto", "p_value_threshold": 0.05},
    ),
    "fairness": (
        "Fairness (selection rates, parity, four-fifths rule)",
        ("label", "protected"),
        {
            "prediction": None,
            "pos_label": 1,
            "weight": None,
            "privileged": None,
            "ratio_threshold": 0.8,
            "difference_threshold": 0.10,
            "min_group_size": 30,
        },
    ),
    "pii_scan": ("PII scan against the declared classification", (), {"columns": None}),
    "access_review": (
        "Access review",
        (),
        {"unused_days": 90, "pending_days": 7},
    ),
    "retention": ("Retention and legal basis", (), {"date_column": None}),
}
COLUMN_KINDS = {k for k, (_, required, _) in KINDS.items() if "column" in required}


class CheckSpecError(ValueError):
    """One or more check specs are invalid; `messages` lists what to fix, per check."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def parse_age(text: str) -> float:
    """'1d' -> 86400.0 seconds; accepts s, m, h, d, w."""
    match = _AGE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not an age: use a number and a unit, e.g. 6h, 1d, 2w")
    return float(match.group(1)) * _AGE_SECONDS[match.group(2)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_kind_params(kind: str, spec: dict[str, Any]) -> list[str]:  # noqa: C901
    errors: list[str] = []
    mostly = spec.get("mostly")
    if mostly is not None and (not _is_number(mostly) or not 0 <= mostly <= 1):
        errors.append("mostly must be a number between 0 and 1")
    if kind in ("range", "row_count"):
        lo, hi = spec.get("min_value"), spec.get("max_value")
        if lo is None and hi is None:
            errors.append("give min_value, max_value or both")
        for key, value in (("min_value", lo), ("max_value", hi)):
            if value is not None and not (_is_number(value) or isinstance(value, str)):
                errors.append(f"{key} must be a number or an ISO date")
        if _is_number(lo) and _is_number(hi) and lo > hi:
            errors.append("min_value is greater than max_value")
    if kind == "allowed_values" and (
        not isinstance(spec["value_set"], list) or not spec["value_set"]
    ):
        errors.append("value_set must be a non-empty list")
    if kind == "regex":
        if spec.get("mode") not in REGEX_MODES:
            errors.append(f"mode must be one of {', '.join(REGEX_MODES)}")
        try:
            re.compile(str(spec["regex"]))
        except re.error as exc:
            errors.append(f"regex does not compile: {exc}")
    if kind == "freshness":
        try:
            parse_age(spec["max_age"])
        except ValueError as exc:
            errors.append(str(exc))
    if kind == "schema_drift":
        for key in ("added", "removed", "retyped", "reordered"):
            if spec.get(key) not in ACTIONS:
                errors.append(f"{key} must be one of {', '.join(ACTIONS)}")
    if kind == "distribution_drift":
        if spec.get("method") not in ("auto", "psi", "chi_square"):
            errors.append("method must be auto, psi or chi_square")
        ref = spec.get("reference_version")
        if ref is not None and (not isinstance(ref, int) or ref < 1):
            errors.append("reference_version must be a version number")
    if kind == "fairness":
        errors.extend(_fairness_errors(spec))
    if kind == "access_review":
        for key in ("unused_days", "pending_days"):
            if not isinstance(spec.get(key), int) or spec[key] < 1:
                errors.append(f"{key} must be a whole number of days, at least 1")
    return errors


def _fairness_errors(spec: dict[str, Any]) -> list[str]:
    errors = []
    protected = spec.get("protected")
    if isinstance(protected, str):
        spec["protected"] = protected = [protected]
    if (
        not isinstance(protected, list)
        or not protected
        or not all(isinstance(p, str) and p for p in protected)
    ):
        errors.append("protected must name one or more columns")
    for key in ("ratio_threshold", "difference_threshold"):
        if not _is_number(spec.get(key)) or not 0 <= spec[key] <= 1:
            errors.append(f"{key} must be a number between 0 and 1")
    if not isinstance(spec.get("min_group_size"), int) or spec["min_group_size"] < 1:
        errors.append("min_group_size must be a whole number, at least 1")
    return errors


def validate_check(raw: Any, index: int = 0) -> dict[str, Any]:
    """Return a normalised copy of one check spec, or raise CheckSpecError."""
    where = f"check {index + 1}"
    if not isinstance(raw, dict):
        raise CheckSpecError([f"{where}: must be an object with a 'kind'"])
    kind = raw.get("kind")
    if kind not in KINDS:
        raise CheckSpecError([f"{where}: unknown kind {kind!r}; one of {', '.join(KINDS)}"])
    _, required, optional = KINDS[kind]
    allowed = {"kind", *required, *optional, *_COMMON}
    errors = [f"unknown parameter {key!r}" for key in raw if key not in allowed]
    errors += [f"{key} is required" for key in required if raw.get(key) in (None, "", [])]
    spec = {"kind": kind, **_COMMON, **optional, **{k: v for k, v in raw.items() if k in allowed}}
    if spec["severity"] not in SEVERITIES:
        errors.append(f"severity must be one of {', '.join(SEVERITIES)}")
    if not errors:
        errors = _check_kind_params(kind, spec)
    if errors:
        raise CheckSpecError([f"{where} ({kind}): {e}" for e in errors])
    return spec


def validate_checks(raw: Any) -> list[dict[str, Any]]:
    """Validate a policy's list of checks; all problems are reported at once."""
    if not isinstance(raw, list) or not raw:
        raise CheckSpecError(["checks must be a non-empty list"])
    specs, messages = [], []
    for index, item in enumerate(raw):
        try:
            specs.append(validate_check(item, index))
        except CheckSpecError as exc:
            messages.extend(exc.messages)
    if messages:
        raise CheckSpecError(messages)
    return specs


def check_label(spec: dict[str, Any]) -> str:
    """A short human label: 'range(age)', or the spec's own name."""
    if spec.get("name"):
        return spec["name"]
    target = spec.get("column") or spec.get("label") or ""
    return f"{spec['kind']}({target})" if target else spec["kind"]
