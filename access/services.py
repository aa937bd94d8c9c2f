"""Access services: every write about who may do what goes through here, with a ledger event."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction
from django.utils import timezone

from access.models import ApiToken, LoginThrottle
from access.roles import ADMIN, ALL_ROLES, COMPLIANCE, ENGINEER, ROLE_PERMISSIONS, STEWARD
from ledger.services import ledger_record

User = get_user_model()
TOKEN_PREFIX = "chr_"


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


def api_token_authenticate(*, raw: str) -> AbstractBaseUser | None:
    """Return the active user behind a raw token, or None; note when it was last used."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # hot row: one field
    return token.user


def login_is_throttled(*, username: str, ip_address: str) -> bool:
    """True while (username, address) is cooling off after too many failures."""
    locked_until = (
        LoginThrottle.objects.filter(username=username.lower(), ip_address=ip_address)
        .values_list("locked_until", flat=True)
        .first()
    )
    return locked_until is not None and locked_until > timezone.now()


@transaction.atomic
def login_failure_record(*, username: str, ip_address: str) -> bool:
    """Count a failed login, log it, and start a cool-off at the limit. Returns True if locked."""
    now = timezone.now()
    throttle, _ = LoginThrottle.objects.select_for_update().get_or_create(
        username=username.lower()[:150], ip_address=ip_address
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
    LoginThrottle.objects.filter(username=user.get_username().lower(), ip_address=ip_address).delete()
    ledger_record(actor=user, action="auth.login", target=user, data={"ip": ip_address})


def logout_record(*, user: AbstractBaseUser, ip_address: str) -> None:
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
