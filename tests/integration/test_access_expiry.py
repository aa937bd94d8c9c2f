"""Expiry for real: beat schedules the revoke task, a worker runs it through Redis on PostgreSQL.

The grant is made with the clock moved back (time-machine in this process), so it is already
past its expiry when the real beat and worker, on the real clock, come round.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from guardian.shortcuts import get_perms

from access.models import AccessGrant
from catalog.models import Sensitivity
from ledger.models import Event
from ledger.services import ledger_verify
from tests.access.conftest import data_root, grant_access, make_dataset  # noqa: F401  fixtures

pytestmark = pytest.mark.integration

TASK_NAME = "access: revoke expired grants"  # created by access/migrations/0003
TASK_PATH = "access.tasks.access_grants_expire_task"


def test_beat_and_worker_revoke_an_expired_grant(
    celery_worker,
    celery_beat,
    wait_for,
    make_dataset,  # noqa: F811  fixture imported from tests/access/conftest.py
    engineer,
    engineer2,
    grant_access,  # noqa: F811
    client,
):
    dataset = make_dataset("expiring", Sensitivity.RESTRICTED)
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=True):
        old = grant_access(engineer, dataset, "full", days=2)  # expired a day ago
    current = grant_access(engineer2, dataset, "masked", days=5)
    assert set(get_perms(engineer, dataset)) == {"read_dataset_data", "read_dataset_data_full"}

    # The migration's schedule runs every minute; make it tick every second for the test.
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME, defaults={"task": TASK_PATH, "interval": every_second, "enabled": True}
    )

    def expired():
        return AccessGrant.objects.filter(pk=old.pk, ending="expired").first()

    grant = wait_for(expired, timeout=60)
    assert grant.ended_by is None and grant.end_reason == "expired"
    assert get_perms(engineer, dataset) == []  # guardian perms derived again, by the worker
    assert AccessGrant.objects.get(pk=current.pk).ended_at is None
    assert get_perms(engineer2, dataset) == ["read_dataset_data"]
    event = Event.objects.get(action="access.expired")
    assert event.actor_id is None and event.target_id == str(old.pk)
    assert ledger_verify().ok
    assert TASK_PATH.rsplit(".", 1)[1] in celery_beat.log()
    assert "succeeded" in celery_worker.log()

    client.force_login(engineer)  # restricted and no grant left: the dataset is invisible again
    assert client.get(f"/catalog/datasets/{dataset.name}/access/preview/").status_code == 404
    client.force_login(engineer2)
    assert client.get(f"/catalog/datasets/{dataset.name}/access/preview/").status_code == 200


def test_the_expiry_schedule_exists_after_migrate(transactional_db):
    # A migration creates it (idempotently); flushes between transactional tests may remove it.
    from django.core.management import call_command

    call_command("migrate", "access", "0002", verbosity=0)
    call_command("migrate", "access", verbosity=0)
    call_command("migrate", "access", verbosity=0)  # idempotent
    task = PeriodicTask.objects.get(name=TASK_NAME)
    assert task.task == TASK_PATH and task.enabled
    assert task.interval.every == 1 and task.interval.period == "minutes"
