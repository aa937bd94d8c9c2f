"""Access tasks are thin: they call the services, survive vanished rows, and send mail."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from access.tasks import (
    access_grant_notify_task,
    access_grants_expire_task,
    access_request_notify_task,
)

pytestmark = pytest.mark.django_db


def test_expire_task_revokes_what_expired(make_dataset, engineer, grant_access):
    grant = grant_access(engineer, make_dataset(), days=1)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert access_grants_expire_task.delay().get() == 1
    grant.refresh_from_db()
    assert grant.ending == "expired"


def test_expiry_mails_the_holder_once(
    make_dataset, engineer, grant_access, django_capture_on_commit_callbacks
):
    grant = grant_access(engineer, make_dataset(name="loans"), days=1)
    with (
        time_machine.travel(timezone.now() + timedelta(days=2)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert access_grants_expire_task.delay().get() == 1
        assert access_grants_expire_task.delay().get() == 0  # already ended: no second mail
    [message] = mail.outbox
    assert message.to == [engineer.email]
    assert message.subject == "[Charter] Your access to loans expired"
    assert f"Your {grant.level} access to loans ended" in message.body


def test_notify_tasks_handle_vanished_rows(db):
    assert access_request_notify_task(request_id=999, event="approved") == 0
    assert access_grant_notify_task(grant_id=999, event="revoked") == 0
    assert mail.outbox == []


def test_restricted_request_mails_stewards_and_compliance(
    make_dataset, engineer, steward, compliance, django_capture_on_commit_callbacks
):
    from access.services import access_request_create

    with django_capture_on_commit_callbacks(execute=True):
        access_request_create(
            requester=engineer,
            dataset=make_dataset(sensitivity="restricted"),
            level="full",
            purpose="Chargeback analysis for Q3.",
        )
    assert sorted(mail.outbox[0].to) == sorted([steward.email, compliance.email])
    assert "Chargeback analysis" in mail.outbox[0].body
