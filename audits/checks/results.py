"""The one result shape every check returns (SPEC §1, GX's shape), and suite statistics.

Results are plain JSON-safe dicts so they can be stored in a JSONField, served by the API and
hashed into a report without conversion.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

SEVERITIES = ("critical", "warning", "info")
STATUSES = ("pass", "warn", "fail", "error", "not_applicable")
PARTIAL_LIMIT = 20

Masker = Callable[[Any], Any]


def json_value(value: Any) -> Any:
    """A JSON-safe form of a scalar read by pandas or psycopg (numpy types, timestamps, NaN)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        with contextlib.suppress(ValueError, AttributeError):
            value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def percent(part: int | float, whole: int | float) -> float | None:
    """part / whole * 100, or None when there is nothing to divide by (never a made-up 0)."""
    return None if not whole else part / whole * 100.0


def status_for(success: bool, severity: str) -> str:
    """A failed critical check fails the run; a failed warning or info check only warns."""
    if success:
        return "pass"
    return "fail" if severity == "critical" else "warn"


def make_result(
    *,
    spec: dict[str, Any],
    success: bool,
    status: str | None = None,
    observed_value: Any = None,
    element_count: int | None = None,
    missing_count: int | None = None,
    unexpected_count: int | None = None,
    partial: list[Any] | None = None,
    partial_counts: dict[Any, int] | None = None,
    mask: Masker | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build one result in SPEC §1's shape; examples are masked with `mask` when given."""
    severity = spec.get("severity", "critical")
    non_null = None
    if element_count is not None and missing_count is not None:
        non_null = element_count - missing_count
    examples = [json_value(v) for v in (partial or [])[:PARTIAL_LIMIT]]
    counts = [{"value": json_value(v), "count": int(c)} for v, c in (partial_counts or {}).items()][
        :PARTIAL_LIMIT
    ]
    if mask is not None:
        examples = [None if v is None else mask(v) for v in examples]
        counts = [
            {"value": None if c["value"] is None else mask(c["value"]), "count": c["count"]}
            for c in counts
        ]
    return {
        "kind": spec["kind"],
        "column": spec.get("column"),
        "success": bool(success),
        "severity": severity,
        "status": status or status_for(success, severity),
        "observed_value": json_value(observed_value)
        if not isinstance(observed_value, dict | list)
        else observed_value,
        "element_count": element_count,
        "missing_count": missing_count,
        "missing_percent": percent(missing_count, element_count)
        if missing_count is not None
        else None,
        "unexpected_count": unexpected_count,
        "unexpected_percent": percent(unexpected_count, non_null)
        if unexpected_count is not None and non_null is not None
        else None,
        "unexpected_percent_total": percent(unexpected_count, element_count)
        if unexpected_count is not None and element_count is not None
        else None,
        "partial_unexpected_list": examples,
        "partial_unexpected_counts": counts,
        "masked": mask is not None,
        "exception_info": None,
        "details": details or {},
    }


def error_result(spec: dict[str, Any], message: str) -> dict[str, Any]:
    """A check that could not be evaluated: status error, with a message (never a traceback)."""
    result = make_result(spec=spec, success=False, status="error")
    result["exception_info"] = {"message": message}
    return result


def not_applicable_result(spec: dict[str, Any], reason: str) -> dict[str, Any]:
    """A check that does not apply to this dataset (e.g. no baseline yet); not a failure."""
    result = make_result(spec=spec, success=True, status="not_applicable")
    result["details"] = {"reason": reason}
    return result


def suite_statistics(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """GX's suite statistics: evaluated (not counting not-applicable), successful, unsuccessful."""
    evaluated = successful = 0
    by_status = dict.fromkeys(STATUSES, 0)
    by_severity: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for result in results:
        by_status[result["status"]] = by_status.get(result["status"], 0) + 1
        if result["status"] == "not_applicable":
            continue
        evaluated += 1
        if result["success"]:
            successful += 1
        else:
            by_severity[result["severity"]] = by_severity.get(result["severity"], 0) + 1
    return {
        "evaluated": evaluated,
        "successful": successful,
        "unsuccessful": evaluated - successful,
        "success_percent": percent(successful, evaluated),
        "by_status": by_status,
        "unsuccessful_by_severity": by_severity,
    }
