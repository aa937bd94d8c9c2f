"""What each role sees first on the home page. Apps add panels by extending this module."""

from typing import Any

from django.urls import NoReverseMatch, reverse

from access.policies import can_view_ledger
from access.roles import ADMIN, COMPLIANCE, ENGINEER, STEWARD, role_names
from ledger.models import Event


def home_panels(user) -> list[dict[str, Any]]:
    """Build the home page's panels for `user` (a few queries, whatever the data size)."""
    panels: list[dict[str, Any]] = []
    panels.extend(_catalog_panels(user))
    panels.append(_access_panel(user))
    panels.append(_lineage_panel())
    panels.append(_audits_panel(user))
    if can_view_ledger(user):
        recent = list(Event.objects.order_by("-seq")[:8])
        panels.append({"kind": "ledger", "title": "Recent governance events", "events": recent})
    panels.insert(0, _start_panel(user))
    return panels


# What each role comes to Charter to do (DESIGN.md, "Who uses it"): label, url name, hint.
START_LINKS: dict[str, list[tuple[str, str, str]]] = {
    STEWARD: [
        (
            "Register a dataset",
            "catalog:dataset-register",
            "Describe a file or table and classify it",
        ),
        ("Access requests", "access:inbox", "Approve or deny requests for your data"),
        ("Audits", "audits:index", "Quality, privacy and fairness checks"),
    ],
    ENGINEER: [
        ("Find data", "catalog:dataset-list", "Search datasets, read their quality record"),
        ("My access", "access:home", "Request access with a purpose, see your grants"),
        ("Register a model version", "lineage:model-version-register", "Record its training data"),
        ("API tokens", "access:token-list", "Read granted data from scripts and pipelines"),
    ],
    COMPLIANCE: [
        ("Governance ledger", "ledger", "Every governance act, hash-chained"),
        ("Who can read what", "access:report", "Grants, purposes and expiry"),
        ("Second approvals", "access:inbox", "Restricted data needs you too"),
        ("Audits", "audits:index", "Run and download audit reports"),
    ],
    ADMIN: [
        ("Users and roles", "admin:index", "Assign roles in the Django admin"),
        ("Connections", "catalog:connection-list", "Where the data lives"),
        ("Governance ledger", "ledger", "Every governance act, hash-chained"),
    ],
}


def _start_panel(user) -> dict[str, Any]:
    """Shortcuts for the user's roles; a section shows once its app has mounted the page."""
    roles = role_names(user)
    links, seen = [], set()
    for role in roles:
        for label, url_name, hint in START_LINKS.get(role, []):
            if url_name in seen:
                continue
            try:
                url = reverse(url_name)
            except NoReverseMatch:
                continue
            seen.add(url_name)
            links.append({"label": label, "url": url, "hint": hint})
    return {"kind": "start", "title": "Start here", "roles": roles, "links": links}


def _catalog_panels(user) -> list[dict[str, Any]]:
    """Open issue reports on the datasets the user owns or stewards."""
    from access.policies import datasets_for
    from catalog.selectors import open_reports_for_owner

    reports = open_reports_for_owner(user, datasets_for(user, "view"))
    if not reports:
        return []
    return [{"kind": "issues", "title": "Open issue reports on your datasets", "reports": reports}]


def _lineage_panel() -> dict[str, Any]:
    """Recent pipeline runs and model versions (two queries)."""
    from lineage.models import ModelVersion, Run

    runs = list(Run.objects.select_related("job").order_by("-created_at")[:5])
    versions = list(ModelVersion.objects.select_related("model").order_by("-created_at")[:3])
    return {
        "kind": "lineage",
        "title": "Pipelines and models",
        "runs": runs,
        "model_versions": versions,
    }


def _audits_panel(user) -> dict[str, Any]:
    """The latest audit runs on datasets the user can see (one query)."""
    from access.policies import audit_runs_for
    from audits.selectors import audit_run_list

    runs = list(audit_run_list(audit_runs_for(user))[:6])
    return {"kind": "audits", "title": "Latest audits", "runs": runs}


def _access_panel(user) -> dict[str, Any]:
    """Requests waiting for the user's decision, and their own grants and pending requests."""
    from access.models import AccessGrant, AccessRequest
    from access.policies import active_grant_q, is_approver
    from access.selectors import access_inbox_for

    to_decide = access_inbox_for(user) if is_approver(user) else []
    grants = list(
        AccessGrant.objects.filter(active_grant_q(), user=user)
        .select_related("dataset")
        .order_by("expires_at")[:5]
    )
    pending = AccessRequest.objects.filter(requester=user, status="pending").count()
    return {
        "kind": "access",
        "title": "Access",
        "to_decide": to_decide[:5],
        "to_decide_count": len(to_decide),
        "grants": grants,
        "pending_count": pending,
    }
