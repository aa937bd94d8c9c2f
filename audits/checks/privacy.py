"""PII scan and retention: data checks that compare what the data holds with what is declared.

The PII scan keeps at most 1,000 distinct non-null values per column during the run's one pass
(SPEC §3), runs `catalog.pii`'s recognizers and validators on them, and reports per column the
entity, match fraction, score, sample size and evidence source, never a raw value.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from audits.checks.quality import Accumulator, CheckContext
from audits.checks.results import make_result

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SAMPLE_LIMIT = 1000


def pii_compare(column: str, declared: str, values: list[Any]) -> dict[str, Any]:
    """One column's finding against its declared kind; `proposal` says what a steward could set."""
    from catalog.pii import suggest_pii

    finding = suggest_pii(column, values)
    entity = finding.entity if finding else ""
    row: dict[str, Any] = {
        "column": column,
        "declared": declared or "",
        "detected": entity,
        "score": round(finding.score, 3) if finding else 0.0,
        "match_fraction": round(finding.match_fraction, 4) if finding else 0.0,
        "sample_size": len(values),
        "evidence": finding.evidence if finding else "",
        "validators": list(finding.validators) if finding else [],
    }
    if entity and entity != (declared or ""):
        row["finding"] = "undeclared" if not declared else "different"
        row["proposal"] = entity
    elif declared and not entity:
        row["finding"] = "declared_not_detected"  # reported, never proposed for removal
    else:
        row["finding"] = "agrees"
    return row


def pii_result(spec: dict[str, Any], rows: list[dict[str, Any]], total: int) -> dict[str, Any]:
    mismatched = [r for r in rows if r["finding"] in ("undeclared", "different")]
    return make_result(
        spec=spec,
        success=not mismatched,
        observed_value=len(mismatched),
        element_count=total,
        unexpected_count=len(mismatched),
        details={
            "columns": rows,
            "sample_limit": SAMPLE_LIMIT,
            "method": "column name patterns and value recognizers with validators "
            "(catalog.pii); raw values are never stored",
            "proposals": [
                {"column": r["column"], "declared": r["declared"], "proposed": r["proposal"]}
                for r in mismatched
            ],
        },
    )


class PiiScanCheck(Accumulator):
    """Sample distinct values per column in the shared pass; compare at the end."""

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        super().__init__(spec, ctx, index)
        self.samples: dict[str, dict[Any, None]] = {c: {} for c in self.columns}
        self.total = 0

    @property
    def columns(self) -> list[str]:
        wanted = self.spec.get("columns")
        return list(wanted) if wanted else [c["name"] for c in self.ctx.columns]

    def update(self, chunk: pd.DataFrame) -> None:
        self.total += len(chunk)
        for column, seen in self.samples.items():
            if len(seen) >= SAMPLE_LIMIT:
                continue
            for value in chunk[column].dropna().drop_duplicates().iloc[:SAMPLE_LIMIT].tolist():
                seen.setdefault(value, None)
                if len(seen) >= SAMPLE_LIMIT:
                    break

    def finish(self) -> dict[str, Any]:
        rows = [
            pii_compare(c, self.ctx.declared_pii.get(c, ""), list(v))
            for c, v in self.samples.items()
        ]
        return pii_result(self.spec, rows, self.total)


def retention_facts_result(
    spec: dict[str, Any],
    ctx: CheckContext,
    *,
    total: int | None,
    expired_rows: int | None,
    nulls: int | None,
) -> dict[str, Any]:
    """Retention and legal basis: rows past the period, and personal data without a basis."""
    facts = ctx.facts
    findings: list[str] = []
    days = facts.get("retention_days")
    personal = bool(facts.get("pii_columns"))
    if personal and not facts.get("legal_basis"):
        findings.append("personal data without a legal basis (GDPR Art. 6)")
    if personal and not (facts.get("purpose") or "").strip():
        findings.append("personal data without a stated purpose (GDPR Art. 5(1)(b))")
    if days is None:
        if personal:
            findings.append("personal data without a retention period")
    elif expired_rows:
        findings.append(f"{expired_rows} rows are older than the {days}-day retention period")
    elif expired_rows is None and facts.get("oldest_version_at"):
        oldest = dt.datetime.fromisoformat(facts["oldest_version_at"])
        if ctx.now - oldest > dt.timedelta(days=days):
            findings.append(
                f"the dataset has been kept since {oldest.date()}, longer than its "
                f"{days}-day retention period"
            )
    return make_result(
        spec=spec,
        success=not findings,
        observed_value=len(findings),
        element_count=total,
        missing_count=nulls,
        unexpected_count=expired_rows,
        details={
            "findings": findings,
            "retention_days": days,
            "legal_basis": facts.get("legal_basis") or "",
            "purpose_recorded": bool((facts.get("purpose") or "").strip()),
            "pii_columns": facts.get("pii_columns", []),
            "date_column": spec.get("date_column"),
            "rule": "rows older than now - retention_days; personal data needs a legal "
            "basis, a purpose and a retention period",
        },
    )


class RetentionCheck(Accumulator):
    """Counts rows whose `date_column` is older than the retention period (when both are set)."""

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        super().__init__(spec, ctx, index)
        self.total = 0
        self.expired: int | None = None
        self.nulls: int | None = None
        days = ctx.facts.get("retention_days")
        self.cutoff = ctx.now - dt.timedelta(days=days) if days else None

    @property
    def columns(self) -> list[str]:
        return [self.spec["date_column"]] if self.spec.get("date_column") else []

    def update(self, chunk: pd.DataFrame) -> None:
        from audits.checks.quality import utc_stamps

        self.total += len(chunk)
        if not self.spec.get("date_column") or self.cutoff is None:
            return
        stamps = utc_stamps(chunk[self.spec["date_column"]])
        self.nulls = (self.nulls or 0) + int(stamps.isna().sum())
        self.expired = (self.expired or 0) + int((stamps < self.cutoff).sum())

    def finish(self) -> dict[str, Any]:
        return retention_facts_result(
            self.spec, self.ctx, total=self.total, expired_rows=self.expired, nulls=self.nulls
        )
