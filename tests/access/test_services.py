"""Access services: requests, tier approvals, grants, guardian sync, revocation, expiry, mail."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from guardian.shortcuts import get_perms

from access.models import AccessGrant, AccessRequest, DatasetUserObjectPermission
from access.services import (
    access_grant_revoke,
    access_grants_expire,
    access_request_approve,
    access_request_create,
    access_request_deny,
    access_request_withdraw,
    grant_permissions_sync,
)
from catalog.models import Sensitivity
from ledger.models import Event
from ledger.services import ledger_verify

pytestmark = pytest.mark.django_db
PURPOSE = "Train the churn model for Q3 retention work."


def request(user, dataset, level="masked", **kw):
    return access_request_create(
        requester=user, dataset=dataset, level=level, purpose=kw.pop("purpose", PURPOSE), **kw
    )


def actions():
    return list(Event.objects.order_by("seq").values_list("action", flat=True))


def test_request_records_a_ledger_event_and_tells_approvers(
    make_dataset, engineer, steward, django_capture_on_commit_callbacks
):
    dataset = make_dataset(sensitivity=Sensitivity.INTERNAL)
    with django_capture_on_commit_callbacks(execute=True):
        req = request(engineer, dataset, duration_days=10, columns=["id", "score"])
    assert req.status == AccessRequest.Status.PENDING
    assert req.columns == ["id", "score"]
    event = Event.objects.get(action="access.requested")
    assert event.data["purpose"] == PURPOSE and event.data["tier"] == "internal"
    assert [m.to for m in mail.outbox] == [[steward.email]]


def test_request_defaults_duration_by_tier(make_dataset, engineer):
    req = request(engineer, make_dataset(sensitivity=Sensitivity.RESTRICTED))
    assert req.duration_days == 14


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"purpose": ""}, "purpose"),
        ({"purpose": "   short "}, "purpose"),
        ({"level": "admin"}, "level"),
        ({"duration_days": 0}, "duration_days"),
        ({"duration_days": 31}, "duration_days"),
        ({"columns": ["id", "nope"]}, "columns"),
    ],
)
def test_bad_requests_are_refused_with_field_messages_and_nothing_saved(
    make_dataset, engineer, fields, field
):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    with pytest.raises(ValidationError) as exc:
        request(engineer, dataset, **{"level": "masked", **fields})
    assert field in exc.value.message_dict
    assert not AccessRequest.objects.exists()
    assert not Event.objects.filter(action="access.requested").exists()


def test_restricted_is_at_most_30_days_even_if_settings_say_more(make_dataset, engineer, settings):
    settings.CHARTER_ACCESS_DURATION_DAYS = {"restricted": (60, 90)}
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    with pytest.raises(ValidationError, match="between 1 and 30 days"):
        request(engineer, dataset, duration_days=45)
    assert request(engineer, dataset).duration_days == 30


def test_public_data_needs_no_request(make_dataset, engineer):
    with pytest.raises(ValidationError, match="no request is needed"):
        request(engineer, make_dataset(sensitivity=Sensitivity.PUBLIC))


def test_a_second_pending_request_is_refused(make_dataset, engineer):
    dataset = make_dataset()
    request(engineer, dataset)
    with pytest.raises(ValidationError, match="already have a pending request"):
        request(engineer, dataset, level="full")


def test_internal_needs_one_steward_and_creates_a_grant_with_guardian_perms(
    make_dataset, engineer, steward, django_capture_on_commit_callbacks
):
    dataset = make_dataset(sensitivity=Sensitivity.INTERNAL)
    req = request(engineer, dataset, duration_days=7)
    with django_capture_on_commit_callbacks(execute=True):
        req = access_request_approve(access_request=req, approver=steward)
    assert req.status == AccessRequest.Status.APPROVED
    grant = req.grant
    assert grant.user == engineer and grant.level == "masked" and grant.purpose == PURPOSE
    assert list(grant.approvers.all()) == [steward]
    assert grant.expires_at - grant.starts_at == timedelta(days=7)
    assert set(get_perms(engineer, dataset)) == {"read_dataset_data"}
    assert (
        DatasetUserObjectPermission.objects.filter(user=engineer, content_object=dataset).count()
        == 1
    )
    assert actions()[-2:] == ["access.approved", "access.granted"]
    assert mail.outbox[-1].to == [engineer.email]
    assert "Approved by stella" in mail.outbox[-1].body


def test_owner_may_approve_internal_and_confidential(make_dataset, engineer, engineer2):
    dataset = make_dataset(sensitivity=Sensitivity.CONFIDENTIAL, owner=engineer2)
    req = access_request_approve(
        access_request=request(engineer, dataset, level="full"), approver=engineer2
    )
    assert req.status == AccessRequest.Status.APPROVED
    assert set(get_perms(engineer, dataset)) == {"read_dataset_data", "read_dataset_data_full"}


def test_owner_alone_may_not_approve_restricted(make_dataset, engineer, engineer2):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED, owner=engineer2)
    with pytest.raises(PermissionDenied):
        access_request_approve(access_request=request(engineer, dataset), approver=engineer2)


def test_restricted_needs_a_steward_and_a_compliance_officer(
    make_dataset, engineer, steward, steward2, compliance, django_capture_on_commit_callbacks
):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    req = request(engineer, dataset, level="full")
    with django_capture_on_commit_callbacks(execute=True):
        req = access_request_approve(access_request=req, approver=steward)
    assert req.status == AccessRequest.Status.PENDING  # still pending after one approval
    assert get_perms(engineer, dataset) == []
    assert "Still needed: Compliance officer" in mail.outbox[-1].body
    with pytest.raises(PermissionDenied):  # a second steward does not fill the compliance slot
        access_request_approve(access_request=req, approver=steward2)
    with pytest.raises(PermissionDenied):  # the same person cannot approve twice
        access_request_approve(access_request=req, approver=steward)
    req = access_request_approve(access_request=req, approver=compliance)
    assert req.status == AccessRequest.Status.APPROVED
    assert set(req.grant.approvers.all()) == {steward, compliance}


def test_one_person_with_both_roles_fills_only_one_restricted_slot(
    make_dataset, engineer, compliance, roles
):
    from django.contrib.auth.models import Group

    from access.roles import COMPLIANCE, STEWARD
    from tests.conftest import make_user

    both = make_user("bea", STEWARD, COMPLIANCE)
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    req = access_request_approve(access_request=request(engineer, dataset), approver=both)
    assert req.approvals.get().capacity == "steward"
    with pytest.raises(PermissionDenied):
        access_request_approve(access_request=req, approver=both)
    assert Group.objects.get(name=COMPLIANCE).user_set.count() == 2
    assert access_request_approve(access_request=req, approver=compliance).status == "approved"


def test_nobody_approves_their_own_request(make_dataset, steward, compliance):
    dataset = make_dataset(sensitivity=Sensitivity.INTERNAL)
    req = request(steward, dataset)
    with pytest.raises(PermissionDenied, match="your own request"):
        access_request_approve(access_request=req, approver=steward)
    restricted = make_dataset(name="r", sensitivity=Sensitivity.RESTRICTED)
    req = request(compliance, restricted)
    with pytest.raises(PermissionDenied, match="your own request"):
        access_request_approve(access_request=req, approver=compliance)


def test_engineers_cannot_approve(make_dataset, engineer, engineer2):
    req = request(engineer, make_dataset())
    with pytest.raises(PermissionDenied):
        access_request_approve(access_request=req, approver=engineer2)


def test_deny_needs_a_reason_and_tells_the_requester(
    make_dataset, engineer, steward, django_capture_on_commit_callbacks
):
    req = request(engineer, make_dataset())
    with pytest.raises(ValidationError) as exc:
        access_request_deny(access_request=req, approver=steward, reason="  ")
    assert "reason" in exc.value.message_dict
    with django_capture_on_commit_callbacks(execute=True):
        req = access_request_deny(access_request=req, approver=steward, reason="Use the sample.")
    assert req.status == AccessRequest.Status.DENIED and req.decision_reason == "Use the sample."
    assert mail.outbox[-1].to == [engineer.email]
    assert "Use the sample." in mail.outbox[-1].body
    assert Event.objects.get(action="access.denied").data["reason"] == "Use the sample."
    with pytest.raises(ValidationError, match="already denied"):
        access_request_approve(access_request=req, approver=steward)


def test_requester_cannot_deny_own_request(make_dataset, steward):
    req = request(steward, make_dataset())
    with pytest.raises(PermissionDenied):
        access_request_deny(access_request=req, approver=steward, reason="no")


def test_withdraw_only_by_the_requester(make_dataset, engineer, engineer2):
    req = request(engineer, make_dataset())
    with pytest.raises(PermissionDenied):
        access_request_withdraw(access_request=req, actor=engineer2)
    assert access_request_withdraw(access_request=req, actor=engineer).status == "withdrawn"
    assert actions()[-1] == "access.withdrawn"


def test_revoke_needs_a_reason_removes_perms_and_is_idempotent(
    make_dataset, engineer, steward, grant_access, django_capture_on_commit_callbacks
):
    dataset = make_dataset()
    grant = grant_access(engineer, dataset, "full")
    assert get_perms(engineer, dataset)
    with pytest.raises(ValidationError):
        access_grant_revoke(grant=grant, actor=steward, reason="")
    with django_capture_on_commit_callbacks(execute=True):
        grant = access_grant_revoke(grant=grant, actor=steward, reason="Project cancelled")
    assert grant.ending == "revoked" and grant.ended_by == steward
    assert get_perms(engineer, dataset) == []
    assert "Project cancelled" in mail.outbox[-1].body
    count = Event.objects.count()
    access_grant_revoke(grant=grant, actor=steward, reason="again")
    assert Event.objects.count() == count


def test_engineer_cannot_revoke_someone_elses_grant(
    make_dataset, engineer, engineer2, grant_access
):
    grant = grant_access(engineer, make_dataset())
    with pytest.raises(PermissionDenied):
        access_grant_revoke(grant=grant, actor=engineer2, reason="mine now")


def test_revoking_one_of_two_grants_keeps_the_other_ones_perms(
    make_dataset, engineer, steward, grant_access
):
    dataset = make_dataset()
    masked = grant_access(engineer, dataset, "masked")
    full = grant_access(engineer, dataset, "full")
    assert set(get_perms(engineer, dataset)) == {"read_dataset_data", "read_dataset_data_full"}
    access_grant_revoke(grant=full, actor=steward, reason="downgrade")
    assert set(get_perms(engineer, dataset)) == {"read_dataset_data"}
    access_grant_revoke(grant=masked, actor=steward, reason="done")
    assert get_perms(engineer, dataset) == []


def test_expiry_revokes_only_grants_past_their_expiry(
    make_dataset, engineer, engineer2, grant_access
):
    dataset = make_dataset()
    short = grant_access(engineer, dataset, days=1)
    long = grant_access(engineer2, dataset, days=10)
    assert access_grants_expire() == 0
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert access_grants_expire() == 1
        assert access_grants_expire() == 0  # idempotent
    short.refresh_from_db()
    long.refresh_from_db()
    assert short.ending == "expired" and short.ended_by is None
    assert long.ended_at is None
    assert get_perms(engineer, dataset) == []
    assert get_perms(engineer2, dataset) == ["read_dataset_data"]
    event = Event.objects.get(action="access.expired")
    assert event.actor_id is None and event.target_id == str(short.pk)
    assert ledger_verify().ok


def test_grant_permissions_sync_repairs_drift(make_dataset, engineer, grant_access):
    from guardian.shortcuts import assign_perm, remove_perm

    dataset = make_dataset()
    grant_access(engineer, dataset, "masked")
    remove_perm("catalog.read_dataset_data", engineer, dataset)
    assign_perm("catalog.read_dataset_data_full", engineer, dataset)
    assert grant_permissions_sync(user=engineer, dataset=dataset) == {"read_dataset_data"}
    assert get_perms(engineer, dataset) == ["read_dataset_data"]


def test_renewal_is_a_new_request_linked_to_the_old_grant(make_dataset, engineer, grant_access):
    dataset = make_dataset()
    grant = grant_access(engineer, dataset)
    renewal = request(engineer, dataset, renews=grant)
    assert renewal.renews == grant
    assert Event.objects.filter(action="access.requested").first().data["renews_grant"] == grant.pk


def test_every_act_is_on_a_verified_chain(
    make_dataset, engineer, steward, compliance, grant_access
):
    dataset = make_dataset(sensitivity=Sensitivity.RESTRICTED)
    grant = grant_access(engineer, dataset, "full")
    access_grant_revoke(grant=grant, actor=steward, reason="audit")
    assert actions() == [
        "access.requested",
        "access.approved",
        "access.approved",
        "access.granted",
        "access.revoked",
    ]
    assert AccessGrant.objects.count() == 1
    assert ledger_verify().ok
