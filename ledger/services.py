"""Write and verify the governance log. Services of every app call `ledger_record`."""

import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC
from itertools import islice
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from ledger.hashing import (
    GENESIS_HASH,
    append_text_template,
    canonical_json,
    event_hash,
    json_safe,
    stored_event_digest,
)
from ledger.models import Event
from ledger.verify_process import (
    NO_UPPER_BOUND,
    VerifyResult,
    missing,
    not_following,
    pg_chunks,
    start_verifier,
    verify_from,
    verify_from_in_worker,
    walk,
)

logger = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every writer.
_APPEND_LOCK_KEY = 0x4C454447  # "LEDG"


def _target_fields(target: models.Model | tuple[str, str] | None) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, tuple):
        target_type, target_id = target
        return target_type, str(target_id), ""
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk), str(target)[:300]


def _lock_chain_head() -> None:
    """Serialise appends so two writers can never both extend the same head (fork the chain)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_APPEND_LOCK_KEY])
    # SQLite runs every write transaction IMMEDIATE (see settings): writers already queue.


_HEAD_SQL = "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"


def _lock_and_read_head() -> tuple[int, str] | None:
    """Take the append lock, then read the chain head: one round trip on PostgreSQL.

    The two statements go in one message; under READ COMMITTED the SELECT takes its snapshot
    after the lock is granted, so it sees the head the previous writer committed. Sparing a
    round trip inside the lock raised 8-writer throughput (docs/PERFORMANCE.md).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if _client_side_binding(cursor):
                cursor.execute(f"SELECT pg_advisory_xact_lock(%s); {_HEAD_SQL}", [_APPEND_LOCK_KEY])
                cursor.nextset()
            else:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_APPEND_LOCK_KEY])
                cursor.execute(_HEAD_SQL)
            return cursor.fetchone()
    _lock_chain_head()
    return Event.objects.order_by("-seq").values_list("seq", "hash").first()


def _client_side_binding(cursor: Any) -> bool:
    """Whether the psycopg cursor merges parameters itself (and so accepts two statements)."""
    import psycopg

    return isinstance(getattr(cursor, "cursor", None), psycopg.ClientCursor)


def ledger_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | tuple[str, str] | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one governance event to the chain, in the caller's transaction."""
    # Everything that does not depend on the head is prepared before the lock: the lock is
    # what 8 concurrent writers queue on (bench/ledger_bench.py), so it is held briefly.
    target_type, target_id, target_repr = _target_fields(target)
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    fields = {
        "actor_id": actor_id,
        "actor_username": actor.get_username() if actor_id else "",
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "target_repr": target_repr,
        "data": json_safe(data or {}),
    }
    if connection.vendor == "postgresql":
        return _append_in_one_statement(fields)
    with transaction.atomic():
        head = _lock_and_read_head()
        link = {
            "seq": head[0] + 1 if head else 1,
            "prev_hash": head[1] if head else GENESIS_HASH,
            "created_at": timezone.now().astimezone(UTC),
        }
        return Event.objects.create(hash=event_hash(**link, **fields), **link, **fields)


_APPEND_SQL = (
    "SELECT * FROM ledger_append(%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)"
)


def _append_in_one_statement(fields: dict[str, Any]) -> Event:
    """Lock, read the head, hash and insert in one statement (`ledger_append`, migration 0004).

    The lock is held for one server-side statement plus the commit, with no client round
    trip in between: with 8 writers on 2 busy cores, a holder waiting for a core while it
    held the lock was what capped appends/s (docs/PERFORMANCE.md). The statement joins the
    caller's transaction if there is one (the lock then lasts until the act commits);
    otherwise it is its own transaction.
    """
    data_json = canonical_json(fields["data"])
    text = append_text_template(
        **{name: value for name, value in fields.items() if name != "data"}, data_json=data_json
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                _APPEND_LOCK_KEY,
                fields["actor_id"],
                fields["actor_username"],
                fields["action"],
                fields["target_type"],
                fields["target_id"],
                fields["target_repr"],
                data_json,
                *text,
                # The application's clock, as for every other time Charter writes; taken
                # before the lock, so concurrent events may differ from seq order by the wait.
                timezone.now(),
            ],
        )
        event_id, seq, prev_hash, digest, created_at = cursor.fetchone()
    event = Event(
        id=event_id, seq=seq, created_at=created_at, prev_hash=prev_hash, hash=digest, **fields
    )
    event._state.adding, event._state.db = False, connection.alias  # as if loaded from the DB
    return event


_VERIFY_FIELDS = (
    "seq",
    "prev_hash",
    "created_at",
    "actor_id",
    "actor_username",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "data",
    "hash",
)


def ledger_verify() -> VerifyResult:
    """Recompute every hash in order and name the first event that breaks the chain.

    A long chain on PostgreSQL is checked in two processes, one seq range each; the link
    between the ranges is checked here, so the result is the same as one pass's.
    """
    split = _split_seq()
    if split is not None:
        return _verify_in_two_processes(split)
    return walk(_verify_chunks(), GENESIS_HASH, 1)[0]


# Below this many events one process is quicker than starting a second.
PARALLEL_VERIFY_MIN_EVENTS = 200_000


def _split_seq() -> int | None:
    """Where to split the chain between two processes, or None to check it in one pass.

    Only on PostgreSQL, with a second core, outside a transaction (the second process could
    not see rows the caller has not committed), and for a chain long enough to pay off.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block or (os.cpu_count() or 1) < 2:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM ledger_event")
        last_seq = cursor.fetchone()[0] or 0
    return last_seq // 2 + 1 if last_seq >= PARALLEL_VERIFY_MIN_EVENTS else None


def _verify_in_two_processes(split: int) -> VerifyResult:
    """Events before `split` here, the rest in a spawned process; then check the seam."""
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),  # no inherited DB socket
        initializer=start_verifier,
        initargs=(_worker_connect_kwargs(),),
    ) as pool:
        upper_future = pool.submit(verify_from_in_worker, split)
        lower, next_seq = walk(_verify_chunks(before=split), GENESIS_HASH, 1)
        try:
            upper = upper_future.result()
        except Exception:  # noqa: BLE001  the second process failed: check its range here
            logger.warning("ledger verify: second process failed, checking in one", exc_info=True)
            with connection.cursor() as cursor:
                upper = verify_from(cursor, split)
    return _join_ranges(lower, next_seq, upper)


def _worker_connect_kwargs() -> dict[str, Any]:
    """psycopg.connect arguments for the second process: this connection's, plain values only.

    Django's adapter context and cursor class stay here (the worker fetches only text and
    integers); anything the worker lacks (e.g. OPTIONS' assume_role) makes it fail, and the
    range is then checked here.
    """
    params = connection.get_connection_params()
    return {
        name: value
        for name, value in params.items()
        if value is None or isinstance(value, str | int | float | bool)
    }


def _join_ranges(
    lower: VerifyResult, next_seq: int, upper: tuple[tuple[int, str], VerifyResult] | None
) -> VerifyResult:
    """The result of one pass over both ranges: the lower range's, the seam's, or the upper's."""
    if not lower.ok or upper is None:
        return lower
    (first_seq, first_prev), result = upper
    if first_seq != next_seq:
        return missing(lower.checked, lower.head_hash, next_seq, first_seq)
    if first_prev != lower.head_hash:
        return not_following(lower.checked, lower.head_hash, first_seq)
    return replace(result, checked=lower.checked + result.checked)


def _verify_chunks(after: int = 0, before: int = NO_UPPER_BOUND) -> Iterator[tuple]:
    """Chunks of events with after < seq < before for `walk`: rows and recomputed hashes.

    PostgreSQL: raw SQL by keyset pages (`verify_process.pg_chunks`). Elsewhere: the ORM.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            yield from pg_chunks(cursor, after, before)
        return
    rows = (
        Event.objects.filter(seq__gt=after, seq__lt=before)
        .order_by("seq")
        .values_list(*_VERIFY_FIELDS)
        .iterator(chunk_size=_ORM_CHUNK)
    )
    while chunk := list(islice(rows, _ORM_CHUNK)):
        yield chunk, [_orm_row_digest(row) for row in chunk]


_ORM_CHUNK = 5000


def _orm_row_digest(row: tuple) -> str:
    created_at = row[2].astimezone(UTC).isoformat(timespec="microseconds")
    return stored_event_digest(row[0], row[1], created_at, *row[3:10])


def ledger_head() -> dict[str, Any]:
    """The latest event's sequence number and hash: what an external anchor records."""
    head = Event.objects.order_by("-seq").values("seq", "hash", "created_at").first()
    if head is None:
        return {"seq": 0, "hash": GENESIS_HASH, "created_at": None}
    return {**head, "created_at": head["created_at"].isoformat()}


ANCHORED = "ledger.anchored"


def ledger_anchor_head(*, path: Path | None = None) -> dict[str, Any]:
    """Append the chain head (seq, hash, time) as a JSON line to an anchor file, then log it.

    An anchor kept outside the database lets an auditor prove that events up to that head
    existed at that time: rewriting the chain would change the hash the file holds. Nothing
    is written when the ledger is empty or nothing happened since the last anchor, so an idle
    portal does not fill its own log with anchors.
    """
    path = Path(path or settings.CHARTER_LEDGER_ANCHOR_PATH)
    with transaction.atomic():
        _lock_chain_head()  # the anchored head stays the head until our event follows it
        head = ledger_head()
        if head["seq"] == 0:
            return {"anchored": False, "reason": "the ledger is empty", **head}
        last = Event.objects.filter(seq=head["seq"]).values_list("action", flat=True).first()
        if last == ANCHORED:
            return {"anchored": False, "reason": "nothing new since the last anchor", **head}
        line = {**head, "anchored_at": timezone.now().astimezone(UTC).isoformat()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as anchor_file:
            anchor_file.write(canonical_json(line) + "\n")
            anchor_file.flush()
            os.fsync(anchor_file.fileno())
        data = {"seq": head["seq"], "hash": head["hash"], "file": str(path)}
        event = ledger_record(actor=None, action=ANCHORED, data=data)
    return {"anchored": True, "event_seq": event.seq, **head}
