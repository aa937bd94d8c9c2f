"""Audits with a real worker and beat on Redis: schedules fire, and a killed run finishes once."""

import numpy as np
import pandas as pd
import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from audits import services
from audits.models import AuditRun, CheckResult
from audits.tasks import audit_runs_recover_task
from catalog.services import dataset_profile, dataset_register
from ledger.models import Event
from ledger.services import ledger_verify

pytestmark = pytest.mark.integration


@pytest.fixture
def data_root(settings, tmp_path):
    """Set before the worker starts: the child reads CHARTER_DATA_ROOTS from these settings."""
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    return root


def _dataset(root, steward, name: str, rows: int):
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "email": [f"user{i}@example.com" for i in range(rows)],
            "age": np.arange(rows) % 90,
        }
    )
    path = root / f"{name}.csv"
    frame.to_csv(path, index=False)
    dataset = dataset_register(
        actor=steward, name=name, source_kind="file", path=str(path), owner=steward, profile=False
    )
    dataset_profile(dataset_id=dataset.pk)  # the version exists: the run reads, never profiles
    return dataset


def test_a_scheduled_policy_fires_through_beat(
    data_root, steward, celery_worker, celery_beat, wait_for
):
    dataset = _dataset(data_root, steward, "scheduled", 500)
    policy = services.audit_policy_create(
        actor=steward,
        name="every minute",
        dataset=dataset,
        schedule_kind="interval",
        interval_minutes=1,
        checks=[{"kind": "row_count", "min_value": 1}],
    )
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    assert task.task == "audits.tasks.audit_policy_fire_task"
    # Beat's own table, shortened so the test need not wait a minute: the pipeline is the same.
    task.interval = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    task.save()
    run = wait_for(
        lambda: AuditRun.objects.filter(policy=policy, state="passed").first(), timeout=60
    )
    assert run.trigger == AuditRun.Trigger.SCHEDULE and run.requested_by is None
    assert run.version_id == dataset.versions.get().pk
    assert "audits.tasks.audit_policy_fire_task" in celery_worker.log()


def test_a_worker_killed_mid_run_is_recovered_and_the_run_finishes_once(
    data_root, steward, celery_worker_factory, wait_for
):
    dataset = _dataset(data_root, steward, "big", 400_000)
    checks = [
        {
            "kind": "regex",
            "column": "email",
            "regex": rf"user\d+@example\.com|x{i}",
            "mode": "search",
        }
        for i in range(250)  # ~10 s, so the kill lands mid-run
    ]
    policy = services.audit_policy_create(
        actor=steward, name="slow", dataset=dataset, checks=checks
    )
    env = {"CHARTER_AUDIT_STALE_SECONDS": "3"}
    first = celery_worker_factory(env=env)
    [run] = services.audit_run_request(policy=policy, actor=steward)  # sent after commit
    wait_for(
        lambda: AuditRun.objects.filter(pk=run.pk, state="running", progress__gte=6).exists(),
        timeout=60,
        interval=0.05,
    )
    first.kill()  # SIGKILL in the middle of the checks
    assert not first.alive
    run.refresh_from_db()
    assert run.state == AuditRun.State.RUNNING and run.attempts == 1

    second = celery_worker_factory(env=env, purge=False)
    # The message is still unacknowledged in Redis; the sweeper (beat, every minute) re-queues
    # a run whose heartbeat went stale. Send it now rather than waiting for beat's minute.
    wait_for(lambda: _stale(run.pk), timeout=30)
    audit_runs_recover_task.delay()
    done = wait_for(lambda: AuditRun.objects.filter(pk=run.pk, state="passed").first(), timeout=120)
    assert done.attempts == 2 and done.progress == 100
    assert CheckResult.objects.filter(run=run).count() == len(checks)
    assert Event.objects.filter(action="audit_run.finished", target_id=str(run.pk)).count() == 1
    audit_runs_recover_task.delay()  # a second sweep finds nothing to redo
    wait_for(lambda: second.log().count("audit_runs_recover_task") >= 4, timeout=30)
    assert Event.objects.filter(action="audit_run.finished", target_id=str(run.pk)).count() == 1
    assert ledger_verify().ok


def _stale(run_id: int) -> bool:
    import datetime as dt

    from django.utils import timezone

    run = AuditRun.objects.get(pk=run_id)
    return run.heartbeat_at is not None and run.heartbeat_at < timezone.now() - dt.timedelta(
        seconds=3
    )
