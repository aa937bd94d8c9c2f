"""A real Celery worker process executes tasks sent through Redis, writing to PostgreSQL."""

import json

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ledger.models import Event
from ledger.services import ledger_record, ledger_verify
from ledger.tasks import ledger_anchor_head_task

pytestmark = pytest.mark.integration


def _anchored_events():
    return list(Event.objects.filter(action="ledger.anchored").order_by("seq"))


def test_worker_anchors_the_ledger_head_sent_through_redis(celery_worker, wait_for):
    ledger_record(actor=None, action="test.before_anchor", data={"n": 1})
    head = ledger_record(actor=None, action="test.before_anchor", data={"n": 2})

    ledger_anchor_head_task.delay()

    events = wait_for(_anchored_events, timeout=30)
    assert len(events) == 1
    anchored = events[0]
    assert anchored.data["seq"] == head.seq and anchored.data["hash"] == head.hash
    assert anchored.prev_hash == head.hash  # the anchor event follows the head it anchored
    assert ledger_verify().ok

    anchor_file = celery_worker.var_dir / "ledger-anchor.jsonl"
    lines = anchor_file.read_text().splitlines()
    assert [json.loads(line)["hash"] for line in lines] == [head.hash]
    assert "ledger.tasks.ledger_anchor_head_task" in celery_worker.log()


def test_anchor_is_skipped_when_nothing_happened_since(celery_worker, wait_for):
    ledger_record(actor=None, action="test.before_anchor")
    ledger_anchor_head_task.delay()
    wait_for(_anchored_events)
    ledger_anchor_head_task.delay()  # a second run, through the broker
    wait_for(lambda: celery_worker.log().count(" succeeded in ") >= 2)
    assert len(_anchored_events()) == 1


def test_killed_worker_leaves_no_half_written_event_and_a_new_worker_carries_on(
    celery_worker_factory, wait_for
):
    first = celery_worker_factory()
    first.kill()
    assert not first.alive
    ledger_record(actor=None, action="test.after_crash")
    ledger_anchor_head_task.delay()  # queued while no worker runs: it waits in Redis

    second = celery_worker_factory()
    events = wait_for(_anchored_events, timeout=30)
    assert len(events) == 1 and second.alive
    assert ledger_verify().ok


def test_beat_schedules_the_anchor_and_the_worker_runs_it(celery_worker, celery_beat, wait_for):
    ledger_record(actor=None, action="test.before_beat")
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="test: anchor every second",
        defaults={"task": "ledger.tasks.ledger_anchor_head_task", "interval": every_second},
    )
    events = wait_for(_anchored_events, timeout=45)
    assert events[0].actor_id is None and events[0].data["seq"] >= 1
    assert "ledger_anchor_head_task" in celery_beat.log()
