"""The ledger's fast canonical form must hash exactly like the generic one it replaced."""

import json
import random
from datetime import UTC, datetime

import pytest

from ledger.hashing import (
    append_text_template,
    canonical_json,
    event_hash,
    event_hash_text,
    stored_event_digest,
)


def _generic(**fields) -> str:
    import hashlib

    fields["created_at"] = fields["created_at"].isoformat(timespec="microseconds")
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


AWKWARD = [
    "plain",
    'quote " and \\ backslash',
    "new\nline\ttab\r\x00\x1f\x7f",
    "é ünï 中文 🙂",
    "\u2028\u2029",
    "",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_fast_digest_equals_generic_canonical_json(text):
    fields = {
        "seq": 12,
        "prev_hash": "a" * 64,
        "created_at": datetime(2026, 5, 4, 3, 2, 1, 7, tzinfo=UTC),
        "actor_id": 7,
        "actor_username": text,
        "action": f"dataset.{text}",
        "target_type": "catalog.dataset",
        "target_id": text,
        "target_repr": text[:300],
        "data": {"z": [1, 2.5, None, True], "a": {text: text, "b": {}}, text: -3},
    }
    expected = _generic(**fields)
    assert event_hash(**fields) == expected
    iso = fields["created_at"].isoformat(timespec="microseconds")
    assert event_hash_text(**{**fields, "created_at": iso}) == expected
    assert stored_event_digest(*{**fields, "created_at": iso}.values()) == expected


def test_fast_digest_matches_on_random_events():
    rng = random.Random(8)
    alphabet = 'abc"\\\n\t é中🙂\x01/'
    for seq in range(1, 300):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        fields = {
            "seq": seq,
            "prev_hash": f"{seq:064x}",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC).replace(microsecond=seq),
            "actor_id": None if seq % 3 else seq,
            "actor_username": word,
            "action": word[::-1],
            "target_type": "",
            "target_id": str(seq),
            "target_repr": word * 2,
            "data": json.loads(json.dumps({word: seq, "list": [word, seq / 7], "n": {"k": word}})),
        }
        assert event_hash(**fields) == _generic(**fields)


def test_unusual_types_fall_back_to_the_generic_path():
    fields = {
        "seq": 1,
        "prev_hash": "0" * 64,
        "created_at": "2026-01-01T00:00:00.000000+00:00",
        "actor_id": None,
        "actor_username": "",
        "action": "x",
        "target_type": "t",
        "target_id": 5,  # not a str: the generic path formats it
        "target_repr": "",
        "data": {},
    }
    import hashlib

    assert event_hash_text(**fields) == hashlib.sha256(canonical_json(fields).encode()).hexdigest()


@pytest.mark.parametrize("text", AWKWARD)
def test_append_template_filled_in_is_the_canonical_text(text):
    """PostgreSQL fills seq, prev_hash and created_at into this template (migration 0004)."""
    import hashlib

    fields = {
        "actor_id": None if text else 3,
        "actor_username": text,
        "action": f"dataset.{text}",
        "target_type": text,
        "target_id": text,
        "target_repr": text[:300],
    }
    data = {"z": [1, 2.5, None, True], text: {"b": text}}
    seq, prev_hash, created_at = 1234, "f" * 64, "2026-05-04T03:02:01.000007+00:00"
    parts = append_text_template(**fields, data_json=canonical_json(data))
    filled = parts[0] + created_at + parts[1] + prev_hash + parts[2] + str(seq) + parts[3]
    expected = stored_event_digest(
        seq, prev_hash, created_at, fields["actor_id"], fields["actor_username"],
        fields["action"], fields["target_type"], fields["target_id"], fields["target_repr"], data,
    )  # fmt: skip
    assert hashlib.sha256(filled.encode()).hexdigest() == expected
