"""Access services: every write about who may do what goes through here, with a ledger event."""

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F, OuterRef, QuerySet
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from access.models import (
    AccessApproval,
    AccessGrant,
    AccessLevel,
    AccessRequest,
    ApiToken,
    LoginThrottle,
)
from access.policies import (
    READ_FULL_PERM,
    READ_PERM,
    ReadAccess,
    access_duration_bounds,
    access_request_refusal,
    active_grant_q,
    approval_capacity_for,
    approvals_complete,
    approvals_still_needed,
    can_deny_request,
    can_revoke_grant,
    read_is_logged_in_full,
)
from access.roles import (
    ADMIN,
    ALL_ROLES,
    COMPLIANCE,
    ENGINEER,
    ROLE_PERMISSIONS,
    STEWARD,
    remember_roles,
)
from catalog.models import Dataset, Sensitivity
from config.celery import enqueue_on_commit
from config.prepared import fetch_prepared
from ledger.services import ledger_record

User = get_user_model()
TOKEN_PREFIX = "chr_"  # noqa: S105  a label on tokens, not a secret


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it with the raw secret, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100] or "API token", prefix=raw[:10], digest=_digest(raw)
    )
    ledger_record(actor=user, action="api_token.created", target=token, data={"name": token.name})
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: AbstractBaseUser) -> ApiToken:
    """Revoke a token at once; revoking twice changes nothing."""
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    ledger_record(actor=actor, action="api_token.revoked", target=token, data={"name": token.name})
    return token


_SENTINEL_DIGEST = "charter-token-digest-sentinel"  # no SHA-256 hex digest looks like this


def _live_token_query(digest: str) -> QuerySet:
    """The live token of an active user: its id, when it was last used, the user's columns and,
    on PostgreSQL, the names of the user's groups (what access.roles reads next)."""
    query = (
        ApiToken.objects.filter(digest=digest, revoked_at__isnull=True, user__is_active=True)
        .order_by("-created_at")
        .values_list("pk", "last_used_at", *(f"user__{name}" for name in _user_columns()))
    )
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        groups = Group.objects.filter(user=OuterRef("user_id")).order_by().values("name")
        query = query.annotate(group_names=ArraySubquery(groups))
    return query[:1]


def _user_columns() -> list[str]:
    return [field.attname for field in User._meta.concrete_fields]


@functools.cache
def _live_token_statement() -> tuple[str, tuple, int]:
    """`_live_token_query` compiled once (PostgreSQL), with a sentinel for the digest:
    building and compiling it (the user's 11 columns, the groups) cost ~2.5 ms of Python on
    every API request, several times what PostgreSQL takes to answer it."""
    sql, params = _live_token_query(_SENTINEL_DIGEST).query.sql_with_params()
    return sql, params, params.index(_SENTINEL_DIGEST)


def _live_token_row(digest: str) -> tuple | None:
    if connection.vendor != "postgresql":  # the ORM's converters (SQLite's dates are text)
        return next(iter(_live_token_query(digest)), None)
    sql, params, at = _live_token_statement()
    rows = fetch_prepared(sql, (*params[:at], digest, *params[at + 1 :]))
    return rows[0] if rows else None


def api_token_authenticate(*, raw: str) -> AbstractBaseUser | None:
    """Return the active user behind a raw token, or None; note when it was last used.

    One query: the token, its user and (on PostgreSQL) the user's roles for access.roles."""
    row = _live_token_row(_digest(raw))
    if row is None:
        return None
    token_id, last_used_at = row[0], row[1]
    columns = _user_columns()
    user = User.from_db(connection.alias, columns, row[2 : 2 + len(columns)])
    if len(row) > 2 + len(columns):
        remember_roles(user, row[2 + len(columns)])
    now = timezone.now()
    if last_used_at is None or now - last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)  # hot row: one field
    return user


def _throttle_username(username: str) -> str:
    return username.strip().lower()[:150]


def login_is_throttled(*, username: str, ip_address: str) -> bool:
    """True while (username, address) is cooling off after too many failures."""
    locked_until = (
        LoginThrottle.objects.filter(username=_throttle_username(username), ip_address=ip_address)
        .values_list("locked_until", flat=True)
        .first()
    )
    return locked_until is not None and locked_until > timezone.now()


@transaction.atomic
def login_failure_record(*, username: str, ip_address: str) -> bool:
    """Count a failed login, log it, and start a cool-off at the limit. Returns True if locked."""
    now = timezone.now()
    throttle, _ = LoginThrottle.objects.select_for_update().get_or_create(
        username=_throttle_username(username), ip_address=ip_address
    )
    if throttle.locked_until and throttle.locked_until <= now:
        throttle.failures = 0  # the cool-off is over: a fresh allowance
        throttle.locked_until = None
    throttle.failures += 1
    throttle.last_failure_at = now
    locked = throttle.failures >= settings.CHARTER_LOGIN_MAX_FAILURES
    if locked:
        throttle.locked_until = now + timedelta(seconds=settings.CHARTER_LOGIN_COOLOFF_SECONDS)
    throttle.save()
    data = {"username": username[:150], "ip": ip_address, "failures": throttle.failures}
    ledger_record(actor=None, action="auth.login_failed", data={**data, "locked": locked})
    return locked


@transaction.atomic
def login_success_record(*, user: AbstractBaseUser, ip_address: str) -> None:
    """Log a login and clear the failure count for that username and address."""
    LoginThrottle.objects.filter(
        username=_throttle_username(user.get_username()), ip_address=ip_address
    ).delete()
    ledger_record(actor=user, action="auth.login", target=user, data={"ip": ip_address})


def logout_record(*, user: AbstractBaseUser, ip_address: str) -> None:
    """Log a logout (called before the session ends, while the user is still known)."""
    ledger_record(actor=user, action="auth.logout", target=user, data={"ip": ip_address})


@transaction.atomic
def roles_bootstrap() -> list[str]:
    """Create the role groups with their model permissions; safe to run any number of times."""
    for role in ALL_ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ROLE_PERMISSIONS[role]
        perms = [
            Permission.objects.get(content_type__app_label=label, codename=codename)
            for label, codename in (p.split(".", 1) for p in wanted)
        ]
        group.permissions.set(perms)
    return list(ALL_ROLES)


DEMO_USERS = {
    "steward": STEWARD,
    "engineer": ENGINEER,
    "compliance": COMPLIANCE,
    "admin": ADMIN,
}


def demo_logins() -> list[tuple[str, str]]:
    """The demo users (username, role) that exist, for the login page of a laptop install."""
    present = set(User.objects.filter(username__in=DEMO_USERS).values_list("username", flat=True))
    return [(username, role) for username, role in DEMO_USERS.items() if username in present]


@transaction.atomic
def demo_users_ensure(*, password: str) -> list[str]:
    """Create one demo user per role (idempotent; existing users keep their password)."""
    names = []
    for username, role in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@charter.example", "first_name": username.title()},
        )
        if created:
            user.set_password(password)
            user.is_staff = user.is_superuser = username == "admin"
            user.save()
        user.groups.add(Group.objects.get(name=role))
        names.append(username)
    return names


# --- access requests, approvals, grants (issue 4) ----------------------------------------------
#
# Grants are the source of truth for who may read data; guardian object permissions are derived
# from them by `grant_permissions_sync`, the only code that assigns or removes them. Every act
# writes a ledger event in its own transaction; e-mails go out after commit.

MIN_PURPOSE_CHARS = 10


def _validated_request_fields(
    *, dataset: Dataset, level: str, purpose: str, duration_days: int | None, columns: list[str]
) -> tuple[str, int, list[str]]:
    """Check a request's shape and bounds; raise one ValidationError naming every bad field."""
    errors: dict[str, str] = {}
    purpose = (purpose or "").strip()
    if len(purpose) < MIN_PURPOSE_CHARS:
        errors["purpose"] = (
            f"Say what the data is for (at least {MIN_PURPOSE_CHARS} characters): approvers "
            "and compliance reports show it."
        )
    if level not in AccessLevel.values:
        errors["level"] = f"Choose a level: {', '.join(AccessLevel.values)}."
    default, maximum = access_duration_bounds(dataset)
    days = default if duration_days in (None, "") else duration_days
    if not isinstance(days, int) or not 1 <= days <= maximum:
        errors["duration_days"] = (
            f"Choose between 1 and {maximum} days for {dataset.get_sensitivity_display().lower()} "
            "data."
        )
    wanted = [c.strip() for c in columns or [] if c and c.strip()]
    if wanted:
        known = set(dataset.columns.values_list("name", flat=True))
        unknown = sorted(set(wanted) - known)
        if unknown:
            errors["columns"] = f"{dataset.name} has no column named {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)
    return purpose, days, list(dict.fromkeys(wanted))


@transaction.atomic
def access_request_create(
    *,
    requester: AbstractBaseUser,
    dataset: Dataset,
    level: str,
    purpose: str,
    duration_days: int | None = None,
    columns: list[str] | None = None,
    renews: AccessGrant | None = None,
) -> AccessRequest:
    """Ask for access to a dataset's data; approvers are told after commit."""
    refusal = access_request_refusal(requester, dataset)
    if refusal:
        raise ValidationError(refusal)
    purpose, days, wanted = _validated_request_fields(
        dataset=dataset, level=level, purpose=purpose, duration_days=duration_days, columns=columns
    )
    pending = AccessRequest.objects.filter(
        dataset=dataset, requester=requester, status=AccessRequest.Status.PENDING
    ).first()
    if pending is not None:
        raise ValidationError(
            f"You already have a pending request (#{pending.pk}) for {dataset.name}; "
            "withdraw it first to ask differently."
        )
    if renews is not None and (renews.user_id != requester.pk or renews.dataset_id != dataset.pk):
        raise ValidationError("Only the holder can renew a grant, for the same dataset.")
    access_request = AccessRequest.objects.create(
        dataset=dataset,
        requester=requester,
        level=level,
        purpose=purpose,
        duration_days=days,
        columns=wanted,
        renews=renews,
    )
    ledger_record(
        actor=requester,
        action="access.requested",
        target=access_request,
        data={
            "dataset": dataset.name,
            "tier": dataset.sensitivity,
            "level": level,
            "purpose": purpose,
            "duration_days": days,
            "columns": wanted,
            "renews_grant": renews.pk if renews else None,
        },
    )
    from access.tasks import access_request_notify_task

    enqueue_on_commit(access_request_notify_task, request_id=access_request.pk, event="requested")
    return access_request


def _locked_request(access_request: AccessRequest) -> AccessRequest:
    return (
        AccessRequest.objects.select_for_update()
        .select_related("dataset", "requester")
        .get(pk=access_request.pk)
    )


def _require_pending(access_request: AccessRequest) -> None:
    if access_request.status != AccessRequest.Status.PENDING:
        status = access_request.get_status_display().lower()
        raise ValidationError(f"Request #{access_request.pk} is already {status}.")


@transaction.atomic
def access_request_approve(
    *, access_request: AccessRequest, approver: AbstractBaseUser, comment: str = ""
) -> AccessRequest:
    """Record one approval; when the tier's approvals are complete, create the grant."""
    access_request = _locked_request(access_request)
    _require_pending(access_request)
    approvals = list(access_request.approvals.all())
    capacity = approval_capacity_for(approver, access_request, approvals)
    if capacity is None:
        if access_request.requester_id == approver.pk:
            raise PermissionDenied("You cannot approve your own request.")
        raise PermissionDenied("You cannot approve this request (or you already have).")
    approval = AccessApproval.objects.create(
        request=access_request, approver=approver, capacity=capacity, comment=comment.strip()
    )
    approvals.append(approval)
    complete = approvals_complete(access_request.dataset, approvals)
    ledger_record(
        actor=approver,
        action="access.approved",
        target=access_request,
        data={
            "dataset": access_request.dataset.name,
            "requester": access_request.requester.get_username(),
            "capacity": capacity,
            "comment": approval.comment,
            "complete": complete,
            "still_needed": approvals_still_needed(access_request.dataset, approvals),
        },
    )
    if complete:
        access_request.status = AccessRequest.Status.APPROVED
        access_request.decided_at = timezone.now()
        access_request.decided_by = approver
        access_request.save(update_fields=["status", "decided_at", "decided_by"])
        _grant_create(access_request=access_request, approvals=approvals)
    from access.tasks import access_request_notify_task

    event = "approved" if complete else "partially_approved"
    enqueue_on_commit(access_request_notify_task, request_id=access_request.pk, event=event)
    return access_request


def _grant_create(*, access_request: AccessRequest, approvals: list[AccessApproval]) -> AccessGrant:
    now = timezone.now()
    grant = AccessGrant.objects.create(
        request=access_request,
        user=access_request.requester,
        dataset=access_request.dataset,
        level=access_request.level,
        purpose=access_request.purpose,
        columns=access_request.columns,
        starts_at=now,
        expires_at=now + timedelta(days=access_request.duration_days),
    )
    grant.approvers.set([a.approver_id for a in approvals])
    ledger_record(
        actor=approvals[-1].approver,
        action="access.granted",
        target=grant,
        data={
            "dataset": grant.dataset.name,
            "user": grant.user.get_username(),
            "level": grant.level,
            "purpose": grant.purpose,
            "columns": grant.columns,
            "approvers": [a.approver.get_username() for a in approvals],
            "starts_at": grant.starts_at,
            "expires_at": grant.expires_at,
            "request": access_request.pk,
        },
    )
    grant_permissions_sync(user=grant.user, dataset=grant.dataset)
    return grant


@transaction.atomic
def access_request_deny(
    *, access_request: AccessRequest, approver: AbstractBaseUser, reason: str
) -> AccessRequest:
    """Refuse a request, with a reason the requester sees."""
    access_request = _locked_request(access_request)
    _require_pending(access_request)
    if not can_deny_request(approver, access_request):
        if access_request.requester_id == approver.pk:
            raise PermissionDenied("You cannot decide your own request; withdraw it instead.")
        raise PermissionDenied("You cannot decide requests on this dataset.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason: the requester sees it."})
    access_request.status = AccessRequest.Status.DENIED
    access_request.decided_at = timezone.now()
    access_request.decided_by = approver
    access_request.decision_reason = reason
    access_request.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
    ledger_record(
        actor=approver,
        action="access.denied",
        target=access_request,
        data={
            "dataset": access_request.dataset.name,
            "requester": access_request.requester.get_username(),
            "reason": reason,
        },
    )
    from access.tasks import access_request_notify_task

    enqueue_on_commit(access_request_notify_task, request_id=access_request.pk, event="denied")
    return access_request


@transaction.atomic
def access_request_withdraw(
    *, access_request: AccessRequest, actor: AbstractBaseUser
) -> AccessRequest:
    """The requester takes back a pending request."""
    access_request = _locked_request(access_request)
    _require_pending(access_request)
    if access_request.requester_id != actor.pk:
        raise PermissionDenied("Only the requester can withdraw a request.")
    access_request.status = AccessRequest.Status.WITHDRAWN
    access_request.decided_at = timezone.now()
    access_request.decided_by = actor
    access_request.save(update_fields=["status", "decided_at", "decided_by"])
    ledger_record(
        actor=actor,
        action="access.withdrawn",
        target=access_request,
        data={"dataset": access_request.dataset.name},
    )
    return access_request


def _grant_end(
    *, grant: AccessGrant, ending: str, actor: AbstractBaseUser | None, reason: str
) -> None:
    grant.ended_at = timezone.now()
    grant.ending = ending
    grant.ended_by = actor
    grant.end_reason = reason
    grant.save(update_fields=["ended_at", "ending", "ended_by", "end_reason"])
    ledger_record(
        actor=actor,
        action=f"access.{ending}",
        target=grant,
        data={
            "dataset": grant.dataset.name,
            "user": grant.user.get_username(),
            "level": grant.level,
            "reason": reason,
            "expires_at": grant.expires_at,
        },
    )
    grant_permissions_sync(user=grant.user, dataset=grant.dataset)


@transaction.atomic
def access_grant_revoke(*, grant: AccessGrant, actor: AbstractBaseUser, reason: str) -> AccessGrant:
    """End a grant now, with a reason; the holder is told after commit. Idempotent."""
    grant = (
        AccessGrant.objects.select_for_update().select_related("dataset", "user").get(pk=grant.pk)
    )
    if grant.ended_at is not None:
        return grant
    if not can_revoke_grant(actor, grant):
        raise PermissionDenied("You cannot revoke this grant.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason: the holder and the ledger record it."})
    _grant_end(grant=grant, ending=AccessGrant.Ending.REVOKED, actor=actor, reason=reason)
    _grant_notify(grant, "revoked")
    return grant


def _grant_notify(grant: AccessGrant, event: str) -> None:
    """Tell the holder their grant ended, once the transaction that ended it commits."""
    from access.tasks import access_grant_notify_task  # tasks import these services

    enqueue_on_commit(access_grant_notify_task, grant_id=grant.pk, event=event)


def access_grants_expire(*, now: datetime | None = None) -> int:
    """Revoke every grant past its expiry, one transaction each; returns how many ended."""
    now = now or timezone.now()
    due = list(
        AccessGrant.objects.filter(ended_at__isnull=True, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)
    )
    ended = 0
    for pk in due:
        with transaction.atomic():
            grant = (
                AccessGrant.objects.select_for_update()
                .select_related("dataset", "user")
                .filter(pk=pk, ended_at__isnull=True, expires_at__lte=now)
                .first()
            )
            if grant is None:
                continue  # another worker got there first
            _grant_end(grant=grant, ending=AccessGrant.Ending.EXPIRED, actor=None, reason="expired")
            _grant_notify(grant, "expired")
            ended += 1
    return ended


@transaction.atomic
def grant_permissions_sync(*, user: AbstractBaseUser, dataset: Dataset) -> set[str]:
    """Make `user`'s guardian permissions on `dataset` match their grants in force right now.

    The only writer of dataset object permissions: read_dataset_data while any grant is in
    force, read_dataset_data_full while a full one is. Returns the codenames now held.
    """
    levels = set(
        AccessGrant.objects.filter(active_grant_q(), user=user, dataset=dataset).values_list(
            "level", flat=True
        )
    )
    wanted = set()
    if levels:
        wanted.add(READ_PERM)
    if AccessLevel.FULL in levels:
        wanted.add(READ_FULL_PERM)
    for perm in (READ_PERM, READ_FULL_PERM):
        if perm in wanted:
            assign_perm(perm, user, dataset)
        else:
            remove_perm(perm, user, dataset)
    return {p.split(".", 1)[1] for p in wanted}


@transaction.atomic
def dataset_read_record(
    *,
    user: AbstractBaseUser,
    dataset: Dataset,
    access: ReadAccess,
    channel: str,
    detail: dict | None = None,
) -> None:
    """Log one read of a dataset's data (preview, download, API) and stamp the grant's last use."""
    ledger_record(
        actor=user,
        action="data.read",
        target=dataset,
        data={
            "channel": channel,
            "level": access.level,
            "basis": access.basis,
            "grant": access.grant.pk if access.grant else None,
            "tier": dataset.sensitivity,
            "raw_sensitive": read_is_logged_in_full(dataset, access),
            "columns": list(access.columns),
            **(detail or {}),
        },
    )
    if access.grant is not None:
        AccessGrant.objects.filter(pk=access.grant.pk).update(
            last_read_at=timezone.now(), read_count=F("read_count") + 1
        )


def access_notification_send(*, access_request_id: int, event: str) -> int:
    """E-mail about a request: approvers when it is made, the requester on every decision."""
    access_request = (
        AccessRequest.objects.select_related("dataset", "requester", "decided_by")
        .filter(pk=access_request_id)
        .first()
    )
    if access_request is None:
        return 0
    dataset = access_request.dataset
    link = access_request.get_absolute_url()
    if event == "requested":
        recipients = _approver_emails(access_request)
        subject = f"[Charter] Access request #{access_request.pk}: {dataset.name}"
        body = (
            f"{access_request.requester.get_username()} asks for {access_request.level} access to "
            f"{dataset.name} ({dataset.sensitivity}) for {access_request.duration_days} days.\n\n"
            f"Purpose: {access_request.purpose}\n\nDecide: {link}\n"
        )
    else:
        recipients = [access_request.requester.email]
        subject = f"[Charter] Your access request #{access_request.pk} for {dataset.name}: {event}"
        body = _decision_body(access_request, event) + f"\nDetails: {link}\n"
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return 0
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


def _decision_body(access_request: AccessRequest, event: str) -> str:
    if event == "denied":
        return f"Denied by {access_request.decided_by}. Reason: {access_request.decision_reason}\n"
    approvals = list(access_request.approvals.select_related("approver"))
    who = ", ".join(f"{a.approver.get_username()} ({a.capacity})" for a in approvals)
    if event == "approved":
        grant = AccessGrant.objects.filter(request=access_request).first()
        until = grant.expires_at.strftime("%Y-%m-%d %H:%M UTC") if grant else "?"
        return f"Approved by {who}. You can read the data ({access_request.level}) until {until}.\n"
    still = ", ".join(approvals_still_needed(access_request.dataset, approvals))
    return f"Approved so far by {who}. Still needed: {still}.\n"


def _approver_emails(access_request: AccessRequest) -> list[str]:
    dataset = access_request.dataset
    roles = [STEWARD, COMPLIANCE] if dataset.sensitivity == Sensitivity.RESTRICTED else [STEWARD]
    emails = list(
        User.objects.filter(groups__name__in=roles, is_active=True)
        .exclude(pk=access_request.requester_id)
        .values_list("email", flat=True)
    )
    if dataset.owner and dataset.owner_id != access_request.requester_id:
        emails.append(dataset.owner.email)
    return emails


def access_grant_notification_send(*, grant_id: int, event: str) -> int:
    """E-mail a grant's holder that it ended ("revoked", with the reason, or "expired")."""
    grant = (
        AccessGrant.objects.select_related("dataset", "user", "ended_by")
        .filter(pk=grant_id)
        .first()
    )
    if grant is None or not grant.user.email:
        return 0
    ended = "expired" if event == "expired" else f"was {event}"
    subject = f"[Charter] Your access to {grant.dataset.name} {ended}"
    body = (
        f"Your {grant.level} access to {grant.dataset.name} ended on "
        f"{grant.ended_at:%Y-%m-%d %H:%M} UTC ({event}"
        f"{' by ' + grant.ended_by.get_username() if grant.ended_by else ''}).\n"
        f"Reason: {grant.end_reason}\n\nTo keep reading, request access again.\n"
    )
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [grant.user.email])
