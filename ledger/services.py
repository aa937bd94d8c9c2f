"""Write and verify the governance log. Services of every app call `ledger_record`."""

import os
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from ledger.hashing import GENESIS_HASH, canonical_json, event_hash, json_safe
from ledger.models import Event

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


def ledger_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | tuple[str, str] | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one governance event to the chain, in the caller's transaction."""
    with transaction.atomic():
        _lock_chain_head()
        head = Event.objects.order_by("-seq").values("seq", "hash").first()
        seq = head["seq"] + 1 if head else 1
        prev_hash = head["hash"] if head else GENESIS_HASH
        target_type, target_id, target_repr = _target_fields(target)
        actor_id = actor.pk if actor is not None and actor.is_authenticated else None
        actor_username = actor.get_username() if actor_id else ""
        fields = {
            "seq": seq,
            "prev_hash": prev_hash,
            "created_at": timezone.now().astimezone(UTC),
            "actor_id": actor_id,
            "actor_username": actor_username,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "target_repr": target_repr,
            "data": json_safe(data or {}),
        }
        return Event.objects.create(hash=event_hash(**fields), **fields)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str = ""


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
    """Recompute every hash in order and name the first event that breaks the chain."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    rows = Event.objects.order_by("seq").values_list(*_VERIFY_FIELDS).iterator(chunk_size=5000)
    for row in rows:
        fields = dict(zip(_VERIFY_FIELDS, row, strict=True))
        stored_hash = fields.pop("hash")
        seq = fields["seq"]
        fields["created_at"] = fields["created_at"].astimezone(UTC)
        if seq != expected_seq:
            reason = f"event #{expected_seq} is missing (next stored event is #{seq})"
            return VerifyResult(False, checked, expected_prev, expected_seq, reason)
        if fields["prev_hash"] != expected_prev:
            reason = f"event #{seq} does not follow event #{seq - 1} (previous hash differs)"
            return VerifyResult(False, checked, expected_prev, seq, reason)
        if event_hash(**fields) != stored_hash:
            reason = f"event #{seq} was altered (its content no longer matches its hash)"
            return VerifyResult(False, checked, expected_prev, seq, reason)
        expected_prev, expected_seq, checked = stored_hash, seq + 1, checked + 1
    return VerifyResult(True, checked, expected_prev)


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
