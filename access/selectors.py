"""Access reads: requests, inboxes, grants and who-can-read-what, each in a fixed few queries."""

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from access.models import AccessApproval, AccessGrant, AccessRequest
from access.policies import (
    AnyUser,
    access_grants_for,
    access_requests_for,
    access_requests_to_decide_q,
    active_grant_q,
    approval_capacity_for,
    approvals_still_needed,
    can_deny_request,
    can_revoke_grant,
)
from catalog.models import Column, Dataset


def _pii_columns() -> Prefetch:
    return Prefetch(
        "dataset__columns",
        queryset=Column.objects.exclude(pii_kind="").order_by("position"),
        to_attr="pii_columns",
    )


def access_request_list(queryset: QuerySet[AccessRequest]) -> QuerySet[AccessRequest]:
    """Requests with everything a list shows: dataset, requester and roles, approvals, grant."""
    return queryset.select_related(
        "dataset__owner", "requester", "decided_by", "grant"
    ).prefetch_related(
        Prefetch(
            "approvals",
            queryset=AccessApproval.objects.select_related("approver").order_by("created_at"),
        ),
        "requester__groups",
        _pii_columns(),
    )


@dataclass
class InboxItem:
    request: AccessRequest
    capacity: str | None  # what the viewer would approve as; None: they can only deny
    can_deny: bool
    still_needed: list[str] = field(default_factory=list)
    requester_roles: list[str] = field(default_factory=list)


def access_inbox_for(user: AnyUser) -> list[InboxItem]:
    """Pending requests `user` may decide, oldest first, with what each still needs."""
    pending = access_request_list(
        access_requests_for(user).filter(access_requests_to_decide_q(user)).order_by("created_at")
    )
    items = []
    for req in pending:
        approvals = list(req.approvals.all())
        capacity = approval_capacity_for(user, req, approvals)
        can_deny = can_deny_request(user, req)
        if capacity is None and not can_deny:
            continue
        items.append(
            InboxItem(
                request=req,
                capacity=capacity,
                can_deny=can_deny,
                still_needed=approvals_still_needed(req.dataset, approvals),
                requester_roles=sorted(g.name for g in req.requester.groups.all()),
            )
        )
    return items


def access_grant_list(queryset: QuerySet[AccessGrant]) -> QuerySet[AccessGrant]:
    """Grants with their dataset, holder, request, approvers and who ended them."""
    return queryset.select_related(
        "dataset__owner", "user", "request", "ended_by"
    ).prefetch_related("approvers")


@dataclass
class GrantRow:
    grant: AccessGrant
    can_revoke: bool


def grant_rows(user: AnyUser, grants: QuerySet[AccessGrant]) -> list[GrantRow]:
    """Grants (prepared by `access_grant_list`) with the viewer's revoke flag, no query per row."""
    return [GrantRow(g, can_revoke_grant(user, g)) for g in grants]


def my_access(user: AbstractBaseUser) -> dict:
    """The "My access" page: the user's requests and grants (current first), few queries."""
    now = timezone.now()
    requests = list(access_request_list(AccessRequest.objects.filter(requester=user))[:100])
    for req in requests:
        req.still_needed = (
            approvals_still_needed(req.dataset, list(req.approvals.all())) if req.is_pending else []
        )
    grants = list(
        access_grant_list(AccessGrant.objects.filter(user=user)).order_by("-created_at")[:200]
    )
    current = [g for g in grants if g.is_active_at(now)]
    past = [g for g in grants if not g.is_active_at(now)]
    return {"requests": requests, "current_grants": current, "past_grants": past}


def dataset_readers(user: AnyUser, dataset: Dataset) -> list[GrantRow]:
    """Grants in force on a dataset (who can read it, at what level, why, approved by whom)."""
    grants = (
        access_grants_for(user).filter(active_grant_q(), dataset=dataset).order_by("expires_at")
    )
    return grant_rows(user, access_grant_list(grants))


def dataset_pending_requests(user: AnyUser, dataset: Dataset) -> QuerySet[AccessRequest]:
    return access_request_list(
        access_requests_for(user).filter(dataset=dataset, status=AccessRequest.Status.PENDING)
    )


def access_report_grants(
    user: AnyUser, *, dataset: str = "", username: str = "", include_ended: bool = False
) -> QuerySet[AccessGrant]:
    """Grants for the who-can-read-what report, filtered by dataset name and user."""
    qs = access_grants_for(user)
    if not include_ended:
        qs = qs.filter(active_grant_q())
    if dataset:
        qs = qs.filter(dataset__name=dataset)
    if username:
        qs = qs.filter(user__username=username)
    return access_grant_list(qs).order_by("dataset__name", "user__username", "-created_at")


REPORT_HEADER = [
    "dataset",
    "tier",
    "user",
    "email",
    "level",
    "purpose",
    "columns",
    "approvers",
    "starts_at",
    "expires_at",
    "status",
    "ended_at",
    "end_reason",
    "last_read_at",
    "read_count",
    "grant_id",
    "request_id",
]


def access_report_rows(grants: QuerySet[AccessGrant]):
    """CSV rows for the report, streamed in chunks (prefetch works with chunk_size)."""
    for g in grants.iterator(chunk_size=500):
        yield [
            g.dataset.name,
            g.dataset.sensitivity,
            g.user.get_username(),
            g.user.email,
            g.level,
            g.purpose,
            " ".join(g.columns) or "(all)",
            " ".join(sorted(a.get_username() for a in g.approvers.all())),
            g.starts_at.isoformat(),
            g.expires_at.isoformat(),
            g.state,
            g.ended_at.isoformat() if g.ended_at else "",
            g.end_reason,
            g.last_read_at.isoformat() if g.last_read_at else "",
            g.read_count,
            g.pk,
            g.request_id or "",
        ]
