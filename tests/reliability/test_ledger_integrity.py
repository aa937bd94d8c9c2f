"""Ledger integrity beyond tests/ledger: reordering is detected, and writers in separate
processes (not only threads) never fork the chain. The anchor and the export's head hash are
tested in tests/ledger (test_tasks.py, test_views.py) and tests/integration/test_worker.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger.models import Event
from ledger.services import ledger_record, ledger_verify
from tests.integration.conftest import ROOT, _test_database_url


def _raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the trigger refuses even us: step around it
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_a_reorder_in_the_database_is_detected_at_the_first_moved_event():
    for n in range(6):
        ledger_record(actor=None, action=f"test.{n}", data={"n": n})
    # Swap events 3 and 4 (their seq numbers), as someone reordering history would.
    _raw("UPDATE ledger_event SET seq = 999999 WHERE seq = 3")
    _raw("UPDATE ledger_event SET seq = 3 WHERE seq = 4")
    _raw("UPDATE ledger_event SET seq = 4 WHERE seq = 999999")
    result = ledger_verify()
    assert not result.ok and result.first_bad_seq == 3, result
    with pytest.raises(CommandError, match="#3"):
        call_command("verify_ledger")


@pytest.mark.django_db
def test_a_rewritten_chain_tail_is_still_caught_by_the_moved_hash():
    """Edit event 2 and re-chain it with a forged hash: event 3 no longer follows it."""
    for n in range(4):
        ledger_record(actor=None, action=f"test.{n}")
    _raw("UPDATE ledger_event SET hash = %s WHERE seq = 2", ["f" * 64])
    result = ledger_verify()
    assert not result.ok and result.first_bad_seq == 2


WRITER = """
import django, sys
django.setup()
from ledger.services import ledger_record
n = int(sys.argv[1])
for i in range(int(sys.argv[2])):
    ledger_record(actor=None, action="test.process", data={"process": n, "i": i})
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a shared PostgreSQL")
def test_writers_in_separate_processes_never_fork_the_chain(settings):
    processes, per_process = 4, 25
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _test_database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "localhost",
        "DEBUG": "false",
        "CHARTER_VAR_DIR": "/tmp/charter-test-var",  # noqa: S108
    }
    children = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", WRITER, str(n), str(per_process)], cwd=ROOT, env=env
        )
        for n in range(processes)
    ]
    assert [child.wait(timeout=120) for child in children] == [0] * processes
    seqs = list(Event.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, processes * per_process + 1))
    result = ledger_verify()
    assert result.ok and result.checked == processes * per_process
