"""Audit reports (per run), compliance reports (a period and a selection) and the Art. 30 record.

Each report is one JSON-safe dict (SPEC §7). Its integrity block holds the sha256 of the
canonical JSON of everything else (sorted keys, compact separators, UTF-8); that digest is
recorded in the ledger with the download and printed in the PDF and the CSV. The same dict
renders as JSON, CSV and PDF (reportlab), so the three formats always agree.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils import timezone

from audits.checks.specs import KINDS, check_label
from audits.models import AuditRun, CheckResult, ProcessingActivity, Report
from catalog.models import Dataset, Domain, IssueReport, Tag
from ledger.services import ledger_record

RULES = {
    "fairness": "four-fifths rule (29 CFR 1607.4(D)) with a significance test; parity "
    "differences and ratios between groups (fairlearn between_groups)",
    "retention": "rows older than the retention period; personal data needs a legal basis "
    "(GDPR Art. 6), a purpose and a retention period",
    "distribution_drift": "PSI on 10 equal-width bins (<0.1 stable, 0.1-0.25 moderate, "
    ">0.25 significant); chi-square for categories",
    "access_review": "grants past expiry, unused grants, readers without a current grant, "
    "requests pending too long",
    "pii_scan": "PII found by name patterns and value validators vs the declared classification",
}
FINDING_FIELDS = [
    "index",
    "check",
    "kind",
    "column",
    "status",
    "success",
    "severity",
    "observed_value",
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "partial_unexpected_list",
    "exception_info",
]


def canonical(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def _who(user: AbstractBaseUser | None) -> str | None:
    return user.get_username() if user is not None and user.is_authenticated else None


@transaction.atomic
def _seal(
    *,
    kind: str,
    body: dict[str, Any],
    actor: AbstractBaseUser | None,
    run: AuditRun | None = None,
    parameters: dict | None = None,
    fmt: str = "",
) -> dict[str, Any]:
    """Give the report an id, compute its digest, store it, and log the download."""
    record = Report.objects.create(
        kind=kind,
        run=run,
        parameters=parameters or {},
        sha256="",
        generated_by=actor if _who(actor) else None,
    )
    body["report"]["id"] = f"{kind}-{record.pk}"
    digest = hashlib.sha256(canonical(body)).hexdigest()
    Report.objects.filter(pk=record.pk).update(sha256=digest)
    ledger_record(
        actor=actor,
        action="audit_report.downloaded",
        target=record,
        data={
            "kind": kind,
            "sha256": digest,
            "run": run.pk if run else None,
            "parameters": parameters or {},
            "format": fmt,
        },
    )
    return {
        **body,
        "integrity": {
            "sha256": digest,
            "method": "sha256 of the canonical JSON (sorted keys, compact, UTF-8) of this report "
            "without the integrity block",
        },
    }


def _header(kind: str, actor: AbstractBaseUser | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": None,
        "kind": kind,
        "generated_at": timezone.now().astimezone(dt.UTC).isoformat(),
        "requested_by": _who(actor),
        "charter_version": settings.CHARTER_VERSION,
        **extra,
    }


def _criteria(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for index, spec in enumerate(specs):
        params = {k: v for k, v in spec.items() if k not in ("kind", "name")}
        out.append(
            {
                "index": index,
                "check": check_label(spec),
                "kind": spec["kind"],
                "description": KINDS[spec["kind"]][0],
                "parameters": params,
                "rule": RULES.get(spec["kind"], "SPEC §1 semantics (GX result shape)"),
            }
        )
    return out


def _finding(result: CheckResult) -> dict[str, Any]:
    data = dict(result.result)
    data["index"] = result.index
    data["check"] = result.label
    return data


def _conclusions(findings: list[dict[str, Any]], state: str) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for f in findings:
        by_status[f["status"]] = by_status.get(f["status"], 0) + 1
        if not f["success"]:
            by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    evaluated = [f for f in findings if f["status"] != "not_applicable"]
    met = sum(1 for f in evaluated if f["success"])
    return {
        "overall_status": state,
        "counts_by_status": by_status,
        "unsuccessful_by_severity": by_severity,
        "criteria_evaluated": len(evaluated),
        "criteria_met": met,
        "share_of_criteria_met": round(met / len(evaluated), 6) if evaluated else None,
    }


def run_report_generate(
    *, run: AuditRun, actor: AbstractBaseUser | None, fmt: str = ""
) -> dict[str, Any]:
    """The report of one run (SPEC §7): header, scope, criteria, findings, conclusions."""
    dataset = run.dataset
    version = run.version
    findings = [_finding(r) for r in run.results.order_by("index")]
    asked = _who(run.requested_by) or (
        f"schedule of policy {run.policy.name}"
        if run.trigger == AuditRun.Trigger.SCHEDULE
        else "system"
    )
    body = {
        "report": _header(
            "audit_run",
            actor,
            run_id=run.pk,
            policy=run.policy.name,
            asked_by=asked,
            trigger=run.trigger,
            task_id=run.task_id,
            started_at=_iso(run.started_at),
            finished_at=_iso(run.finished_at),
        ),
        "scope": {
            "dataset": dataset.name,
            "owner": _who(dataset.owner),
            "stewards": sorted(dataset.stewards.values_list("username", flat=True)),
            "source": {
                "kind": dataset.source_kind,
                "location": dataset.location,
                "connection": dataset.connection.name if dataset.connection_id else None,
            },
            "version": {
                "id": version.pk,
                "number": version.number,
                "fingerprint": version.fingerprint,
                "row_count": version.row_count,
            }
            if version
            else None,
            "sample": run.scope or {},
        },
        "criteria": _criteria(run.checks),
        "findings": findings,
        "conclusions": {**_conclusions(findings, run.state), "error": run.error_message or None},
        "evidence": {"queries": run.evidence},
    }
    return _seal(
        kind=Report.Kind.RUN, body=body, actor=actor, run=run, parameters={"run": run.pk}, fmt=fmt
    )


def _iso(value: Any) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def compliance_report_generate(
    *,
    actor: AbstractBaseUser,
    start: dt.date,
    end: dt.date,
    tag: Tag | None = None,
    domain: Domain | None = None,
    tier: str = "",
    datasets: Any = None,
) -> dict[str, Any]:
    """Classifications, PII, legal bases, retention, grants, audits and open issues per dataset."""
    from access.models import AccessGrant
    from access.policies import datasets_for

    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    until = dt.datetime.combine(end, dt.time.max, tzinfo=dt.UTC)
    selection = datasets if datasets is not None else datasets_for(actor, "view")
    if tag is not None:
        selection = selection.filter(tags=tag)
    if domain is not None:
        selection = selection.filter(domain=domain)
    if tier:
        selection = selection.filter(sensitivity=tier)
    selection = (
        Dataset.objects.filter(pk__in=selection.values("pk"))
        .select_related("owner", "domain")
        .prefetch_related("columns", "stewards")
        .annotate(
            open_issues=Count(
                "issue_reports",
                filter=Q(issue_reports__status__in=IssueReport.OPEN_STATUSES),
                distinct=True,
            )
        )
    )
    rows = []
    for ds in selection.order_by("name"):
        runs = AuditRun.objects.filter(dataset=ds, queued_at__range=(since, until))
        states = dict(runs.values_list("state").annotate(n=Count("pk")))
        grants = AccessGrant.objects.filter(dataset=ds, starts_at__lte=until).filter(
            Q(ended_at__isnull=True) | Q(ended_at__gte=since)
        )
        rows.append(
            {
                "dataset": ds.name,
                "owner": _who(ds.owner),
                "domain": str(ds.domain or ""),
                "sensitivity": ds.sensitivity,
                "legal_basis": ds.legal_basis or None,
                "purpose_recorded": bool(ds.purpose.strip()),
                "retention_days": ds.retention_days,
                "pii_columns": {c.name: c.pii_kind for c in ds.columns.all() if c.pii_kind},
                "protected_attributes": {
                    c.name: c.protected_attribute for c in ds.columns.all() if c.protected_attribute
                },
                "grants": grants.count(),
                "grants_full": grants.filter(level="full").count(),
                "approvals": sum(g.approvers.count() for g in grants.prefetch_related("approvers")),
                "audit_runs": states,
                "open_issue_reports": ds.open_issues,
                "status": _dataset_status(ds, states),
            }
        )
    findings = [{"dataset": r["dataset"], "status": r["status"]} for r in rows]
    body = {
        "report": _header("compliance", actor, asked_by=_who(actor)),
        "scope": {
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "selection": {
                "tag": tag.name if tag else None,
                "domain": domain.name if domain else None,
                "tier": tier or None,
            },
            "datasets": len(rows),
        },
        "criteria": [
            {
                "criterion": "personal data has a legal basis and a purpose",
                "rule": "GDPR Art. 6, 5(1)(b)",
            },
            {"criterion": "personal data has a retention period", "rule": "GDPR Art. 5(1)(e)"},
            {
                "criterion": "no failed or errored audit runs in the period",
                "rule": "audit policies",
            },
            {"criterion": "no open issue reports", "rule": "issue reports"},
        ],
        "findings": rows,
        "conclusions": {
            "datasets": len(rows),
            "counts_by_status": _count(findings, "status"),
            "share_of_criteria_met": round(
                sum(1 for r in rows if r["status"] == "pass") / len(rows), 6
            )
            if rows
            else None,
        },
    }
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "tag": tag.name if tag else None,
        "domain": domain.pk if domain else None,
        "tier": tier,
    }
    return _seal(kind=Report.Kind.COMPLIANCE, body=body, actor=actor, parameters=params)


def _dataset_status(ds: Dataset, states: dict[str, int]) -> str:
    personal = any(c.pii_kind for c in ds.columns.all())
    if personal and (not ds.legal_basis or not ds.purpose.strip()):
        return "fail"
    if states.get("failed") or states.get("error"):
        return "fail"
    if (personal and ds.retention_days is None) or ds.open_issues:
        return "warn"
    return "pass"


def _count(rows: list[dict], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + 1
    return out


ROPA_FIELDS = [
    ("name", "Processing activity"),
    ("controller", "Controller (name, contact)"),
    ("dpo_contact", "Data protection officer"),
    ("purposes", "Purposes"),
    ("lawful_basis", "Lawful basis (Art. 6)"),
    ("data_subject_categories", "Categories of data subjects"),
    ("personal_data_categories", "Categories of personal data"),
    ("recipient_categories", "Categories of recipients"),
    ("third_country_transfers", "Transfers to third countries and safeguards"),
    ("erasure_time_limits", "Time limits for erasure"),
    ("retention_rule", "Retention rule"),
    ("security_measures", "Technical and organisational security measures"),
    ("source", "Source of the data"),
    ("datasets", "Linked datasets"),
    ("last_reviewed_at", "Last review"),
    ("owner", "Owner"),
]


def ropa_report_generate(*, actor: AbstractBaseUser) -> dict[str, Any]:
    """The record of processing activities (GDPR Art. 30(1)), every activity and field."""
    activities = ProcessingActivity.objects.select_related("owner").prefetch_related("datasets")
    rows = []
    for a in activities:
        rows.append(
            {
                **{
                    f: str(getattr(a, f) or "")
                    for f, _ in ROPA_FIELDS
                    if f not in ("datasets", "owner", "last_reviewed_at")
                },
                "datasets": sorted(d.name for d in a.datasets.all()),
                "owner": _who(a.owner),
                "last_reviewed_at": a.last_reviewed_at.isoformat() if a.last_reviewed_at else None,
            }
        )
    body = {
        "report": _header("ropa", actor, asked_by=_who(actor)),
        "scope": {"activities": len(rows), "article": "GDPR Art. 30(1)"},
        "criteria": [{"field": f, "label": label} for f, label in ROPA_FIELDS],
        "findings": rows,
        "conclusions": {
            "activities": len(rows),
            "missing_lawful_basis": [r["name"] for r in rows if not r["lawful_basis"]],
        },
    }
    return _seal(kind=Report.Kind.ROPA, body=body, actor=actor)


# --- rendering -----------------------------------------------------------------------------------


def render_download(report: dict[str, Any], fmt: str, basename: str) -> HttpResponse:
    if fmt == "json":
        content = json.dumps(report, indent=2, ensure_ascii=False, default=str).encode()
        content_type = "application/json"
    elif fmt == "csv":
        content = render_csv(report).encode("utf-8")
        content_type = "text/csv; charset=utf-8"
    else:
        fmt = "pdf"
        content = render_pdf(report)
        content_type = "application/pdf"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{basename}.{fmt}"'
    response["X-Report-SHA256"] = report["integrity"]["sha256"]
    return response


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return str(value)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    if rows and "status" in rows[0] and "kind" in rows[0]:
        return FINDING_FIELDS
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return keys


def render_csv(report: dict[str, Any]) -> str:
    """Metadata as key,value rows, then one row per finding; formula-like text is defused."""
    from config.exports import csv_safe

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "value"])
    for section in ("report", "scope", "conclusions"):
        for key, value in report.get(section, {}).items():
            writer.writerow([section, key, csv_safe(_cell(value))])
    for criterion in report.get("criteria", []):
        writer.writerow(
            [
                "criteria",
                criterion.get("check") or criterion.get("criterion") or criterion.get("field"),
                csv_safe(_cell(criterion)),
            ]
        )
    writer.writerow(["integrity", "sha256", report["integrity"]["sha256"]])
    writer.writerow([])
    findings = report.get("findings", [])
    columns = _columns(findings)
    writer.writerow(columns)
    for row in findings:
        writer.writerow([csv_safe(_cell(row.get(c))) for c in columns])
    return out.getvalue()


def _grid(table: Any, colors: Any) -> Any:
    from reportlab.platypus import TableStyle

    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _fairness_flowables(finding: dict, para: Any, styles: Any, colors: Any, table: Any) -> list:
    """Per-group table and overall figures of a fairness finding (SPEC §2's report)."""
    from reportlab.platypus import Paragraph

    d = finding["details"]
    keys = ["label", "n", "positives", "selection_rate", "base_rate", "tpr", "fpr", "impact_ratio"]
    rows = [[para(k) for k in [*keys, "significance"]]]
    for g in d["groups"]:
        sig = g.get("significance")
        rows.append(
            [
                para(
                    "undefined"
                    if g.get(k) is None and k in ("tpr", "fpr", "impact_ratio")
                    else g.get(k)
                )
                for k in keys
            ]
            + [para(f"{sig['test']} p={sig['p_value']:.4g}" if sig else "reference")]
        )
    metrics = "; ".join(
        f"{k} = {'undefined' if v is None else f'{v:.6g}'}" for k, v in d["metrics"].items()
    )
    return [
        Paragraph(
            f"Fairness: {finding['check']} ({d['method']}, rates from {d['rates_from']})",
            styles["Heading3"],
        ),
        _grid(table(rows, repeatRows=1), colors),
        para(metrics),
        para(
            f"Four-fifths rule: {d['four_fifths']['rule']}. Flagged: "
            f"{', '.join(d['four_fifths']['flagged']) or 'none'}."
        ),
        *[para(f"Warning: {w}") for w in d.get("warnings", [])],
        *[para(f"{k} undefined: {v}") for k, v in d.get("undefined", {}).items()],
    ]


def render_pdf(report: dict[str, Any]) -> bytes:
    """A readable PDF of the same report (reportlab platypus), digest printed on every page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    buffer = io.BytesIO()
    digest = report["integrity"]["sha256"]
    title = {
        "audit_run": "Audit report",
        "compliance": "Compliance report",
        "ropa": "Record of processing activities (GDPR Art. 30)",
    }[report["report"]["kind"]]

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(
            12 * mm, 8 * mm, f"{report['report']['id']} · sha256 {digest} · page {doc.page}"
        )
        canvas.restoreState()

    def para(value: Any) -> Paragraph:
        text = _cell(value)
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return Paragraph(text[:1500], small)

    def kv_table(data: dict[str, Any]) -> Table:
        table = Table([[para(k), para(v)] for k, v in data.items()], colWidths=[50 * mm, 210 * mm])
        table.setStyle(
            TableStyle(
                [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
            )
        )
        return table

    story = [
        Paragraph(title, styles["Title"]),
        kv_table(report["report"]),
        Spacer(1, 4 * mm),
        Paragraph("Scope", styles["Heading2"]),
        kv_table(report["scope"]),
        Paragraph("Criteria", styles["Heading2"]),
    ]
    criteria = report.get("criteria", [])
    if criteria:
        keys = [
            k
            for k in ("check", "criterion", "field", "parameters", "rule", "label")
            if k in criteria[0]
        ]
        rows = [[para(k) for k in keys]] + [[para(c.get(k)) for k in keys] for c in criteria]
        story.append(_grid(Table(rows, repeatRows=1), colors))
    story.append(Paragraph("Findings", styles["Heading2"]))
    findings = report.get("findings", [])
    if findings:
        columns = _columns(findings)
        if columns == FINDING_FIELDS:
            columns = [
                "index",
                "check",
                "status",
                "severity",
                "observed_value",
                "element_count",
                "missing_count",
                "unexpected_count",
                "unexpected_percent",
                "partial_unexpected_list",
            ]
        data = [[para(c) for c in columns]] + [[para(r.get(c)) for c in columns] for r in findings]
        story.append(_grid(Table(data, repeatRows=1), colors))
        for finding in findings:
            if finding.get("kind") == "fairness" and finding.get("details", {}).get("groups"):
                story += _fairness_flowables(finding, para, styles, colors, Table)
    else:
        story.append(Paragraph("No findings.", styles["BodyText"]))
    story += [
        Paragraph("Conclusions", styles["Heading2"]),
        kv_table(report["conclusions"]),
        Paragraph("Integrity", styles["Heading2"]),
        Paragraph(f"sha256: {digest}", styles["Code"]),
        Paragraph(report["integrity"]["method"], small),
    ]
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        title=title,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        author="Charter",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
