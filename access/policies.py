"""The one module that answers "may this user do this to that?". Nothing else decides.

Not visible means 404 (callers start from the querysets here); visible but not allowed, 403.
The tier table (DESIGN.md):

| tier         | metadata visible to                 | data readable by                  |
| public       | all users                           | all users                         |
| internal     | all users                           | grant holders                     |
| confidential | all users                           | grant holders; PII masked unless full grant |
| restricted   | stewards, compliance, grant holders | grant holders                     |

Owners and a dataset's named stewards always see its metadata; admins see everything.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Permission
from django.core.exceptions import EmptyResultSet, PermissionDenied
from django.db import connection
from django.db.models import Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from guardian.core import ObjectPermissionChecker

from access.models import (
    AccessApproval,
    AccessGrant,
    AccessLevel,
    AccessRequest,
    ApiToken,
    DatasetGroupObjectPermission,
    DatasetUserObjectPermission,
)
from access.roles import ADMIN, COMPLIANCE, ENGINEER, STEWARD, has_role, role_names
from catalog.models import Dataset, Sensitivity

AnyUser = AbstractBaseUser | AnonymousUser

READ_PERM = "catalog.read_dataset_data"
READ_FULL_PERM = "catalog.read_dataset_data_full"


# --- datasets -------------------------------------------------------------------------------


def _object_permission_dataset_ids(user: AnyUser, perm: str) -> Q:
    """Datasets on which `user` (or one of their groups) holds guardian object permission `perm`.

    What `get_objects_for_user(..., accept_global_perms=False, with_superuser=False)` answers,
    asked of guardian's tables directly: its queryset scans every dataset to test two
    `pk IN` subplans (~20 ms at 100k datasets, on every list, count and facet query).
    """
    app_label, codename = perm.split(".")
    # The permission's id as a scalar subquery (one row: codename is unique per content type),
    # not a join: the user's rows are then one index-only range of guardian's unique
    # (user, permission, object) index, not a join probing auth_permission once per row.
    permission = (
        Permission.objects.filter(
            codename=codename,
            content_type__app_label=app_label,
            content_type__model=Dataset._meta.model_name,
        )
        .order_by()
        .values("pk")
    )
    which = {"permission_id": Subquery(permission)}
    direct = DatasetUserObjectPermission.objects.filter(user_id=user.pk, **which)
    via_groups = DatasetGroupObjectPermission.objects.filter(
        group_id__in=get_user_model()
        .groups.through.objects.filter(user_id=user.pk)
        .values("group_id"),
        **which,
    )
    return Q(dataset_id__in=direct.values("content_object_id")) | Q(
        dataset_id__in=via_groups.values("content_object_id")
    )


def _granted_dataset_ids_query(user: AnyUser, perm: str, now: datetime) -> QuerySet:
    # No ORDER BY (the model's -created_at): an `IN` list has no order; PostgreSQL sorted it.
    return (
        AccessGrant.objects.filter(
            active_grant_q(now), _object_permission_dataset_ids(user, perm), user_id=user.pk
        )
        .order_by()
        .values("dataset_id")
    )


@dataclass(frozen=True)
class _SentinelUser:
    pk: int = -982_451_653  # no real user has a negative id


_SENTINEL_TIME = datetime(2000, 1, 1, 0, 0, 0, 424_242, tzinfo=UTC)


@functools.cache
def _granted_statement(perm: str, vendor: str) -> tuple[str, tuple, tuple[int, ...], tuple]:
    """`_granted_dataset_ids_query` compiled once (per permission and database engine), with
    sentinels where the user's id and the time go: building and compiling its nested
    permission subqueries cost ~4 ms of Python per request, more than PostgreSQL takes."""
    return _compiled_with_sentinels(
        _granted_dataset_ids_query(_SentinelUser(), perm, _SENTINEL_TIME)
    )


def _compiled_with_sentinels(query: QuerySet) -> tuple[str, tuple, tuple[int, ...], tuple]:
    """`query` (built for the sentinel user and time) compiled: its SQL, its parameters, and
    where among them the user's id and the time stand."""
    sql, params = query.query.sql_with_params()
    time_value = connection.ops.adapt_datetimefield_value(_SENTINEL_TIME)
    users = tuple(i for i, p in enumerate(params) if p == _SentinelUser.pk)
    times = tuple(i for i, p in enumerate(params) if p == time_value)
    return sql, params, users, times


def _granted_dataset_ids(user: AnyUser, perm: str, now: datetime | None = None) -> RawSQL:
    """Ids of datasets on which `user` holds a guardian object permission (derived from grants)
    AND a grant still in force: a lapsed grant stops counting at its expiry, not when the
    beat task gets round to revoking it. One small subquery driven by the user's grants
    (the SQL of `_granted_dataset_ids_query`, compiled once, with this user and time)."""
    sql, params, users, times = _granted_statement(perm, connection.vendor)
    return RawSQL(sql, _with_user_and_time(params, users, times, user.pk, now))  # noqa: S611


def _with_user_and_time(params, users, times, user_pk, now: datetime | None) -> list:
    """A compiled statement's parameters with the sentinels replaced: the user's id at `users`,
    `now` (default: the current time) at `times`. Every value stays a bound parameter."""
    values = list(params)
    for i in users:
        values[i] = user_pk
    when = connection.ops.adapt_datetimefield_value(now or timezone.now())
    for i in times:
        values[i] = when
    return values


def statement_for(build: Callable[[AnyUser, datetime], QuerySet], user: AnyUser) -> tuple:
    """SQL and parameters of `build(user, now)`, a queryset built on the querysets here, compiled
    by the ORM once per `build`, set of roles and database engine and then reused with this
    user's id and the current time (raises EmptyResultSet as the compiler does).

    The querysets of this module depend on a user only through their id, their roles and the
    time, so one compiled statement serves every user with the same roles. Building and
    compiling a list's visibility predicate cost ~2 ms of Python per request."""
    if not user.is_authenticated:
        raise EmptyResultSet
    sql, params, users, times = _statement_for_roles(
        build, tuple(role_names(user)), connection.vendor
    )
    if sql is None:
        raise EmptyResultSet
    return sql, _with_user_and_time(params, users, times, user.pk, None)


@functools.cache
def _statement_for_roles(build: Callable, roles: tuple[str, ...], vendor: str) -> tuple:
    stand_in = get_user_model()(pk=_SentinelUser.pk)
    stand_in._charter_roles = list(roles)  # access.roles' cache: these roles, no query
    try:
        return _compiled_with_sentinels(build(stand_in, _SENTINEL_TIME))
    except EmptyResultSet:
        return None, (), (), ()


def _stewarded_dataset_ids(user: AnyUser) -> QuerySet:
    """Ids of datasets naming `user` as a steward: an uncorrelated subquery on the M2M table."""
    return Dataset.stewards.through.objects.filter(user_id=user.pk).values("dataset_id")


def datasets_for(
    user: AnyUser, action: str = "view", *, now: datetime | None = None
) -> QuerySet[Dataset]:
    """Datasets `user` may `action`: "view" (metadata), "change" (describe, classify), "read"
    (data); grants count as in force at `now` (default: the current time).

    Written as per-row predicates with uncorrelated `pk IN (...)` subqueries (no join on the
    stewards M2M, no DISTINCT), so PostgreSQL can walk the name index and stop at the page.
    """
    if not user.is_authenticated:
        return Dataset.objects.none()
    if has_role(user, ADMIN):
        return Dataset.objects.all()
    own = Q(owner=user) | Q(pk__in=_stewarded_dataset_ids(user))
    if action == "view":
        if has_role(user, STEWARD, COMPLIANCE):
            return Dataset.objects.all()
        visible = ~Q(sensitivity=Sensitivity.RESTRICTED) | own
        granted = Q(pk__in=_granted_dataset_ids(user, READ_PERM, now))
        return Dataset.objects.filter(visible | granted)
    if action == "change":
        if has_role(user, STEWARD):
            return Dataset.objects.all()
        return Dataset.objects.filter(own)
    if action == "read":
        public = Q(sensitivity=Sensitivity.PUBLIC)
        granted = Q(pk__in=_granted_dataset_ids(user, READ_PERM, now))
        return Dataset.objects.filter(public | granted | Q(owner=user))
    raise ValueError(f"unknown dataset action {action!r}")


def get_dataset_for(user: AnyUser, name: str, *, action: str = "view") -> Dataset:
    """One dataset by name: 404 if `user` can't see it, 403 if they can see but not `action` it."""
    dataset = get_object_or_404(
        datasets_for(user, "view").select_related("owner", "domain", "current_version"), name=name
    )
    if action != "view" and not datasets_for(user, action).filter(pk=dataset.pk).exists():
        raise PermissionDenied
    return dataset


def can_register_dataset(user: AnyUser) -> bool:
    """Stewards and admins register datasets and connections."""
    return has_role(user, STEWARD, ADMIN)


# --- catalog ----------------------------------------------------------------------------------


def can_manage_connections(user: AnyUser) -> bool:
    """Stewards and admins create and test connections to data sources."""
    return has_role(user, STEWARD, ADMIN)


def issue_reports_for(user: AnyUser) -> QuerySet:
    """Issue reports on the datasets `user` can see (anyone who sees a dataset sees its reports)."""
    from catalog.models import IssueReport

    return IssueReport.objects.filter(dataset__in=datasets_for(user, "view").values("pk"))


def get_issue_report_for(user: AnyUser, dataset: Dataset, pk: int):
    """One report on `dataset` (already loaded through get_dataset_for): 404 when not visible."""
    return get_object_or_404(
        issue_reports_for(user).select_related("dataset", "reporter"), dataset=dataset, pk=pk
    )


def can_triage_issue_report(user: AnyUser, dataset: Dataset) -> bool:
    """The owner, the dataset's stewards, stewards and admins change a report's status."""
    return datasets_for(user, "change").filter(pk=dataset.pk).exists()


# --- the governance log -----------------------------------------------------------------------


def can_view_ledger(user: AnyUser) -> bool:
    """Compliance officers and admins read the governance log."""
    return has_role(user, COMPLIANCE, ADMIN)


# --- API tokens -----------------------------------------------------------------------------


def api_tokens_for(user: AnyUser) -> QuerySet[ApiToken]:
    """A user sees and manages only their own API tokens."""
    return ApiToken.objects.filter(user=user) if user.is_authenticated else ApiToken.objects.none()


def get_api_token_for(user: AnyUser, pk: int) -> ApiToken:
    return get_object_or_404(api_tokens_for(user), pk=pk)


# --- access: requests, approvals, grants and reading data -----------------------------------
#
# | tier         | request?            | approvals needed                                | max days
# | public       | no (everyone reads) | -                                               | -
# | internal     | yes                 | the owner or a steward                          | 365
# | confidential | yes                 | the owner or a steward                          | 90
# | restricted   | yes                 | a steward AND a compliance officer (two people) | 30
#
# Nobody approves their own request. Data is read through an active grant (not ended, started,
# not expired) whose guardian permission exists; masked grants mask PII columns, full grants
# do not. Public data is readable by all, PII columns (if any were classified) masked. The
# owner reads their own data in full. Admins read masked unless they hold a full grant.

OWNER_CAP = AccessApproval.Capacity.OWNER
STEWARD_CAP = AccessApproval.Capacity.STEWARD
COMPLIANCE_CAP = AccessApproval.Capacity.COMPLIANCE

# (default days, maximum days) per tier; settings.CHARTER_ACCESS_DURATION_DAYS overrides, but
# restricted data can never be granted for more than 30 days.
DEFAULT_DURATION_DAYS: dict[str, tuple[int, int]] = {
    Sensitivity.INTERNAL: (90, 365),
    Sensitivity.CONFIDENTIAL: (30, 90),
    Sensitivity.RESTRICTED: (14, 30),
}
RESTRICTED_MAX_DAYS = 30


def access_duration_bounds(dataset: Dataset) -> tuple[int, int]:
    """(default, maximum) grant duration in days for the dataset's tier."""
    table = {**DEFAULT_DURATION_DAYS, **getattr(settings, "CHARTER_ACCESS_DURATION_DAYS", {})}
    default, maximum = table.get(dataset.sensitivity, DEFAULT_DURATION_DAYS[Sensitivity.INTERNAL])
    if dataset.sensitivity == Sensitivity.RESTRICTED:
        maximum = min(maximum, RESTRICTED_MAX_DAYS)
    return min(default, maximum), maximum


def access_request_refusal(user: AnyUser, dataset: Dataset) -> str | None:
    """Why `user` may not ask for access to `dataset` (None when they may)."""
    if not user.is_authenticated:
        return "Log in to request access."
    if dataset.sensitivity == Sensitivity.PUBLIC:
        return "Public data is readable by everyone: no request is needed."
    if dataset.owner_id == user.pk:
        return "You own this dataset: you can already read its data."
    return None


def approval_slots(dataset: Dataset) -> list[tuple[str, ...]]:
    """The approvals a request on `dataset` needs: one capacity from each slot, distinct people."""
    if dataset.sensitivity == Sensitivity.RESTRICTED:
        return [(STEWARD_CAP,), (COMPLIANCE_CAP,)]
    if dataset.sensitivity == Sensitivity.PUBLIC:
        return []
    return [(OWNER_CAP, STEWARD_CAP)]


def user_capacities(user: AnyUser, dataset: Dataset) -> set[str]:
    """The capacities in which `user` may approve requests on `dataset` (no queries when cached)."""
    if not user.is_authenticated:
        return set()
    caps = set()
    if dataset.owner_id == user.pk:
        caps.add(OWNER_CAP)
    if has_role(user, STEWARD):
        caps.add(STEWARD_CAP)
    if has_role(user, COMPLIANCE):
        caps.add(COMPLIANCE_CAP)
    return caps


def _open_slots(dataset: Dataset, approvals: list[AccessApproval]) -> list[tuple[str, ...]]:
    filled = {a.capacity for a in approvals}
    return [slot for slot in approval_slots(dataset) if not filled.intersection(slot)]


def approval_capacity_for(
    user: AnyUser, access_request: AccessRequest, approvals: list[AccessApproval]
) -> str | None:
    """The capacity `user` would approve in now, or None if they may not approve this request.

    `approvals` are the request's approvals so far (passed in, so lists cost no query per row).
    """
    if access_request.status != AccessRequest.Status.PENDING:
        return None
    if not user.is_authenticated or access_request.requester_id == user.pk:
        return None
    if any(a.approver_id == user.pk for a in approvals):
        return None  # two different people: one person fills one slot at most
    caps = user_capacities(user, access_request.dataset)
    for slot in _open_slots(access_request.dataset, approvals):
        for capacity in slot:
            if capacity in caps:
                return capacity
    return None


def approvals_complete(dataset: Dataset, approvals: list[AccessApproval]) -> bool:
    """True once every slot of the tier is filled, each by a different person."""
    return not _open_slots(dataset, approvals) and len({a.approver_id for a in approvals}) == len(
        approvals
    )


def approvals_still_needed(dataset: Dataset, approvals: list[AccessApproval]) -> list[str]:
    """Human labels of the approvals still missing, e.g. ["Compliance officer"]."""
    labels = dict(AccessApproval.Capacity.choices)
    return [" or ".join(labels[c] for c in slot) for slot in _open_slots(dataset, approvals)]


def can_deny_request(user: AnyUser, access_request: AccessRequest) -> bool:
    """Anyone who could approve a pending request in some capacity of its tier may deny it."""
    if access_request.status != AccessRequest.Status.PENDING:
        return False
    if not user.is_authenticated or access_request.requester_id == user.pk:
        return False
    tier_caps = {cap for slot in approval_slots(access_request.dataset) for cap in slot}
    return bool(tier_caps & user_capacities(user, access_request.dataset))


def can_withdraw_request(user: AnyUser, access_request: AccessRequest) -> bool:
    return access_request.is_pending and access_request.requester_id == user.pk


def access_requests_for(user: AnyUser) -> QuerySet[AccessRequest]:
    """Requests `user` may see: own, on datasets they own; all for stewards, compliance, admin."""
    qs = AccessRequest.objects.all()
    if not user.is_authenticated:
        return qs.none()
    if has_role(user, STEWARD, COMPLIANCE, ADMIN):
        return qs
    return qs.filter(Q(requester=user) | Q(dataset__owner=user))


def get_access_request_for(user: AnyUser, pk: int) -> AccessRequest:
    """One request: 404 if `user` may not see it."""
    return get_object_or_404(
        access_requests_for(user).select_related("dataset__owner", "requester"), pk=pk
    )


def access_requests_to_decide_q(user: AnyUser) -> Q:
    """A filter for pending requests `user` may act on (refined per row by the capacities)."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    tiers = Q(pk__in=[])
    if has_role(user, STEWARD):
        tiers |= ~Q(dataset__sensitivity=Sensitivity.PUBLIC)
    if has_role(user, COMPLIANCE):
        tiers |= Q(dataset__sensitivity=Sensitivity.RESTRICTED)
    tiers |= Q(dataset__owner=user) & Q(
        dataset__sensitivity__in=[Sensitivity.INTERNAL, Sensitivity.CONFIDENTIAL]
    )
    return Q(status=AccessRequest.Status.PENDING) & tiers & ~Q(requester=user)


def is_approver(user: AnyUser) -> bool:
    """Whether to show the approver inbox at all (stewards, compliance officers, owners)."""
    if has_role(user, STEWARD, COMPLIANCE):
        return True
    return user.is_authenticated and Dataset.objects.filter(owner=user).exists()


def access_grants_for(user: AnyUser) -> QuerySet[AccessGrant]:
    """Grants `user` may see: their own, on datasets they own, all for stewards/compliance/admin."""
    qs = AccessGrant.objects.all()
    if not user.is_authenticated:
        return qs.none()
    if has_role(user, STEWARD, COMPLIANCE, ADMIN):
        return qs
    return qs.filter(Q(user=user) | Q(dataset__owner=user))


def get_access_grant_for(user: AnyUser, pk: int) -> AccessGrant:
    return get_object_or_404(access_grants_for(user).select_related("dataset", "user"), pk=pk)


def can_revoke_grant(user: AnyUser, grant: AccessGrant) -> bool:
    """Stewards, the dataset's owner and admins revoke; a holder may give up their own grant."""
    if grant.ended_at is not None or not user.is_authenticated:
        return False
    if has_role(user, STEWARD, ADMIN) or grant.user_id == user.pk:
        return True
    return grant.dataset.owner_id == user.pk


def can_view_dataset_readers(user: AnyUser, dataset: Dataset) -> bool:
    """Who-can-read-what for one dataset: its owner, stewards, compliance officers, admins."""
    if has_role(user, STEWARD, COMPLIANCE, ADMIN):
        return True
    return user.is_authenticated and dataset.owner_id == user.pk


def can_view_user_access(user: AnyUser, subject: AbstractBaseUser) -> bool:
    """A user's grants are visible to themselves, stewards, compliance officers and admins."""
    return user.is_authenticated and (
        user.pk == subject.pk or has_role(user, STEWARD, COMPLIANCE, ADMIN)
    )


def can_view_access_report(user: AnyUser) -> bool:
    """The portal-wide who-can-read-what report: compliance officers, stewards and admins."""
    return has_role(user, COMPLIANCE, STEWARD, ADMIN)


def can_export_access_report(user: AnyUser) -> bool:
    """The CSV export of who can read what is for compliance officers (and admins)."""
    return has_role(user, COMPLIANCE, ADMIN)


def active_grant_q(now: datetime | None = None, prefix: str = "") -> Q:
    """Grants that are in force at `now`: not ended, started, not yet expired."""
    now = now or timezone.now()
    return Q(
        **{
            f"{prefix}ended_at__isnull": True,
            f"{prefix}starts_at__lte": now,
            f"{prefix}expires_at__gt": now,
        }
    )


@dataclass(frozen=True)
class ReadAccess:
    """How `user` may read one dataset's data: the level, the grant behind it, the columns."""

    level: str  # AccessLevel value
    basis: str  # "grant", "public", "owner" or "admin"
    grant: AccessGrant | None = None
    columns: tuple[str, ...] = ()  # empty: every column

    @property
    def masked(self) -> bool:
        return self.level == AccessLevel.MASKED


def dataset_read_access(user: AnyUser, dataset: Dataset) -> ReadAccess | None:
    """How `user` may read `dataset`'s data now, or None. Needs an active grant AND its guardian
    permission (derived from grants), so a lapsed grant stops working at its expiry even before
    the beat task revokes it."""
    if not user.is_authenticated or not user.is_active:
        return None
    if dataset.owner_id == user.pk:
        return ReadAccess(AccessLevel.FULL, "owner")
    grants = list(
        AccessGrant.objects.filter(active_grant_q(), user=user, dataset=dataset).order_by(
            "level",
            "-expires_at",  # "full" sorts before "masked"
        )
    )
    if grants:
        perms = set(ObjectPermissionChecker(user).get_perms(dataset))
        full = [g for g in grants if g.level == AccessLevel.FULL]
        if full and READ_FULL_PERM.split(".")[1] in perms:
            return ReadAccess(AccessLevel.FULL, "grant", full[0], tuple(full[0].columns))
        if READ_PERM.split(".")[1] in perms:
            masked = [g for g in grants if g.level == AccessLevel.MASKED] or grants
            return ReadAccess(AccessLevel.MASKED, "grant", masked[0], tuple(masked[0].columns))
    if dataset.sensitivity == Sensitivity.PUBLIC:
        return ReadAccess(AccessLevel.MASKED, "public")
    if has_role(user, ADMIN):
        return ReadAccess(AccessLevel.MASKED, "admin")
    return None


def get_dataset_read_access(user: AnyUser, name: str) -> tuple[Dataset, ReadAccess]:
    """A dataset and how `user` reads it: 404 if invisible, 403 if visible but not readable."""
    dataset = get_dataset_for(user, name, action="view")
    access = dataset_read_access(user, dataset)
    if access is None:
        raise PermissionDenied("You have no current grant to read this dataset's data.")
    return dataset, access


def read_is_logged_in_full(dataset: Dataset, access: ReadAccess) -> bool:
    """Every read is logged; this flags reads that expose raw values of sensitive data."""
    return access.level == AccessLevel.FULL and dataset.sensitivity in (
        Sensitivity.CONFIDENTIAL,
        Sensitivity.RESTRICTED,
    )


def get_dataset_for_request(user: AnyUser, name: str) -> tuple[Dataset, bool]:
    """The dataset `user` asks to read, and whether they may see its metadata.

    Restricted datasets are hidden from the catalog, yet an engineer told their name must be
    able to ask for them: the request form reveals only the name and tier, nothing else.
    """
    if not user.is_authenticated:
        raise Http404
    dataset = get_object_or_404(Dataset.objects.select_related("owner"), name=name)
    visible = datasets_for(user, "view").filter(pk=dataset.pk).exists()
    if not visible and dataset.sensitivity != Sensitivity.RESTRICTED:
        raise Http404
    return dataset, visible


# --- lineage ----------------------------------------------------------------------------------
# Jobs, runs and model versions are metadata every signed-in user may see; a dataset node of the
# graph is shown only where `datasets_for(user, "view")` allows (else a redacted placeholder).


def can_post_lineage(user: AnyUser) -> bool:
    """Pipelines post OpenLineage events with a token of a user holding any Charter role."""
    return user.is_authenticated and has_role(user, STEWARD, ENGINEER, ADMIN)


def can_register_model_version(user: AnyUser) -> bool:
    """ML engineers, stewards and admins register models and model versions."""
    return user.is_authenticated and has_role(user, STEWARD, ENGINEER, ADMIN)


def can_view_lineage_events(user: AnyUser) -> bool:
    """Raw OpenLineage events (and what processing skipped) are for stewards and admins."""
    return has_role(user, STEWARD, ADMIN)


# --- audits -----------------------------------------------------------------------------------
# Audit policies and runs are seen through their dataset: a run is visible when its dataset is.
# Stewards (and admins) manage policies; owners manage policies on their own datasets. Reports:
# compliance officers and admins for everything, stewards for the datasets they look after.


def audit_runs_for(user: AnyUser) -> QuerySet:
    """Audit runs on datasets `user` can see."""
    from audits.models import AuditRun

    if not user.is_authenticated:
        return AuditRun.objects.none()
    return AuditRun.objects.filter(dataset__in=datasets_for(user, "view").values("pk"))


def get_audit_run_for(user: AnyUser, pk: int):
    """One run: 404 when its dataset is invisible to `user`."""
    return get_object_or_404(
        audit_runs_for(user).select_related("policy", "dataset", "version", "requested_by"), pk=pk
    )


def audit_policies_for(user: AnyUser) -> QuerySet:
    """Policies on a visible dataset, and selection policies for stewards, compliance, admins."""
    from audits.models import AuditPolicy

    if not user.is_authenticated:
        return AuditPolicy.objects.none()
    visible = Q(dataset__in=datasets_for(user, "view").values("pk"))
    if has_role(user, STEWARD, COMPLIANCE, ADMIN):
        visible |= Q(dataset__isnull=True)
    return AuditPolicy.objects.filter(visible)


def get_audit_policy_for(user: AnyUser, pk: int, *, action: str = "view"):
    """One policy: 404 if invisible; 403 for "change" unless `user` may manage it."""
    policy = get_object_or_404(
        audit_policies_for(user).select_related("dataset", "target_tag", "target_domain"), pk=pk
    )
    if action != "view" and not can_manage_audit_policy(user, policy.dataset):
        raise PermissionDenied
    return policy


def can_manage_audit_policy(user: AnyUser, dataset: Dataset | None) -> bool:
    """Stewards and admins manage any policy; an owner manages policies on their own dataset."""
    if has_role(user, STEWARD, ADMIN):
        return True
    if dataset is None or not user.is_authenticated:
        return False
    return datasets_for(user, "change").filter(pk=dataset.pk).exists()


def audit_policy_datasets_choices(user: AnyUser) -> QuerySet[Dataset]:
    """Datasets `user` may target with a policy."""
    return datasets_for(user, "change")


def can_download_audit_report(user: AnyUser, dataset: Dataset) -> bool:
    """Compliance officers and admins; stewards (and the owner) for their own datasets."""
    if has_role(user, COMPLIANCE, ADMIN):
        return True
    if not user.is_authenticated:
        return False
    return dataset.owner_id == user.pk or dataset.stewards.filter(pk=user.pk).exists()


def can_download_compliance_report(user: AnyUser) -> bool:
    """The compliance report over many datasets is for compliance officers and admins."""
    return has_role(user, COMPLIANCE, ADMIN)


def can_edit_processing_activities(user: AnyUser) -> bool:
    """The record of processing activities (GDPR Art. 30) is kept by stewards and compliance."""
    return has_role(user, STEWARD, COMPLIANCE, ADMIN)


def can_view_processing_activities(user: AnyUser) -> bool:
    return has_role(user, STEWARD, COMPLIANCE, ADMIN)


def can_decide_pii_proposal(user: AnyUser, dataset: Dataset) -> bool:
    """Accepting a PII proposal classifies a column: stewards and admins who may change it."""
    return (
        has_role(user, STEWARD, ADMIN)
        and datasets_for(user, "change").filter(pk=dataset.pk).exists()
    )


def can_mitigate_dataset(user: AnyUser, dataset: Dataset) -> bool:
    """Producing a reweighed derived dataset registers a dataset: stewards and admins."""
    return (
        can_register_dataset(user) and datasets_for(user, "change").filter(pk=dataset.pk).exists()
    )
