"""Masking is pure: every rule, every PII kind's default, overrides, and DataFrames."""

import hashlib
import hmac
import math
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pandas as pd
import pytest

from access import masking
from access.masking import column_rules, mask_frame, mask_value, rule_for
from catalog.models import MaskingRule, PiiKind

KEY = "k3y"


def col(name, pii_kind="", masking_rule=""):
    return SimpleNamespace(name=name, pii_kind=pii_kind, masking=masking_rule)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane Doe", "Xxxx Xxx"),
        ("jane.doe+1@example.com", "xxxx.xxx+0@xxxxxxx.xxx"),
        ("SW1A 1AA", "XX0X 0XX"),
        ("12 Rue de l'Église", "00 Xxx xx x'Xxxxxx"),
        (12345, "00000"),
        ("", ""),
    ],
)
def test_redact_turns_letters_to_x_and_digits_to_0(value, expected):
    assert mask_value(value, "redact", key=KEY) == expected


@pytest.mark.parametrize(
    ("value", "last", "first"),
    [
        ("4111111111111234", "************1234", "4111************"),
        ("+44 20 7946 0958", "************0958", "+44 ************"),
        ("12345", "*2345", "1234*"),
        ("1234", "****", "****"),  # showing 4 of 4 would show everything
        ("ab", "**", "**"),
        (5551234567, "******4567", "5551******"),
    ],
)
def test_show_last_and_first_4(value, last, first):
    assert mask_value(value, "show_last_4", key=KEY) == last
    assert mask_value(value, "show_first_4", key=KEY) == first


def test_hash_is_keyed_hmac_sha256_hex():
    expected = hmac.new(b"k3y", b"jane@example.com", hashlib.sha256).hexdigest()
    assert mask_value("jane@example.com", "hash", key=KEY) == expected
    assert len(expected) == 64


def test_hash_is_stable_so_joins_still_work_and_depends_on_the_key():
    a = mask_value("jane@example.com", "hash", key=KEY)
    assert a == mask_value("jane@example.com", "hash", key=KEY)
    assert a != mask_value("jane@example.com", "hash", key="other-key")
    assert a != hashlib.sha256(b"jane@example.com").hexdigest()  # not guessable without the key


def test_hash_canonicalises_numbers_so_int_and_float_ids_join():
    assert mask_value(42, "hash", key=KEY) == mask_value(42.0, "hash", key=KEY)
    assert mask_value(42, "hash", key=KEY) == mask_value("42", "hash", key=KEY)
    import numpy as np

    assert mask_value(np.int64(42), "hash", key=KEY) == mask_value(42, "hash", key=KEY)


def test_hash_without_a_key_refuses():
    with pytest.raises(ValueError, match="key"):
        mask_value("x", "hash", key="")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(1987, 6, 5), "1987"),
        (datetime(2001, 1, 2, 3, 4, tzinfo=UTC), "2001"),
        (pd.Timestamp("1990-12-31"), "1990"),
        ("1987-06-05", "1987"),
        ("1987/06/05", "1987"),
        ("05/06/1987", "1987"),
        ("1987-06-05T10:00:00Z", "1987"),
        ("not a date", None),
        ("12345678", None),
    ],
)
def test_date_show_year(value, expected):
    assert mask_value(value, "date_show_year", key=KEY) == expected


@pytest.mark.parametrize("rule", masking.RULES)
@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, pd.NaT])
def test_missing_values_stay_missing(rule, missing):
    assert mask_value(missing, rule, key=KEY) is None


def test_nullify_removes_the_value():
    assert mask_value("secret", "nullify", key=KEY) is None


def test_no_rule_returns_the_value_unchanged():
    assert mask_value("x@y.z", None, key=KEY) == "x@y.z"


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="unknown masking rule"):
        mask_value("x", "rot13", key=KEY)


def test_every_pii_kind_has_a_default_rule_that_changes_a_value():
    for kind in PiiKind.values:
        if not kind:
            continue
        rule = rule_for(kind)
        assert rule in masking.RULES, kind
        assert mask_value("Jane 1987-06-05 x", rule, key=KEY) != "Jane 1987-06-05 x", kind


def test_every_masking_choice_is_a_known_rule():
    assert {v for v in MaskingRule.values if v} == set(masking.RULES)


def test_defaults_per_kind():
    assert rule_for("email") == "hash"
    assert rule_for("card_number") == "show_last_4"
    assert rule_for("date_of_birth") == "date_show_year"
    assert rule_for("free_text") == "nullify"
    assert rule_for("a-kind-added-later") == "redact"
    assert rule_for("") is None


def test_column_override_wins_over_the_kind_default():
    assert rule_for("email", "redact") == "redact"
    assert rule_for("", "hash") == "hash"  # a steward may mask a column not marked PII


def test_column_rules_full_masks_nothing():
    assert column_rules([col("email", "email")], masked=False, names=["email", "x"]) == {}


def test_column_rules_masked_covers_pii_and_withholds_unknown_columns():
    columns = [col("id"), col("email", "email"), col("card", "card_number", "show_first_4")]
    rules = column_rules(columns, masked=True, names=["id", "email", "card", "surprise"])
    assert rules == {"email": "hash", "card": "show_first_4", "surprise": "nullify"}


def test_mask_frame_masks_ruled_columns_and_leaves_the_rest():
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "email": ["a@x.io", None, "c@x.io"],
            "phone": ["555-0100", "555-0101", float("nan")],
        }
    )
    out = mask_frame(frame, {"email": "hash", "phone": "show_last_4", "absent": "hash"}, key=KEY)
    assert out["id"].tolist() == [1, 2, 3]
    assert out["email"].tolist()[1] is None
    assert out["email"].tolist()[0] == mask_value("a@x.io", "hash", key=KEY)
    assert out["phone"].tolist() == ["****0100", "****0101", None]
    assert frame["email"].tolist()[0] == "a@x.io"  # the input is not modified


def test_masked_frame_contains_no_raw_value_of_a_pii_column():
    raw = ["jane@example.com", "4111111111111111", "Jane Doe", "1987-06-05"]
    frame = pd.DataFrame({"email": [raw[0]], "card": [raw[1]], "name": [raw[2]], "dob": [raw[3]]})
    columns = [
        col("email", "email"),
        col("card", "card_number"),
        col("name", "name"),
        col("dob", "date_of_birth"),
    ]
    out = mask_frame(frame, column_rules(columns, masked=True, names=list(frame)), key=KEY)
    text = out.to_csv(index=False)
    for value in raw:
        assert value not in text
    assert not math.isnan(len(text))
