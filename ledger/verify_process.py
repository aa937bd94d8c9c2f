"""Walking the chain on PostgreSQL, shared by `ledger_verify` and its second process.

Free of Django on purpose: `ledger_verify` checks a long chain in two processes, and the
second one only connects with psycopg and runs `verify_from`. Setting up Django there cost
~1.5 s of CPU on the two cores the verify itself needs (bench/ledger_bench.py).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger.hashing import fetched_event_digests


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str = ""


def walk(
    chunks: Iterator[tuple[list[tuple], list[str]]], expected_prev: str, expected_seq: int
) -> tuple[VerifyResult, int]:
    """Check chunks of events in seq order from a known link; return the result and next seq.

    A chunk is the events' rows (seq first, prev_hash second, stored hash last) and the hash
    recomputed for each. Chunks rather than rows: a tuple per row and a generator resuming per
    row cost ~0.7 us an event on a 1M-event verify.
    """
    checked = 0
    for rows, digests in chunks:
        for row, digest in zip(rows, digests, strict=True):
            seq, stored = row[0], row[-1]
            if seq != expected_seq:
                return missing(checked, expected_prev, expected_seq, seq), expected_seq
            if row[1] != expected_prev:
                return not_following(checked, expected_prev, seq), expected_seq
            if digest != stored:
                reason = f"event #{seq} was altered (its content no longer matches its hash)"
                return VerifyResult(False, checked, expected_prev, seq, reason), expected_seq
            expected_prev, expected_seq, checked = stored, seq + 1, checked + 1
    return VerifyResult(True, checked, expected_prev), expected_seq


def missing(checked: int, head_hash: str, expected_seq: int, found_seq: int) -> VerifyResult:
    reason = f"event #{expected_seq} is missing (next stored event is #{found_seq})"
    return VerifyResult(False, checked, head_hash, expected_seq, reason)


def not_following(checked: int, head_hash: str, seq: int) -> VerifyResult:
    reason = f"event #{seq} does not follow event #{seq - 1} (previous hash differs)"
    return VerifyResult(False, checked, head_hash, seq, reason)


CHUNK = 20_000
NO_UPPER_BOUND = 2**63 - 1
# Every field as the canonical text wants it, so Python only quotes strings and hashes:
# created_at as `datetime.isoformat(timespec="microseconds")` prints a UTC time, actor_id as
# JSON ("null" or digits) and data as jsonb text (`ledger.hashing.fetched_event_digests`).
# Building the quoted strings here instead cost PostgreSQL more than it saved Python.
VERIFY_SQL = (
    "SELECT seq, prev_hash, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
    "coalesce(actor_id::text, 'null'), actor_username, action, target_type, target_id, "
    "target_repr, data::text, hash "
    "FROM ledger_event WHERE seq > %s AND seq < %s ORDER BY seq LIMIT %s"
)


def pg_chunks(
    cursor: Any, after: int = 0, before: int = NO_UPPER_BOUND
) -> Iterator[tuple[list[tuple], list[str]]]:
    """Chunks of events with after < seq < before for `walk`, in seq order, by keyset pages.

    `cursor` is a psycopg cursor or Django's wrapper of one.
    """
    last = after
    while True:
        cursor.execute(VERIFY_SQL, [last, before, CHUNK])
        rows = cursor.fetchall()
        if not rows:
            return
        yield rows, fetched_event_digests(rows)
        last = rows[-1][0]


def verify_from(cursor: Any, split: int) -> tuple[tuple[int, str], VerifyResult] | None:
    """Check the events from `split` on, trusting the first one's link (the caller checks it).

    Returns the first event's (seq, prev_hash) and the result, or None if there is none.
    """
    cursor.execute(
        "SELECT seq, prev_hash FROM ledger_event WHERE seq >= %s ORDER BY seq LIMIT 1", [split]
    )
    first = cursor.fetchone()
    if first is None:
        return None
    first_seq, first_prev = first
    result, _ = walk(pg_chunks(cursor, after=first_seq - 1), first_prev, first_seq)
    return (first_seq, first_prev), result


_connection = None


def start_verifier(connect_kwargs: dict[str, Any]) -> None:
    """Connect the second process to the parent's database (e.g. a test database).

    Also turns the cyclic garbage collector off: this process lives for one verify and makes
    no reference cycles to speak of, and the collections cost ~1.5% of its instructions.
    """
    import gc

    import psycopg

    gc.disable()

    global _connection
    _connection = psycopg.connect(**connect_kwargs, autocommit=True)


def verify_from_in_worker(split: int) -> tuple[tuple[int, str], VerifyResult] | None:
    """`verify_from` on the connection `start_verifier` opened (runs in the second process)."""
    with _connection.cursor() as cursor:
        return verify_from(cursor, split)
