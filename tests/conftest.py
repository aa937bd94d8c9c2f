"""Shared fixtures: personas (one per role, plus an outsider with none) and API clients."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from access.roles import ADMIN, COMPLIANCE, ENGINEER, STEWARD
from access.services import roles_bootstrap

PASSWORD = "correct-horse-battery"


def make_user(username: str, *roles: str, **extra):
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.com", **extra
    )
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def roles(db):
    roles_bootstrap()


@pytest.fixture
def steward(roles):
    return make_user("stella", STEWARD, first_name="Stella")


@pytest.fixture
def steward2(roles):
    return make_user("stan", STEWARD, first_name="Stan")


@pytest.fixture
def engineer(roles):
    return make_user("eddie", ENGINEER, first_name="Eddie")


@pytest.fixture
def engineer2(roles):
    return make_user("erin", ENGINEER, first_name="Erin")


@pytest.fixture
def compliance(roles):
    return make_user("carla", COMPLIANCE, first_name="Carla")


@pytest.fixture
def admin_user(roles):
    return make_user("ada", ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(roles):
    return make_user("oscar")


@pytest.fixture
def api_client():
    return APIClient()
