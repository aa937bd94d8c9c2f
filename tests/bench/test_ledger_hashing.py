"""The ledger's fast canonical form must hash exactly like the generic one it replaced."""

import functools
import json
import random
from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.hashing import (
    append_text_template,
    canonical_json,
    canonical_json_text,
    event_hash,
    event_hash_text,
    fetched_event_digests,
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


# The verifier reads `data` as PostgreSQL's jsonb text (keys ordered by length, spaces after
# separators, numbers as numeric prints them) and canonicalises it with the C scanner and
# encoder directly (`canonical_json_text`); it must give what json.loads + canonical_json give.
JSON_VALUES = [
    {},
    [],
    {"z": 1, "aa": 2, "b": {"é": 1, "Z": 2, "10": 3, "9": 4, "": 5, "🙂": 6, "\u2028": 7}},
    {"floats": [2.5, 0.1, 1e-05, 1e20, -0.0, 1.7976931348623157e308, 5e-324, 123456.789]},
    {"near exponent forms": [9e-05, 0.0001, 0.00012, 1e-07, 1e15, 1e16, 9999999999999998.0]},
    {"ints": [0, -1, 10**30, -(10**19), 2**63, 2**64, 2**64 - 1, -(2**63) - 1]},
    {"strings like numbers": ["0.00001", "2e5", "1E-7", "free-tier"]},
    functools.reduce(lambda inner, _: [inner], range(64), 1),  # 64 levels deep
    {"text": AWKWARD, "nested": [[{"k": [None, True, False]}], {"": {}}]},
    ["top", "level", 1],
    'a bare string with "quotes" and \\ and \n',
    -12,
    3.25,
    None,
]


def _json_texts(value) -> list[str]:
    """Texts of one value as PostgreSQL's jsonb prints them, roughly, and as json prints them."""
    return [json.dumps(value), json.dumps(value, ensure_ascii=False), canonical_json(value)]


@pytest.mark.parametrize("value", JSON_VALUES)
def test_canonical_json_text_equals_loads_then_canonical_json(value):
    for text in _json_texts(value):
        assert canonical_json_text(text) == canonical_json(json.loads(text)), text


def test_canonical_json_text_falls_back_to_json_loads_on_odd_text():
    deep = "[" * 600 + "]" * 600  # deeper than orjson takes
    for text in [' {"b": 1, "a": 2}', '{"a": 1} ', "\n[1, 2]\t", "[1e-5, 2E+3]", deep, "1" * 400]:
        assert canonical_json_text(text) == canonical_json(json.loads(text))
    for text in ["", "{", '{"a": 1} x', "NaN-ish"]:
        with pytest.raises(ValueError):
            canonical_json_text(text)


def _without_nul(value):
    """The value with NUL taken out of its strings: jsonb cannot hold one."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="jsonb text is PostgreSQL's")
@pytest.mark.parametrize("value", JSON_VALUES)
def test_canonical_json_text_of_postgresql_jsonb_text(value):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [json.dumps(_without_nul(value))])
        (text,) = cursor.fetchone()
    assert canonical_json_text(text) == canonical_json(json.loads(text)), text


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(_json)
@settings(max_examples=300, deadline=None)
def test_canonical_json_text_on_random_values(value):
    for text in _json_texts(value):
        assert canonical_json_text(text) == canonical_json(json.loads(text)), text


def _fetched_row(fields: dict) -> tuple:
    """A row as `verify_process.VERIFY_SQL` returns it: actor_id as JSON, data as jsonb text."""
    actor_id = "null" if fields["actor_id"] is None else str(fields["actor_id"])
    return (
        fields["seq"], fields["prev_hash"], fields["created_at"], actor_id,
        fields["actor_username"], fields["action"], fields["target_type"], fields["target_id"],
        fields["target_repr"], json.dumps(fields["data"], ensure_ascii=False), "stored hash",
    )  # fmt: skip


def test_fetched_row_digests_equal_stored_event_digest():
    """One chunk, so strings repeat across rows and fields (the quoted ones are reused)."""
    events = []
    for seq, text in enumerate(AWKWARD * 2, start=1):
        events.append(
            {
                "seq": seq,
                "prev_hash": text or "a" * 64,
                "created_at": "2026-05-04T03:02:01.000007+00:00",
                "actor_id": None if seq % 2 else seq,
                "actor_username": text,
                "action": f"dataset.{text}" if seq % 3 else text,
                "target_type": text,
                "target_id": text,
                "target_repr": text[:300],
                "data": {"z": [1, 2.5, None, True], "a": {text: text, "b": {}}, text: -3},
            }
        )
    digests = fetched_event_digests([_fetched_row(fields) for fields in events])
    assert digests == [stored_event_digest(*fields.values()) for fields in events]
