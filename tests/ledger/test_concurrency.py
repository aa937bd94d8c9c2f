"""Concurrent writers cannot fork the chain (PostgreSQL serialises appends with a lock)."""

import threading

import pytest
from django.db import connection, connections

from ledger.models import Event
from ledger.services import ledger_record, ledger_verify

THREADS = 8
PER_THREAD = 10

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite's in-memory test database cannot be shared between threads",
    ),
]


def test_eight_concurrent_writers_keep_one_contiguous_chain():
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(PER_THREAD):
                ledger_record(actor=None, action="test.concurrent", data={"thread": n, "i": i})
        except BaseException as exc:  # noqa: BLE001  reported to the main thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    seqs = list(Event.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, THREADS * PER_THREAD + 1))
    result = ledger_verify()
    assert result.ok and result.checked == THREADS * PER_THREAD
    per_thread = {n: 0 for n in range(THREADS)}
    for data in Event.objects.values_list("data", flat=True):
        per_thread[data["thread"]] += 1
    assert set(per_thread.values()) == {PER_THREAD}
