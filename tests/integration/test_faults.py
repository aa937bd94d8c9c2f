"""Faults with a real worker, beat and Redis: killed processes, duplicates, a broker that stops.

The pool-process and whole-worker kills rely on acks_late + reject_on_worker_lost and the
broker's visibility timeout: the message comes back by itself and the run's claim (same task id)
lets the new delivery take over. No sweeper call is made by these tests.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from audits import services
from audits.models import AuditRun, CheckResult
from audits.tasks import audit_run_task
from catalog.models import Dataset
from catalog.services import dataset_profile, dataset_register
from ledger.models import Event
from ledger.services import ledger_verify
from lineage.models import LineageEdge, LineageEvent
from tests.integration.conftest import CELERY, CeleryProcess, _child_env
from tests.lineage.conftest import run_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def data_root(settings, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    return root


def _dataset(root, steward, name: str, rows: int):
    frame = pd.DataFrame(
        {"id": np.arange(rows), "email": [f"user{i}@example.com" for i in range(rows)]}
    )
    path = root / f"{name}.csv"
    frame.to_csv(path, index=False)
    dataset = dataset_register(
        actor=steward, name=name, source_kind="file", path=str(path), owner=steward, profile=False
    )
    dataset_profile(dataset_id=dataset.pk)
    return dataset


def _slow_policy(dataset, steward, n: int = 60):
    checks = [
        {
            "kind": "regex",
            "column": "email",
            "regex": rf"user\d+@example\.com|x{i}",
            "mode": "search",
        }
        for i in range(n)
    ]
    return services.audit_policy_create(actor=steward, name="slow", dataset=dataset, checks=checks)


def _finished_events(run) -> int:
    return Event.objects.filter(action="audit_run.finished", target_id=str(run.pk)).count()


def _pool_children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def test_pool_process_killed_mid_audit_is_rerun_within_5s_exactly_once(
    data_root, steward, celery_worker_factory, wait_for
):
    dataset = _dataset(data_root, steward, "big", 150_000)
    policy = _slow_policy(dataset, steward, n=600)  # ~10 s: progress is written every 2 s
    worker = celery_worker_factory(pool="prefork", concurrency=1)
    [run] = services.audit_run_request(policy=policy, actor=steward)
    wait_for(
        lambda: AuditRun.objects.filter(pk=run.pk, state="running", progress__gte=6).exists(),
        timeout=60,
        interval=0.05,
    )
    [child] = _pool_children(worker.pid)
    os.kill(child, signal.SIGKILL)  # the pool process dies; the worker itself lives on
    killed_at = timezone.now()
    run.refresh_from_db()
    assert run.state == "running", "the run ended before the kill: make it longer"
    try:
        wait_for(lambda: AuditRun.objects.filter(pk=run.pk, attempts=2).exists(), timeout=15)
    except BaseException:
        print(worker.log()[-4000:])  # noqa: T201  shown by pytest on failure
        raise
    run.refresh_from_db()  # the new attempt's claim time, stamped by the worker
    rerun_after = (run.started_at - killed_at).total_seconds()
    assert rerun_after <= 5, f"the run was re-run {rerun_after:.1f} s after the kill"
    done = wait_for(lambda: AuditRun.objects.filter(pk=run.pk, state="passed").first(), timeout=120)
    assert done.attempts == 2 and worker.alive
    assert CheckResult.objects.filter(run=run).count() == len(policy.checks)
    assert _finished_events(run) == 1
    assert ledger_verify().ok


def _delivered_at(task_id: str) -> float:
    """When the task's unacknowledged message was delivered: its score in kombu's Redis index
    (the `unacked` hash holds the message; its headers name the task id)."""
    import json

    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for tag, payload in client.hgetall("unacked").items():
        if json.loads(payload)[0]["headers"]["id"] == task_id:
            return client.zscore("unacked_index", tag)
    pytest.fail(f"no unacknowledged message for task {task_id}")


def test_whole_worker_killed_and_restarted_reruns_within_visibility_timeout(
    data_root, steward, celery_worker_factory, wait_for
):
    """SIGKILL leaves the message in Redis's unacked set. A worker restores such a message once
    it is older than the visibility timeout: when it starts, then at each restore sweep (every
    5 s, the production setting; kombu's default of ~100 s made this test flaky whenever the
    new worker started before the message was old enough). The new worker's timeout is set to
    the message's age plus 10 s, so its start-up scan finds it too young and the periodic sweep
    is what brings it back."""
    dataset = _dataset(data_root, steward, "big", 150_000)
    policy = _slow_policy(dataset, steward, n=600)  # ~10 s: progress is written every 2 s
    first = celery_worker_factory()
    [run] = services.audit_run_request(policy=policy, actor=steward)
    wait_for(
        lambda: AuditRun.objects.filter(pk=run.pk, state="running", progress__gte=6).exists(),
        timeout=60,
        interval=0.05,
    )
    first.kill()
    killed_at = time.time()
    run.refresh_from_db()
    assert run.state == "running", "the run ended before the kill: make it longer"
    delivered = _delivered_at(run.task_id)
    visibility = math.ceil(killed_at - delivered) + 10
    second = celery_worker_factory(env={"CELERY_VISIBILITY_TIMEOUT": str(visibility)}, purge=False)
    try:
        wait_for(
            lambda: AuditRun.objects.filter(pk=run.pk, attempts=2).exists(),
            timeout=visibility + 20,
        )
    except BaseException:
        print(second.log()[-4000:])  # noqa: T201  shown by pytest on failure
        raise
    run.refresh_from_db()  # the new attempt's claim time, stamped by the worker
    rerun_after = run.started_at.timestamp() - delivered
    assert rerun_after <= visibility + 15, f"re-run {rerun_after:.1f} s after delivery"
    done = wait_for(lambda: AuditRun.objects.filter(pk=run.pk, state="passed").first(), timeout=120)
    assert done.attempts == 2 and second.alive
    assert CheckResult.objects.filter(run=run).count() == len(policy.checks)
    assert _finished_events(run) == 1
    print(  # noqa: T201  the figures for docs/RELIABILITY.md
        f"whole worker: timeout {visibility} s, re-run {rerun_after:.1f} s after delivery, "
        f"{rerun_after - visibility:.1f} s after the timeout, "
        f"{run.started_at.timestamp() - killed_at:.1f} s after the kill"
    )


def test_the_same_audit_delivered_twice_gives_one_result(
    data_root, steward, celery_worker_factory, wait_for
):
    dataset = _dataset(data_root, steward, "small", 20_000)
    policy = _slow_policy(dataset, steward, n=8)
    worker = celery_worker_factory(pool="prefork", concurrency=2)
    [run] = services.audit_run_request(policy=policy, actor=steward)  # delivery 1 (on commit)
    audit_run_task.delay(run_id=run.pk)  # delivery 2, a different message for the same run
    audit_run_task.delay(run_id=run.pk)  # and 3, later
    wait_for(lambda: AuditRun.objects.filter(pk=run.pk, state="passed").exists(), timeout=90)
    wait_for(lambda: worker.log().count("audit_run_task") >= 6, timeout=60)  # all 3 done
    run.refresh_from_db()
    assert run.attempts == 1
    assert CheckResult.objects.filter(run=run).count() == len(policy.checks)
    assert _finished_events(run) == 1


def test_two_beat_processes_give_no_duplicate_scheduled_run(
    data_root, steward, celery_worker, celery_beat, tmp_path, wait_for
):
    var_dir = tmp_path / "var"
    args = [
        CELERY, "-A", "config", "beat", "--loglevel=INFO",
        "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1",
        "--pidfile", str(tmp_path / "beat2.pid"), "-s", str(tmp_path / "beat2-schedule"),
    ]  # fmt: skip
    second = CeleryProcess("beat", args, _child_env(var_dir, None), var_dir, "beat: Starting")
    second.start()
    try:
        dataset = _dataset(data_root, steward, "scheduled", 100)
        policy = services.audit_policy_create(
            actor=steward,
            name="every 2 s",
            dataset=dataset,
            schedule_kind="interval",
            interval_minutes=1,
            checks=[{"kind": "row_count", "min_value": 1}],
        )
        task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
        task.interval = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
        task.save()
        wait_for(lambda: AuditRun.objects.filter(policy=policy).count() >= 4, timeout=60)
    finally:
        second.stop()
    times = sorted(AuditRun.objects.filter(policy=policy).values_list("queued_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), f"two runs for one slot: gaps {gaps}"
    assert "audit_policy_fire_task" in second.log()  # the second beat did send its own


# --- Redis stopped ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A throwaway redis-server on its own port: never the shared one on 6379."""

    def __init__(self, port: int, workdir) -> None:
        self.port, self.workdir, self.proc = port, workdir, None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server"), "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _point_at(app, url: str) -> None:
    """Send this process's tasks to `url` from now on (drop the cached connection pools)."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def own_redis(tmp_path, celery_broker_mode):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    redis = Redis(_free_port(), tmp_path)
    redis.start()
    app = celery_broker_mode
    url = f"redis://127.0.0.1:{redis.port}/0"
    before = app.conf.broker_url
    _point_at(app, url)
    yield redis, url
    redis.stop()
    _point_at(app, before)


# The beat-scheduled sweepers that send again what could not be queued (their migrations
# schedule them every minute; a transactional test's flush removed those rows, so re-create them).
SWEEPERS = {
    "audits: recover abandoned runs": "audits.tasks.audit_runs_recover_task",
    "catalog: re-send waiting profiling requests": "catalog.tasks.dataset_profiles_resend_task",
    "lineage: apply OpenLineage events left pending": "lineage.tasks.lineage_events_sweep_task",
}
SWEEP_ENV = {  # the worker's thresholds, shortened so the test waits seconds, not minutes
    "CHARTER_AUDIT_STALE_SECONDS": "4",  # a queued run counts as lost after 5 x 4 = 20 s
    "CHARTER_AUDIT_QUEUED_LOST_SECONDS": "0",
    "CHARTER_PROFILE_RESEND_SECONDS": "3",
}  # OpenLineage events are applied 30 s after receipt (lineage.ingest.SWEEP_AFTER_SECONDS)


def _sweepers_every(seconds: int) -> None:
    every = IntervalSchedule.objects.create(every=seconds, period=IntervalSchedule.SECONDS)
    for name, task in SWEEPERS.items():
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": every, "enabled": True}
        )


def _beat(tmp_path, env: dict[str, str]) -> CeleryProcess:
    var_dir = tmp_path / "var"
    args = [
        CELERY, "-A", "config", "beat", "--loglevel=INFO",
        "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1",
    ]  # fmt: skip
    return CeleryProcess("beat", args, _child_env(var_dir, env), var_dir, "beat: Starting")


def test_redis_stopped_pages_serve_actions_say_so_and_nothing_is_lost(
    data_root, steward, own_redis, celery_worker_factory, tmp_path, wait_for
):
    """Redis stops under a running web, worker and beat; once it is back, the audit run, the
    profiling and the OpenLineage event made during the outage complete with nobody doing
    anything: worker and beat reconnect by themselves and beat's sweepers send what could not
    be queued."""
    redis, url = own_redis
    dataset = _dataset(data_root, steward, "small", 1_000)
    policy = services.audit_policy_create(
        actor=steward, name="quick", dataset=dataset, checks=[{"kind": "row_count", "min_value": 1}]
    )
    _sweepers_every(2)
    worker = celery_worker_factory(env={"REDIS_URL": url, **SWEEP_ENV})
    beat = _beat(tmp_path, {"REDIS_URL": url}).start()
    profiled = Event.objects.filter(action="dataset.profiled", target_id=str(dataset.pk))
    profiled_before = profiled.count()
    try:
        redis.stop()

        client = Client()
        client.force_login(steward)
        for page in ("/", "/catalog/", f"/catalog/datasets/{dataset.name}/", "/audits/"):
            assert client.get(page).status_code == 200, page
        started = time.monotonic()
        response = client.post(f"/audits/policies/{policy.pk}/run/")
        assert time.monotonic() - started < 15, "a dead broker must not hang the request"
        assert response.status_code == 302 and response["X-Charter-Queue"] == "unavailable"
        page = client.get(response["Location"]).content.decode()
        assert "task queue is unavailable" in page
        run = AuditRun.objects.get(policy=policy)
        assert run.state == AuditRun.State.QUEUED  # saved, waiting: not lost, not half-done
        response = client.post(f"/catalog/datasets/{dataset.name}/reprofile/")
        assert response.status_code == 302 and response["X-Charter-Queue"] == "unavailable"
        dataset.refresh_from_db()
        assert dataset.profile_status == "pending"
        api = APIClient()
        api.force_authenticate(steward)
        event = run_event(inputs=["/data/outage-in.csv"], outputs=["/data/outage-out.csv"])
        event["eventTime"] = timezone.now().isoformat()
        response = api.post("/api/v1/lineage", data=event, format="json")
        assert response.status_code == 201, response.content
        assert response["X-Charter-Queue"] == "unavailable"
        lineage_event = LineageEvent.objects.get(run_id=event["run"]["runId"])
        assert lineage_event.status == LineageEvent.Status.PENDING

        redis.start()  # same port: worker and beat reconnect by themselves; no call from here
        back = time.monotonic()
        wait_for(
            lambda: Dataset.objects.filter(pk=dataset.pk, profile_status="ready").exists(),
            timeout=60,
        )
        profile_after = time.monotonic() - back
        wait_for(
            lambda: LineageEvent.objects.filter(pk=lineage_event.pk, status="processed").exists(),
            timeout=60,
        )
        lineage_after = time.monotonic() - back
        done = wait_for(
            lambda: AuditRun.objects.filter(pk=run.pk, state="passed").first(), timeout=60
        )
        run_after = time.monotonic() - back
    except BaseException:
        print(worker.log()[-3000:], beat.log()[-3000:])  # noqa: T201  shown by pytest on failure
        raise
    finally:
        beat.stop()
    assert done.attempts == 1 and worker.alive
    assert _finished_events(run) == 1
    assert profiled.count() == profiled_before + 1  # profiled once, not once per re-send
    assert LineageEdge.objects.filter(kind="wrote").exists()  # the event reached the graph
    print(  # noqa: T201  the figures for docs/RELIABILITY.md
        f"redis back: profile done {profile_after:.1f} s, lineage event applied "
        f"{lineage_after:.1f} s, audit run passed {run_after:.1f} s after"
    )


# --- a data source that hangs ----------------------------------------------------------------


def test_a_hanging_source_hits_the_statement_timeout_and_the_run_ends_in_error(
    transactional_db, steward, settings
):
    """Another session holds a lock on the source table: the audit's read hits the timeout."""
    import psycopg
    from django.db import connection as django_connection

    from catalog.models import Connection
    from catalog.sources import encrypt_secret

    if django_connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    settings.CHARTER_SOURCE_STATEMENT_TIMEOUT_MS = 1500
    s = django_connection.settings_dict
    with django_connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS public.hang_src")
        cursor.execute("CREATE TABLE public.hang_src (id int primary key, email text)")
        cursor.execute(
            "INSERT INTO public.hang_src SELECT g, 'p' || g FROM generate_series(1, 50) g"
        )
    source = Connection.objects.create(
        name="hang",
        host=s["HOST"] or "127.0.0.1",
        port=int(s["PORT"] or 5432),
        database=s["NAME"],
        username=s["USER"] or "postgres",
        password_encrypted=encrypt_secret(s["PASSWORD"] or ""),
    )
    dataset = dataset_register(
        actor=steward, name="hang", source_kind="postgresql", connection=source,
        table="public.hang_src", profile=False,
    )  # fmt: skip
    dataset_profile(dataset_id=dataset.pk)
    policy = services.audit_policy_create(
        actor=steward, name="hang", dataset=dataset,
        checks=[{"kind": "not_null", "column": "email"}],
    )  # fmt: skip
    locker = psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=int(s["PORT"] or 5432), dbname=s["NAME"],
        user=s["USER"] or "postgres", password=s["PASSWORD"] or None,
    )  # fmt: skip
    try:
        locker.execute("LOCK TABLE public.hang_src IN ACCESS EXCLUSIVE MODE")  # held: no commit
        [run] = services.audit_run_request(policy=policy, actor=steward)
        started = time.monotonic()
        services.audit_run_execute(run_id=run.pk, task_id="hang-test")
        elapsed = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()
    run.refresh_from_db()
    assert run.state == AuditRun.State.ERROR, run.state
    details = run.error_message + str(list(run.results.values_list("result", flat=True)))
    assert "took too long" in details, details
    assert elapsed < 30
