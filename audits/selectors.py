"""Reads of the audits app, each starting from a policy queryset (access.policies)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery

from audits.models import AuditPolicy, AuditRun, CheckResult, PiiProposal


def audit_policy_list(policies: QuerySet[AuditPolicy]) -> QuerySet[AuditPolicy]:
    """Policies with their target and latest run state, in a fixed number of queries."""
    latest = AuditRun.objects.filter(policy=OuterRef("pk")).order_by("-queued_at", "-pk")
    return (
        policies.select_related("dataset", "target_tag", "target_domain")
        .annotate(
            run_count=Count("runs", distinct=True),
            last_state=Subquery(latest.values("state")[:1]),
            last_run_at=Subquery(latest.values("queued_at")[:1]),
        )
        .order_by("name")
    )


def audit_run_list(runs: QuerySet[AuditRun]) -> QuerySet[AuditRun]:
    return runs.select_related("policy", "dataset", "version", "requested_by").order_by(
        "-queued_at", "-pk"
    )


def audit_run_detail(run: AuditRun) -> dict[str, Any]:
    """The run's results and open PII proposals."""
    results = list(CheckResult.objects.filter(run=run).order_by("index"))
    proposals = list(
        PiiProposal.objects.filter(run=run).select_related("column", "decided_by").order_by("pk")
    )
    return {"results": results, "proposals": proposals}


def dataset_audit_history(runs: QuerySet[AuditRun], *, limit: int = 30) -> dict[str, Any]:
    """Recent runs of a dataset and the points of its pass-rate chart (oldest first)."""
    recent = list(
        audit_run_list(runs).prefetch_related(
            Prefetch("results", queryset=CheckResult.objects.order_by("index"))
        )[:limit]
    )
    finished = [r for r in reversed(recent) if r.state in AuditRun.FINAL_STATES]
    return {
        "runs": recent,
        "latest": recent[0] if recent else None,
        "chart": history_chart(finished),
        "matrix": status_matrix(finished[-12:]),
    }


def status_matrix(runs: list[AuditRun]) -> dict[str, Any]:
    """Each check's status across recent runs (rows: checks by label, columns: runs)."""
    labels: list[str] = []
    cells: dict[tuple[str, int], CheckResult] = {}
    for run in runs:
        for result in run.results.all():  # prefetched
            key = f"{run.policy.name}: {result.label}"
            if key not in labels:
                labels.append(key)
            cells[(key, run.pk)] = result
    rows = [
        {"label": label, "cells": [cells.get((label, run.pk)) for run in runs]} for label in labels
    ]
    return {"runs": runs, "rows": rows}


def history_chart(runs: list[AuditRun], width: int = 640, height: int = 160) -> dict[str, Any]:
    """Server-side SVG geometry: success percent per finished run, oldest on the left."""
    pad = 40  # room for the axis labels on the left
    if not runs:
        return {"points": [], "polyline": "", "width": width, "height": height}
    step = (width - 2 * pad) / max(len(runs) - 1, 1)
    points = []
    for i, run in enumerate(runs):
        rate = (run.summary or {}).get("success_percent")
        rate = 0.0 if rate is None else float(rate)
        x = pad + i * step
        y = height - pad - rate / 100 * (height - 2 * pad)
        points.append(
            {
                "x": round(x, 1),
                "y": round(y, 1),
                "rate": round(rate, 1),
                "state": run.state,
                "run": run,
                "label": run.finished_at,
            }
        )
    return {
        "points": points,
        "width": width,
        "height": height,
        "pad": pad,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "y100": pad,
        "y0": height - pad,
        "x_end": width - pad,
    }
