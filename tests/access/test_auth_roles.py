"""Roles are Django groups with model permissions, created idempotently by bootstrap_roles."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from access.roles import ALL_ROLES, ROLE_PERMISSIONS, role_names
from access.services import DEMO_USERS, demo_users_ensure

pytestmark = pytest.mark.django_db


def _snapshot():
    return {
        g.name: sorted(f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all())
        for g in Group.objects.prefetch_related("permissions__content_type")
    }


def test_bootstrap_roles_creates_the_four_groups_with_their_permissions():
    out = io.StringIO()
    call_command("bootstrap_roles", stdout=out)
    snapshot = _snapshot()
    assert set(snapshot) == set(ALL_ROLES)
    for role in ALL_ROLES:
        assert snapshot[role] == sorted(ROLE_PERMISSIONS[role])
    assert out.getvalue().count("role ready") == 4


def test_bootstrap_roles_is_idempotent_and_repairs_drift():
    call_command("bootstrap_roles", stdout=io.StringIO())
    first = _snapshot()
    Group.objects.get(name=ALL_ROLES[0]).permissions.clear()  # an admin removed them by hand
    call_command("bootstrap_roles", stdout=io.StringIO())
    call_command("bootstrap_roles", stdout=io.StringIO())
    assert _snapshot() == first
    assert Group.objects.count() == 4


def test_demo_users_one_per_role_and_rerun_keeps_changed_passwords(roles):
    demo_users_ensure(password="charter-demo")
    from django.contrib.auth import get_user_model

    users = {u.username: u for u in get_user_model().objects.all()}
    assert set(users) == set(DEMO_USERS)
    for username, role in DEMO_USERS.items():
        assert role_names(users[username]) == [role]
    users["steward"].set_password("changed-by-its-owner")
    users["steward"].save()
    demo_users_ensure(password="charter-demo")
    steward = get_user_model().objects.get(username="steward")
    assert steward.check_password("changed-by-its-owner")
    assert get_user_model().objects.count() == 4


def test_superuser_counts_as_admin(admin_user):
    assert "Admin" in role_names(admin_user)
