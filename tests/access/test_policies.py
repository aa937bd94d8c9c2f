"""The tier rules, read levels and visibility answered by access/policies.py alone."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from access.models import AccessApproval, AccessRequest
from access.policies import (
    access_duration_bounds,
    access_request_refusal,
    approval_capacity_for,
    approval_slots,
    approvals_complete,
    can_revoke_grant,
    dataset_read_access,
    datasets_for,
    get_dataset_for_request,
    get_dataset_read_access,
)
from access.roles import COMPLIANCE, ENGINEER, STEWARD
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("tier", "bounds"),
    [("internal", (90, 365)), ("confidential", (30, 90)), ("restricted", (14, 30))],
)
def test_duration_bounds_by_tier(make_dataset, tier, bounds):
    assert access_duration_bounds(make_dataset(sensitivity=tier)) == bounds


def test_settings_change_defaults_but_never_lift_restricted_past_30(make_dataset, settings):
    settings.CHARTER_ACCESS_DURATION_DAYS = {"restricted": (45, 90), "internal": (7, 30)}
    assert access_duration_bounds(make_dataset(sensitivity="restricted")) == (30, 30)
    assert access_duration_bounds(make_dataset(name="i", sensitivity="internal")) == (7, 30)


def test_slots_per_tier(make_dataset):
    assert approval_slots(make_dataset(sensitivity="public")) == []
    assert approval_slots(make_dataset(name="i", sensitivity="internal")) == [("owner", "steward")]
    assert approval_slots(make_dataset(name="r", sensitivity="restricted")) == [
        ("steward",),
        ("compliance",),
    ]


def _pending(dataset, requester):
    return AccessRequest(dataset=dataset, requester=requester, status="pending", level="masked")


def test_capacity_rules_without_touching_the_database_per_row(
    make_dataset, engineer, steward, compliance, django_assert_num_queries
):
    restricted = make_dataset(sensitivity="restricted", owner=engineer)
    req = _pending(restricted, make_user("rita", ENGINEER))
    for user in (steward, compliance, engineer):  # roles are cached on the user once asked
        approval_capacity_for(user, req, [])
    with django_assert_num_queries(0):
        assert approval_capacity_for(steward, req, []) == "steward"
        assert approval_capacity_for(compliance, req, []) == "compliance"
        assert approval_capacity_for(engineer, req, []) is None  # owner: not for restricted
        done = [AccessApproval(approver=steward, capacity="steward")]
        assert approval_capacity_for(compliance, req, done) == "compliance"
        assert approval_capacity_for(steward, req, done) is None
        assert not approvals_complete(restricted, done)
        done.append(AccessApproval(approver=compliance, capacity="compliance"))
        assert approvals_complete(restricted, done)


def test_a_decided_request_has_no_capacity_left(make_dataset, engineer, steward):
    req = _pending(make_dataset(), engineer)
    req.status = "approved"
    assert approval_capacity_for(steward, req, []) is None


def test_refusals(make_dataset, engineer):
    assert "no request is needed" in access_request_refusal(
        engineer, make_dataset(sensitivity="public")
    )
    owned = make_dataset(name="o", owner=engineer)
    assert "You own this dataset" in access_request_refusal(engineer, owned)
    assert access_request_refusal(engineer, make_dataset(name="x")) is None


def test_read_levels(make_dataset, engineer, engineer2, admin_user, steward, grant_access):
    confidential = make_dataset(sensitivity="confidential", owner=engineer2)
    assert dataset_read_access(engineer, confidential) is None
    assert dataset_read_access(steward, confidential) is None  # stewards approve, not read
    assert dataset_read_access(engineer2, confidential).level == "full"  # the owner
    admin = dataset_read_access(admin_user, confidential)
    assert admin.level == "masked" and admin.basis == "admin"
    grant_access(engineer, confidential, "masked")
    assert dataset_read_access(engineer, confidential).level == "masked"
    grant_access(engineer, confidential, "full")
    access = dataset_read_access(engineer, confidential)
    assert access.level == "full" and access.basis == "grant"
    public = make_dataset(name="pub", sensitivity="public")
    assert dataset_read_access(engineer, public).basis == "public"


def test_a_grant_without_its_derived_permission_reads_nothing(make_dataset, engineer, grant_access):
    from guardian.shortcuts import remove_perm

    dataset = make_dataset()
    grant_access(engineer, dataset, "full")
    remove_perm("catalog.read_dataset_data", engineer, dataset)
    remove_perm("catalog.read_dataset_data_full", engineer, dataset)
    assert dataset_read_access(engineer, dataset) is None


def test_restricted_is_visible_to_grant_holders_only(
    make_dataset, engineer, engineer2, grant_access
):
    dataset = make_dataset(sensitivity="restricted")
    grant_access(engineer, dataset)
    assert dataset in datasets_for(engineer, "view")
    assert dataset not in datasets_for(engineer2, "view")
    assert dataset in datasets_for(engineer, "read")


def test_not_visible_is_404_visible_but_not_readable_is_403(make_dataset, engineer):
    make_dataset(name="hidden", sensitivity="restricted")
    make_dataset(name="shown", sensitivity="internal")
    with pytest.raises(Http404):
        get_dataset_read_access(engineer, "hidden")
    with pytest.raises(PermissionDenied):
        get_dataset_read_access(engineer, "shown")


def test_restricted_can_be_requested_by_name_but_reveals_it_is_invisible(make_dataset, engineer):
    make_dataset(name="hidden", sensitivity="restricted")
    dataset, visible = get_dataset_for_request(engineer, "hidden")
    assert dataset.name == "hidden" and visible is False
    with pytest.raises(Http404):
        get_dataset_for_request(engineer, "nothing-here")


def test_revocation_rights(
    make_dataset, engineer, engineer2, steward, compliance, grant_access, roles
):
    owner = make_user("own", ENGINEER)
    grant = grant_access(engineer, make_dataset(owner=owner))
    assert can_revoke_grant(steward, grant)
    assert can_revoke_grant(owner, grant)
    assert can_revoke_grant(engineer, grant)  # a holder may give up their own grant
    assert not can_revoke_grant(engineer2, grant)
    assert not can_revoke_grant(compliance, grant)  # compliance oversees, stewards act
    both = make_user("bo", STEWARD, COMPLIANCE)
    assert can_revoke_grant(both, grant)


def test_a_lapsed_grant_stops_listing_at_expiry_before_the_beat_revokes_it(
    make_dataset, engineer, grant_access
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    dataset = make_dataset(sensitivity="restricted")
    grant_access(engineer, dataset, days=1)
    assert dataset in datasets_for(engineer, "read")
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        assert dataset not in datasets_for(engineer, "read")
        assert dataset not in datasets_for(engineer, "view")
