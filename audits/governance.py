"""The access-review check: grants and requests as they stand, read from the access app.

It runs on the database, not on the dataset's rows, and returns a result in the common shape.
Users are named by username; no data values appear.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q

from access.models import AccessGrant, AccessRequest, DatasetUserObjectPermission
from access.policies import READ_FULL_PERM, READ_PERM, active_grant_q
from audits.checks.results import make_result
from catalog.models import Dataset, Sensitivity


def access_review_result(
    spec: dict[str, Any], dataset: Dataset, now: dt.datetime
) -> dict[str, Any]:
    """Expired-but-unrevoked grants, unused grants, readers without a grant, stale requests."""
    unused_since = now - dt.timedelta(days=spec.get("unused_days", 90))
    pending_since = now - dt.timedelta(days=spec.get("pending_days", 7))
    grants = AccessGrant.objects.filter(dataset=dataset).select_related("user")
    expired = [
        {"grant": g.pk, "user": g.user.username, "expired_at": g.expires_at.isoformat()}
        for g in grants.filter(ended_at__isnull=True, expires_at__lte=now)
    ]
    unused = [
        {
            "grant": g.pk,
            "user": g.user.username,
            "last_read_at": g.last_read_at.isoformat() if g.last_read_at else None,
        }
        for g in grants.filter(active_grant_q(now)).filter(
            Q(last_read_at__lt=unused_since)
            | Q(last_read_at__isnull=True, starts_at__lt=unused_since)
        )
    ]
    perm_codenames = [READ_PERM.split(".")[1], READ_FULL_PERM.split(".")[1]]
    holders = set(
        DatasetUserObjectPermission.objects.filter(
            content_object=dataset, permission__codename__in=perm_codenames
        ).values_list("user__username", flat=True)
    )
    current = set(grants.filter(active_grant_q(now)).values_list("user__username", flat=True))
    ungranted = sorted(holders - current)
    pending = [
        {"request": r.pk, "user": r.requester.username, "since": r.created_at.isoformat()}
        for r in AccessRequest.objects.filter(
            dataset=dataset, status=AccessRequest.Status.PENDING, created_at__lt=pending_since
        ).select_related("requester")
    ]
    findings = {
        "expired_not_revoked": expired,
        "unused_grants": unused,
        "readable_without_grant": [{"user": u} for u in ungranted],
        "requests_pending_too_long": pending,
    }
    failing = len(expired) + len(ungranted)  # exposure now: these fail the check
    advisory = len(unused) + len(pending)  # housekeeping: these warn
    status = "fail" if failing else ("warn" if advisory else "pass")
    if status == "fail" and spec.get("severity") != "critical":
        status = "warn"
    return make_result(
        spec=spec,
        success=status == "pass",
        status=status,
        observed_value=failing + advisory,
        unexpected_count=failing + advisory,
        details={
            **findings,
            "restricted": dataset.sensitivity == Sensitivity.RESTRICTED,
            "unused_days": spec.get("unused_days"),
            "pending_days": spec.get("pending_days"),
            "rule": "fail: grants past expiry still in force, or data readable without a "
            "current grant; warn: grants unused for N days, requests pending too long",
        },
    )
