"""The audits app's answers to lineage's training-clearance checks ("audits", "issue_reports").

`AuditsConfig.ready()` registers both with `lineage.clearance.register_clearance_provider`.
Each provider answers any number of dataset versions in one query.

- audits: for every audit policy that has a finished run bound to the version, the latest such
  run (by finish time) must have passed. A later passing run of one policy does not hide the
  failure of another. No finished run bound to the version means no evidence: not cleared.
- issue_reports: an issue report blocks every version of its dataset while it is open or being
  investigated (`IssueReport.OPEN_STATUSES`). Every kind of report (quality, bias, security)
  blocks: each is a reason not to train on the data until a steward resolves it or decides it
  won't be fixed. Reports are filed on a dataset, not a version, so they block all its versions.
"""

from __future__ import annotations

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from audits.models import AuditRun
from catalog.models import DatasetVersion, IssueReport
from lineage.clearance import Finding, register_clearance_provider

KIND_LABELS = {k.value: k.label.lower() for k in IssueReport.Kind}
LISTED = 3  # how many runs or reports a message names before "and N more"


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def audits_clearance(versions: list[DatasetVersion]) -> dict[int, Finding]:
    """Per version: did the latest finished run of every policy bound to it pass? One query."""
    ids = [v.pk for v in versions]
    latest = (
        AuditRun.objects.filter(version_id__in=ids, state__in=AuditRun.FINAL_STATES)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("version_id"), F("policy_id")],
                order_by=[F("finished_at").desc(nulls_last=True), F("pk").desc()],
            )
        )
        .filter(rank=1)
        .values("pk", "version_id", "state", "policy__name", "summary", "error_message")
        .order_by("version_id", "policy__name", "pk")
    )
    by_version: dict[int, list[dict]] = {}
    for row in latest:
        by_version.setdefault(row["version_id"], []).append(row)
    answers = {}
    for v in versions:
        runs = by_version.get(v.pk, [])
        if not runs:
            answers[v.pk] = Finding(
                "audits",
                False,
                f"No audit evidence: no finished audit run is bound to v{v.number}.",
            )
            continue
        bad = [r for r in runs if r["state"] != AuditRun.State.PASSED]
        if bad:
            answers[v.pk] = Finding("audits", False, _bad_message(v, bad))
        else:
            answers[v.pk] = Finding(
                "audits",
                True,
                f"Latest audit passed on v{v.number}: "
                + _names([f"{r['policy__name']} (run #{r['pk']})" for r in runs])
                + ".",
            )
    return answers


def _bad_message(version: DatasetVersion, runs: list[dict]) -> str:
    parts = []
    for r in runs:
        if r["state"] == AuditRun.State.ERROR:
            reason = (r["error_message"] or "no message").splitlines()[0][:160]
            parts.append(f"run #{r['pk']} of {r['policy__name']} ended in error ({reason})")
        else:
            summary = r["summary"] or {}
            failed = summary.get("unsuccessful")
            total = summary.get("evaluated")
            counts = f" ({failed} of {total} checks failed)" if failed is not None else ""
            parts.append(f"run #{r['pk']} of {r['policy__name']} failed{counts}")
    return f"Latest audit did not pass on v{version.number}: {_names(parts)}."


def issue_reports_clearance(versions: list[DatasetVersion]) -> dict[int, Finding]:
    """Per version: no open (or investigating) issue report on its dataset. One query."""
    dataset_ids = {v.dataset_id for v in versions}
    open_reports: dict[int, list[str]] = {}
    for row in (
        IssueReport.objects.filter(dataset_id__in=dataset_ids, status__in=IssueReport.OPEN_STATUSES)
        .order_by("dataset_id", "created_at", "pk")
        .values("pk", "dataset_id", "kind", "title")
    ):
        kind = KIND_LABELS.get(row["kind"], row["kind"])
        open_reports.setdefault(row["dataset_id"], []).append(
            f"#{row['pk']} {row['title']} ({kind})"
        )
    answers = {}
    for v in versions:
        reports = open_reports.get(v.dataset_id, [])
        if reports:
            noun = "report" if len(reports) == 1 else "reports"
            answers[v.pk] = Finding(
                "issue_reports",
                False,
                f"{len(reports)} open issue {noun} on the dataset: {_names(reports)}.",
            )
        else:
            answers[v.pk] = Finding("issue_reports", True, "No open issue reports.")
    return answers


def register() -> None:
    """Register both providers (called from AuditsConfig.ready(); registering again replaces)."""
    register_clearance_provider("audits", audits_clearance)
    register_clearance_provider("issue_reports", issue_reports_clearance)
