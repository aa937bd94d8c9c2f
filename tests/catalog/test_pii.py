import pytest

from catalog.pii import (
    iban_valid,
    is_card_number,
    is_email,
    is_ip_address,
    is_phone,
    luhn_valid,
    pii_kind_from_name,
    sample_distinct,
    scan_values,
    ssn_valid,
    suggest_pii,
)


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1112", False),
        ("79927398713", True),
        ("1", False),
    ],
)
def test_luhn(number, ok):
    assert luhn_valid(number) is ok


def test_card_numbers_need_luhn_and_a_network_prefix():
    assert is_card_number("4111 1111 1111 1111")
    assert is_card_number("5500-0000-0000-0004")
    assert not is_card_number("4111 1111 1111 1112")  # bad check digit
    assert not is_card_number("1234567812345670")  # Luhn-valid, but no card network starts with 1
    assert not is_card_number("0000000000000000")


def test_iban_mod97():
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not iban_valid("hello")


@pytest.mark.parametrize(
    ("ssn", "ok"),
    [
        ("123-45-6789", True),
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("912-12-3456", False),
        ("123-00-4567", False),
        ("123-45-0000", False),
        ("123456789", False),
    ],
)
def test_ssn_rules(ssn, ok):
    assert ssn_valid(ssn) is ok


def test_ip_email_phone():
    assert is_ip_address("192.168.1.20") and is_ip_address("2001:db8::1")
    assert not is_ip_address("999.1.1.1") and not is_ip_address("12")
    assert (
        is_email("ada@example.org") and not is_email("ada@example") and not is_email("not an email")
    )
    assert is_phone("+44 20 7946 0958") and is_phone("(555) 123-4567")
    assert not is_phone("1975-03-12")  # a date is not a phone number
    assert not is_phone("5551234567")  # a bare integer is too ambiguous


def test_names_suggest_kinds():
    assert pii_kind_from_name("customerEmail") == "email"
    assert pii_kind_from_name("ip_address") == "ip_address"
    assert pii_kind_from_name("home_address") == "address"
    assert pii_kind_from_name("first_name") == "name"
    assert pii_kind_from_name("date_of_birth") == "date_of_birth"
    assert pii_kind_from_name("SSN") == "national_id"
    assert pii_kind_from_name("product_name") == ""
    assert pii_kind_from_name("amount") == ""


def test_sample_is_distinct_bounded_and_skips_nulls():
    values = [None, float("nan"), *range(5000), 1, 2]
    sample = sample_distinct(values, limit=1000)
    assert len(sample) == 1000 and sample[:3] == [0, 1, 2]


def test_scan_reports_fraction_score_and_evidence_without_values():
    values = ["4111 1111 1111 1111", "5500 0000 0000 0004", "n/a", "unknown"]
    findings = scan_values(values, column_name="card_no")
    best = findings[0]
    assert best.entity == "card_number"
    assert best.match_fraction == 0.5 and best.matched == 2 and best.sample_size == 4
    assert best.evidence == "name+values" and best.score == pytest.approx(0.8)
    assert "4111" not in str(best.as_dict())


def test_suggest_prefers_values_then_name():
    assert suggest_pii("contact", ["a@b.io", "c@d.org"]).entity == "email"
    by_name = suggest_pii("last_name", ["Smith", "Jones"])
    assert by_name.entity == "name" and by_name.evidence == "name" and by_name.sample_size == 2
    assert suggest_pii("city", ["Oslo", "Rome"]) is None
    assert suggest_pii("signup_date", ["2024-01-01", "2024-02-03"]) is None
