"""The ledger anchor: the head goes to a file outside the database, and the act is logged."""

import importlib
import json

import pytest
from django.core.management import call_command

from ledger.models import Event
from ledger.services import ledger_record, ledger_verify
from ledger.tasks import ledger_anchor_head_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def anchor_path(tmp_path, settings):
    settings.CHARTER_LEDGER_ANCHOR_PATH = tmp_path / "anchors" / "ledger-anchor.jsonl"
    return settings.CHARTER_LEDGER_ANCHOR_PATH


def test_anchor_appends_the_head_and_logs_it(anchor_path):
    ledger_record(actor=None, action="test.one")
    head = ledger_record(actor=None, action="test.two")
    result = ledger_anchor_head_task.delay().get()
    assert result["anchored"] is True and result["seq"] == head.seq
    line = json.loads(anchor_path.read_text())
    assert line["seq"] == head.seq and line["hash"] == head.hash
    assert line["created_at"] == head.created_at.isoformat() and "anchored_at" in line
    event = Event.objects.get(action="ledger.anchored")
    assert event.prev_hash == head.hash and event.actor_id is None
    assert event.data == {"seq": head.seq, "hash": head.hash, "file": str(anchor_path)}
    assert ledger_verify().ok


def test_anchor_skips_an_empty_or_idle_ledger(anchor_path):
    assert ledger_anchor_head_task.delay().get()["anchored"] is False
    assert not anchor_path.exists()
    ledger_record(actor=None, action="test.one")
    assert ledger_anchor_head_task.delay().get()["anchored"] is True
    idle = ledger_anchor_head_task.delay().get()
    assert idle["anchored"] is False and "nothing new" in idle["reason"]
    ledger_record(actor=None, action="test.two")
    assert ledger_anchor_head_task.delay().get()["anchored"] is True
    assert len(anchor_path.read_text().splitlines()) == 2
    assert Event.objects.filter(action="ledger.anchored").count() == 2


def test_the_migration_schedules_the_anchor_hourly_once():
    """Run the data migration's function again (a transactional test may have flushed its row)."""
    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("ledger.migrations.0003_anchor_schedule")
    migration.create_schedule(apps, None)
    migration.create_schedule(apps, None)
    task = PeriodicTask.objects.get(task="ledger.tasks.ledger_anchor_head_task")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "hours"


def test_verify_ledger_command_reports_ok(capsys):
    ledger_record(actor=None, action="test.one")
    call_command("verify_ledger")
    assert "Ledger OK: 1 events" in capsys.readouterr().out
