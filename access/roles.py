"""The four roles are Django groups; this module names them and what each may do model-wide."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

STEWARD = "Data steward"
ENGINEER = "ML engineer"
COMPLIANCE = "Compliance officer"
ADMIN = "Admin"
ALL_ROLES = (STEWARD, ENGINEER, COMPLIANCE, ADMIN)

# Model-wide permissions per role ("app_label.codename"); object permissions come from grants.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    STEWARD: ["catalog.add_dataset", "catalog.change_dataset", "catalog.view_dataset"],
    ENGINEER: [],
    COMPLIANCE: ["catalog.view_dataset", "ledger.view_event"],
    ADMIN: [
        "catalog.add_dataset",
        "catalog.change_dataset",
        "catalog.view_dataset",
        "ledger.view_event",
    ],
}


def role_names(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The user's roles in a stable order; superusers count as Admin."""
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_charter_roles", None)
    if cached is None:
        cached = remember_roles(user, user.groups.values_list("name", flat=True))
    return cached


def remember_roles(user: AbstractBaseUser, group_names: Iterable[str]) -> list[str]:
    """Fill `role_names`' cache from the user's group names, e.g. read along with the user."""
    groups = set(group_names)
    if user.is_superuser:
        groups.add(ADMIN)
    user._charter_roles = [role for role in ALL_ROLES if role in groups]
    return user._charter_roles


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    return any(role in role_names(user) for role in roles)
