"""Bulk metadata as CSV: export what the user can see; import (dry run first) what they may change.

One CSV row per dataset (record=dataset) and per column (record=column). An import applies
all rows or none: any row error refuses the whole file, so a half-applied import cannot happen.
Every applied change goes through `dataset_update` / `column_update`, so each is in the ledger.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet

from catalog.models import (
    Column,
    Dataset,
    LegalBasis,
    MaskingRule,
    PiiKind,
    ProtectedAttribute,
    Sensitivity,
)
from catalog.services import column_update, dataset_update

User = get_user_model()

HEADER = [
    "record",
    "dataset",
    "column",
    "title",
    "description",
    "owner",
    "stewards",
    "domain",
    "tags",
    "glossary_terms",
    "sensitivity",
    "legal_basis",
    "purpose",
    "retention_days",
    "pii_kind",
    "protected_attribute",
    "masking",
]
DATASET_COLUMNS = HEADER[3:14]
COLUMN_COLUMNS = ["description", "pii_kind", "protected_attribute", "masking"]
MAX_ROWS = 20_000
_CHOICES = {
    "sensitivity": Sensitivity.values,
    "legal_basis": LegalBasis.values,
    "pii_kind": PiiKind.values,
    "protected_attribute": ProtectedAttribute.values,
    "masking": MaskingRule.values,
}


def metadata_export_rows(datasets: QuerySet[Dataset]) -> Iterator[list[Any]]:
    """Rows for the metadata CSV of `datasets` (the policy queryset), in a fixed query count."""
    queryset = datasets.select_related("owner", "domain").prefetch_related(
        "stewards",
        "tags",
        "glossary_terms",
        Prefetch("columns", queryset=Column.objects.order_by("position")),
    )
    for ds in queryset.order_by("name"):
        yield [
            "dataset",
            ds.name,
            "",
            ds.title,
            ds.description,
            ds.owner.get_username() if ds.owner else "",
            ", ".join(sorted(u.get_username() for u in ds.stewards.all())),
            ds.domain.name if ds.domain else "",
            ", ".join(sorted(t.name for t in ds.tags.all())),
            ", ".join(sorted(t.name for t in ds.glossary_terms.all())),
            ds.sensitivity,
            ds.legal_basis,
            ds.purpose,
            ds.retention_days or "",
            "",
            "",
            "",
        ]
        for col in ds.columns.all():
            yield [
                "column",
                ds.name,
                col.name,
                "",
                col.description,
                *[""] * 9,
                col.pii_kind,
                col.protected_attribute,
                col.masking,
            ]


@dataclass
class ImportReport:
    changes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    applied: bool = False


def _uncell(value: str | None) -> str:
    """Undo the export's formula guard ('=x -> =x) and trim."""
    text = (value or "").strip()
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def _split(value: str) -> list[str]:
    return sorted({p.strip() for p in value.split(",") if p.strip()})


def _read_rows(content: bytes) -> list[dict[str, str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"The file is not UTF-8 (byte {exc.start}); save it as UTF-8 CSV."
        ) from exc
    if not text.strip():
        raise ValidationError("The file is empty.")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"record", "dataset"} - set(reader.fieldnames or [])
    if missing:
        raise ValidationError(f"Missing header column(s): {', '.join(sorted(missing))}.")
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ValidationError(f"The file is not well-formed CSV: {exc}") from exc
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"At most {MAX_ROWS:,} rows per import.")
    return rows


def _dataset_changes(ds: Dataset, row: dict[str, str], users: dict[str, Any]) -> dict[str, Any]:
    current = {
        "title": ds.title,
        "description": ds.description,
        "owner": ds.owner.get_username() if ds.owner else "",
        "stewards": sorted(u.get_username() for u in ds.stewards.all()),
        "domain": ds.domain.name if ds.domain else "",
        "tags": sorted(t.name for t in ds.tags.all()),
        "glossary_terms": sorted(t.name for t in ds.glossary_terms.all()),
        "sensitivity": ds.sensitivity,
        "legal_basis": ds.legal_basis,
        "purpose": ds.purpose,
        "retention_days": ds.retention_days,
    }
    wanted: dict[str, Any] = {}
    for key in DATASET_COLUMNS:
        if key not in row or row[key] is None:
            continue  # a column left out of the file leaves that field alone
        value = _uncell(row[key])
        if key in ("stewards", "tags", "glossary_terms"):
            wanted[key] = _split(value)
        elif key == "retention_days":
            if value and not value.isdigit():
                raise ValidationError(
                    f"retention_days must be a whole number of days, not {value!r}."
                )
            wanted[key] = int(value) if value else None
        else:
            wanted[key] = value
    for key in ("owner", "stewards"):
        names = [wanted[key]] if key == "owner" and wanted.get(key) else wanted.get(key) or []
        unknown = [n for n in names if n not in users]
        if unknown:
            raise ValidationError(f"Unknown user(s): {', '.join(unknown)}.")
    for key, values in _CHOICES.items():
        if key in wanted and wanted[key] not in values:
            raise ValidationError(
                f"{key} {wanted[key]!r} is not one of: {', '.join(v for v in values if v)}."
            )
    return {k: (current[k], v) for k, v in wanted.items() if current[k] != v}


def _column_changes(col: Column, row: dict[str, str]) -> dict[str, Any]:
    wanted = {k: _uncell(row[k]) for k in COLUMN_COLUMNS if k in row and row[k] is not None}
    for key in ("pii_kind", "protected_attribute", "masking"):
        if key in wanted and wanted[key] not in _CHOICES[key]:
            raise ValidationError(f"{key} {wanted[key]!r} is not valid.")
    return {k: (getattr(col, k), v) for k, v in wanted.items() if getattr(col, k) != v}


def metadata_import(
    *, actor: AbstractBaseUser, content: bytes, changeable: QuerySet[Dataset], apply: bool
) -> ImportReport:
    """Compare a metadata CSV with the catalog; list changes and per-row errors; apply if asked.

    `changeable` is the policy queryset of datasets `actor` may change: a row naming any other
    dataset is an error ("not found or not yours to change"), so the file reveals nothing.
    """
    report = ImportReport()
    rows = _read_rows(content)
    report.rows = len(rows)
    names = {(r.get("dataset") or "").strip() for r in rows}
    datasets = {
        d.name: d
        for d in changeable.filter(name__in=names)
        .select_related("owner", "domain")
        .prefetch_related("stewards", "tags", "glossary_terms", "columns")
    }
    users = {u.get_username(): u for u in User.objects.filter(is_active=True)}
    plan: list[tuple[str, Any, dict[str, Any]]] = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        name, record = (row.get("dataset") or "").strip(), (row.get("record") or "").strip()
        try:
            ds = datasets.get(name)
            if ds is None:
                raise ValidationError(
                    f"Dataset {name or '(blank)'} not found or not yours to change."
                )
            if record == "dataset":
                target, changes = ds, _dataset_changes(ds, row, users)
            elif record == "column":
                col = next(
                    (c for c in ds.columns.all() if c.name == (row.get("column") or "").strip()),
                    None,
                )
                if col is None:
                    raise ValidationError(f"{name} has no column {row.get('column')!r}.")
                target, changes = col, _column_changes(col, row)
            else:
                raise ValidationError(f"record must be 'dataset' or 'column', not {record!r}.")
        except ValidationError as exc:
            report.errors.append(
                {"row": number, "dataset": name, "message": " ".join(exc.messages)}
            )
            continue
        for key, (before, after) in changes.items():
            report.changes.append(
                {
                    "row": number,
                    "dataset": name,
                    "column": row.get("column") or "",
                    "field": key,
                    "before": before,
                    "after": after,
                }
            )
        if changes:
            plan.append((record, target, {k: after for k, (_b, after) in changes.items()}))
    if apply and not report.errors and plan:
        _apply(actor=actor, plan=plan, users=users)
        report.applied = True
    return report


@transaction.atomic
def _apply(
    *, actor: AbstractBaseUser, plan: list[tuple[str, Any, dict[str, Any]]], users: dict[str, Any]
) -> None:
    for record, target, data in plan:
        if record == "dataset":
            if "owner" in data:
                data["owner"] = users.get(data["owner"]) if data["owner"] else None
            if "stewards" in data:
                data["stewards"] = [users[n] for n in data["stewards"]]
            dataset_update(dataset=target, actor=actor, data=data)
        else:
            column_update(column=target, actor=actor, data=data)
