"""A long chain is verified in two processes; the result must be exactly one pass's.

The split is at the middle seq (6 of 10 here), so each case breaks the chain at or around the
seam between the two processes' ranges, and compares with the one-process result.
"""

import pytest
from django.db import connection, transaction

from ledger import services
from ledger.services import ledger_record, ledger_verify

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the second process sees committed rows only
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the chain is split on PostgreSQL only"
    ),
]

EVENTS = 10


def _raw(*statements: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # step around the trigger
        for sql in statements:
            cursor.execute(sql)


def _verify_both_ways(monkeypatch, caplog) -> tuple:
    splits = []
    two_processes = services._verify_in_two_processes

    def spy(split):
        splits.append(split)
        return two_processes(split)

    monkeypatch.setattr(services, "_verify_in_two_processes", spy)
    monkeypatch.setattr(services, "PARALLEL_VERIFY_MIN_EVENTS", 10**9)
    one_pass = ledger_verify()
    monkeypatch.setattr(services, "PARALLEL_VERIFY_MIN_EVENTS", 1)
    with caplog.at_level("WARNING", logger="ledger.services"):
        split = ledger_verify()
    assert splits, "the chain was not split"
    assert not caplog.records, "the second process failed (its range was checked here)"
    return one_pass, split


TAMPERING = {
    "edit first of upper range": (["UPDATE ledger_event SET data = '{}' WHERE seq = 6"], 6),
    "edit both ranges": (["UPDATE ledger_event SET data = '{}' WHERE seq IN (5, 8)"], 5),
    "edit upper range only": (["UPDATE ledger_event SET action = 'x' WHERE seq = 9"], 9),
    "delete first of upper": (["DELETE FROM ledger_event WHERE seq = 6"], 6),
    "delete last of lower": (["DELETE FROM ledger_event WHERE seq = 5"], 5),
    "forge last of lower": ([f"UPDATE ledger_event SET hash = '{'f' * 64}' WHERE seq = 5"], 5),
    "relink first of upper": (
        [f"UPDATE ledger_event SET prev_hash = '{'e' * 64}' WHERE seq = 6"],
        6,
    ),
    "swap across the seam": (
        [
            "UPDATE ledger_event SET seq = 999 WHERE seq = 5",
            "UPDATE ledger_event SET seq = 5 WHERE seq = 6",
            "UPDATE ledger_event SET seq = 6 WHERE seq = 999",
        ],
        5,
    ),
}


def _append(count: int) -> list:
    return [ledger_record(actor=None, action="test.split", data={"n": n}) for n in range(count)]


def test_an_intact_chain_verifies_in_two_processes(monkeypatch, caplog):
    events = _append(EVENTS)
    one_pass, split = _verify_both_ways(monkeypatch, caplog)
    assert split == one_pass
    assert split.ok and split.checked == EVENTS and split.head_hash == events[-1].hash


@pytest.mark.parametrize("case", TAMPERING)
def test_two_processes_name_the_same_first_bad_event(monkeypatch, caplog, case):
    statements, first_bad = TAMPERING[case]
    _append(EVENTS)
    _raw(*statements)
    one_pass, split = _verify_both_ways(monkeypatch, caplog)
    assert split == one_pass
    assert not split.ok and split.first_bad_seq == first_bad, split
