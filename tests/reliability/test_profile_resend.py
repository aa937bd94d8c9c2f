"""The sweeper that re-sends profiling requests left waiting (catalog.tasks.profiles_resend):
what it picks, that it picks each once per wait, and that a re-sent request never profiles twice.
The end-to-end case (Redis stopped, then back) is in tests/integration/test_faults.py."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from django.utils import timezone

from catalog import tasks
from catalog.models import Dataset
from catalog.services import dataset_register
from ledger.models import Event

pytestmark = pytest.mark.django_db

Status = Dataset.ProfileStatus


@pytest.fixture
def dataset(settings, tmp_path, steward):
    settings.CHARTER_DATA_ROOTS = [tmp_path]
    path = tmp_path / "people.csv"
    pd.DataFrame({"id": [1, 2, 3], "name": ["ada", "grace", "edsger"]}).to_csv(path, index=False)
    return dataset_register(
        actor=steward, name="people", source_kind="file", path=str(path), owner=steward,
        profile=False,
    )  # fmt: skip


def _set(dataset, status: str, seconds_ago: float) -> None:
    when = timezone.now() - dt.timedelta(seconds=seconds_ago)
    Dataset.objects.filter(pk=dataset.pk).update(profile_status=status, updated_at=when)


def _resend(capture) -> tuple[list[int], int]:
    with capture(execute=False) as callbacks:
        resent = tasks.profiles_resend()
    return resent, len(callbacks)


def test_a_request_left_pending_is_resent_once_per_wait(
    dataset, django_capture_on_commit_callbacks
):
    _set(dataset, Status.PENDING, tasks.PROFILE_RESEND_SECONDS + 5)
    assert _resend(django_capture_on_commit_callbacks) == ([dataset.pk], 1)
    # A second sweeper (or the next sweep) finds its wait restarted: nothing is sent twice.
    assert _resend(django_capture_on_commit_callbacks) == ([], 0)
    dataset.refresh_from_db()
    assert dataset.profile_status == Status.PENDING


def test_a_fresh_request_and_a_live_profile_are_left_alone(
    dataset, django_capture_on_commit_callbacks
):
    _set(dataset, Status.PENDING, 1)
    assert _resend(django_capture_on_commit_callbacks) == ([], 0)
    _set(dataset, Status.RUNNING, tasks.PROFILE_RESEND_SECONDS + 5)  # claimed, not yet stale
    assert _resend(django_capture_on_commit_callbacks) == ([], 0)
    for status in (Status.READY, Status.FAILED):
        _set(dataset, status, 10 * 86400)
        assert _resend(django_capture_on_commit_callbacks) == ([], 0)


def test_a_profile_whose_worker_died_is_resent_as_pending(
    dataset, django_capture_on_commit_callbacks
):
    stale = tasks.services.PROFILE_STALE_AFTER.total_seconds() + 5
    _set(dataset, Status.RUNNING, stale)
    assert _resend(django_capture_on_commit_callbacks) == ([dataset.pk], 1)
    dataset.refresh_from_db()
    assert dataset.profile_status == Status.PENDING  # so the re-sent task may claim it


def test_external_datasets_are_never_resent(dataset, django_capture_on_commit_callbacks):
    Dataset.objects.filter(pk=dataset.pk).update(source_kind=Dataset.SourceKind.EXTERNAL)
    _set(dataset, Status.PENDING, tasks.PROFILE_RESEND_SECONDS + 5)
    assert _resend(django_capture_on_commit_callbacks) == ([], 0)


def test_the_resent_task_profiles_a_pending_dataset_and_skips_one_already_profiled(dataset):
    tasks.dataset_profile_resent_task(dataset_id=dataset.pk)
    dataset.refresh_from_db()
    assert dataset.profile_status == Status.READY
    profiled = Event.objects.filter(action="dataset.profiled", target_id=str(dataset.pk))
    assert profiled.count() == 1
    # The original message turns up after the re-send (or the re-send after the original).
    tasks.dataset_profile_resent_task(dataset_id=dataset.pk)
    assert profiled.count() == 1


def test_the_sweeper_is_scheduled_every_minute_by_its_migration():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("catalog.migrations.0006_profile_resend_schedule")
    PeriodicTask.objects.filter(name=migration.NAME).delete()  # a transactional test flushed it
    migration.forwards(apps, None)
    task = PeriodicTask.objects.get(name=migration.NAME)
    assert task.task == "catalog.tasks.dataset_profiles_resend_task" and task.enabled
    assert (task.interval.every, task.interval.period) == (1, "minutes")
