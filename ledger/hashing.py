"""The canonical form of an event, shared by the writer and the verifier."""

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from hashlib import sha256
from json.decoder import JSONDecoder
from json.encoder import (
    c_make_encoder,  # None where json has no C speedups
    encode_basestring,  # the C string quoter json uses with ensure_ascii off
)
from typing import Any

import orjson

GENESIS_HASH = "0" * 64

# One encoder built once: `json.dumps` with these options builds a new one per call, which
# was a fifth of the time of verifying the chain (bench/ledger_bench.py). Output is identical.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def canonical_json(value: Any) -> str:
    """Serialise deterministically: sorted keys, no spaces, UTF-8 kept."""
    return _CANONICAL.encode(value)


# The C scanner and encoder under `json.loads` and `_CANONICAL.encode`, called directly: those
# wrappers check their input and `encode` builds a new C encoder per call, which together cost
# as much as the parsing and encoding themselves over a 1M-event verify. No circular check
# (markers None): parsed JSON has no cycles. Same options as `_CANONICAL`, so the same bytes.
_scan_json = JSONDecoder().scan_once
_encode_chunks = (
    c_make_encoder(None, str, encode_basestring, None, ":", ",", True, False, True)
    if c_make_encoder is not None
    else None
)


# orjson parses and prints JSON ~3x faster than json's C scanner and encoder, and prints what
# `canonical_json` prints except for numbers: exponent forms (`1e-7`, `1e-07`), floats below
# 1e-4 (json prints `1e-05`, orjson `0.00001`) and integers too big for 64 bits (orjson makes
# them floats, printed with an exponent, which orjson always signs). orjson's output that may
# hold one of those is made again the json way; a false alarm (a string with "0.0000" or "2e-"
# in it) only costs that. Substring tests first: a regex search over every event cost as much
# as orjson saved.
_EXPONENT_OR_TINY = re.compile(r"[0-9]e[-+]|0\.0000")


def _may_differ(text: str) -> bool:
    """Whether orjson's `text` may print a number otherwise than `canonical_json` would."""
    if "e-" in text or "e+" in text or "0.0000" in text:
        return _EXPONENT_OR_TINY.search(text) is not None
    return False


def canonical_json_text(text: str) -> str:
    """`canonical_json(json.loads(text))`, faster: the canonical form of stored JSON text.

    `text` is what PostgreSQL prints for a jsonb value (keys in its own order, spaces after
    separators); anything the fast paths do not take goes through `json.loads`.
    """
    try:
        fast = orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass  # not JSON, a number beyond a double, or nesting deeper than orjson takes
    else:
        if not _may_differ(fast):
            return fast
    if _encode_chunks is not None:
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:  # not JSON at position 0 (e.g. leading space): json.loads says
            end = -1
        if end == len(text):
            return "".join(_encode_chunks(value, 0))
    return canonical_json(json.loads(text))


def _stored_float(text: str) -> float | int:
    """A JSON number as it reads back from jsonb, which stores numbers as numeric.

    numeric has no negative zero and prints exponent forms in full: `-0.0` comes back as
    `0.0` and `1e+20` (Python's form for floats from 1e16 up) as the integer
    `100000000000000000000`. Hashing the form read back keeps such events verifiable.
    """
    if "e+" in text or "E+" in text:
        return int(Decimal(text))
    number = float(text)
    return 0.0 if number == 0 else number


def _no_constant(name: str) -> None:
    """NaN and ±Infinity are not JSON (jsonb refuses them); they are stored as null."""


def json_safe(value: Any) -> Any:
    """Round-trip through JSON so what is stored is exactly what was hashed, and what
    PostgreSQL's jsonb gives back (see `_stored_float`)."""
    return json.loads(canonical_json(value), parse_float=_stored_float, parse_constant=_no_constant)


def event_hash(
    *,
    seq: int,
    prev_hash: str,
    created_at: datetime,
    actor_id: int | None,
    actor_username: str,
    action: str,
    target_type: str,
    target_id: str,
    target_repr: str,
    data: Any,
) -> str:
    """The sha256 of an event's canonical JSON: what the chain links and what verify recomputes."""
    return event_hash_text(
        seq=seq,
        prev_hash=prev_hash,
        created_at=created_at.isoformat(timespec="microseconds"),
        actor_id=actor_id,
        actor_username=actor_username,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        data=data,
    )


def event_hash_text(
    *,
    seq: int,
    prev_hash: str,
    created_at: str,
    actor_id: int | None,
    actor_username: str,
    action: str,
    target_type: str,
    target_id: str,
    target_repr: str,
    data: Any,
) -> str:
    """`event_hash` with `created_at` already in ISO form (microseconds, UTC offset).

    Fields of their column types take the direct path (`stored_event_digest`); anything else
    goes through `canonical_json`. Both give the same bytes (tests/bench/test_ledger_hashing.py).
    """
    if (
        type(seq) is int
        and (actor_id is None or type(actor_id) is int)
        and type(prev_hash) is str
        and type(created_at) is str
        and type(actor_username) is str
        and type(action) is str
        and type(target_type) is str
        and type(target_id) is str
        and type(target_repr) is str
    ):
        return stored_event_digest(
            seq, prev_hash, created_at, actor_id, actor_username, action,
            target_type, target_id, target_repr, data,
        )  # fmt: skip
    payload = {
        "seq": seq,
        "prev_hash": prev_hash,
        "created_at": created_at,
        "actor_id": actor_id,
        "actor_username": actor_username,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "target_repr": target_repr,
        "data": data,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def stored_event_digest(
    seq: int,
    prev_hash: str,
    created_at: str,
    actor_id: int | None,
    actor_username: str,
    action: str,
    target_type: str,
    target_id: str,
    target_repr: str,
    data: Any,
) -> str:
    """The hash of an event whose fields have their column types (int, str, None).

    Writes the canonical JSON directly, keys in sorted order and strings quoted by json's own
    C quoter, so it equals `canonical_json` of the payload byte for byte. Positional and
    unchecked because `ledger_verify` calls it a million times.
    """
    q = encode_basestring
    text = (
        f'{{"action":{q(action)},'
        f'"actor_id":{"null" if actor_id is None else int.__repr__(actor_id)},'
        f'"actor_username":{q(actor_username)},"created_at":{q(created_at)},'
        f'"data":{_CANONICAL.encode(data)},"prev_hash":{q(prev_hash)},'
        f'"seq":{int.__repr__(seq)},"target_id":{q(target_id)},'
        f'"target_repr":{q(target_repr)},"target_type":{q(target_type)}}}'
    )
    return sha256(text.encode()).hexdigest()


def append_text_template(
    *,
    actor_id: int | None,
    actor_username: str,
    action: str,
    target_type: str,
    target_id: str,
    target_repr: str,
    data_json: str,
) -> tuple[str, str, str, str]:
    """The canonical text of an event around the three fields only its append can fix.

    An event's time, previous hash and seq are known only under the append lock, so
    PostgreSQL fills them in (`ledger_append`, migration 0004) and hashes:
    ``t[0] + created_at + t[1] + prev_hash + t[2] + str(seq) + t[3]``. The result is the same
    text as `stored_event_digest` builds (tests/bench/test_ledger_hashing.py): ISO times and
    hex hashes need no JSON escaping. `data_json` is `canonical_json` of the stored data.
    """
    q = encode_basestring
    return (
        f'{{"action":{q(action)},'
        f'"actor_id":{"null" if actor_id is None else int.__repr__(actor_id)},'
        f'"actor_username":{q(actor_username)},"created_at":"',
        f'","data":{data_json},"prev_hash":"',
        '","seq":',
        f',"target_id":{q(target_id)},"target_repr":{q(target_repr)},'
        f'"target_type":{q(target_type)}}}',
    )


class _Quoted(dict):
    """JSON-quoted strings, each quoted once: for fields with few distinct values (actions,
    usernames, target types), a dict lookup is cheaper than calling the quoter per event."""

    def __missing__(self, text: str) -> str:
        self[text] = quoted = encode_basestring(text)
        return quoted


def fetched_event_digests(rows: Iterable[tuple]) -> list[str]:
    """The hash of each event row as `ledger.verify_process.VERIFY_SQL` fetches it.

    A row is (seq, prev_hash, created_at, actor_id, actor_username, action, target_type,
    target_id, target_repr, data, hash) with created_at already ISO text (as isoformat prints a
    UTC time: digits and -:.T+, nothing to escape), actor_id as JSON text ("null" or digits)
    and data as jsonb text. The text hashed
    is the one `stored_event_digest` builds (tests/bench/test_ledger_hashing.py); one loop over
    a whole chunk, because the verify of 1M events spends its time here.
    """
    q, data_text, few = encode_basestring, canonical_json_text, _Quoted()
    return [
        sha256(
            f'{{"action":{few[action]},"actor_id":{actor_id},'
            f'"actor_username":{few[actor_username]},"created_at":"{created_at}",'
            f'"data":{data_text(data)},"prev_hash":{q(prev_hash)},'
            f'"seq":{int.__repr__(seq)},"target_id":{q(target_id)},'
            f'"target_repr":{q(target_repr)},"target_type":{few[target_type]}}}'.encode()
        ).hexdigest()
        for (
            seq, prev_hash, created_at, actor_id, actor_username, action,
            target_type, target_id, target_repr, data, _hash,
        ) in rows
    ]  # fmt: skip
