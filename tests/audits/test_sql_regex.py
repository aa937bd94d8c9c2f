"""The pushed-down regex split (literal ends by LIKE, regex on the middle) is the same
predicate as the plain anchored regex, row for row, on a real PostgreSQL."""

import os

import pytest

from audits.checks.sql import regex_match, split_literal_ends

psycopg = pytest.importorskip("psycopg")
PG_DB = os.environ.get("CHARTER_AUDITS_SOURCE_DB", "charter_audits")

PATTERNS = [
    r"user[0-9]+@example\.com",
    r"[a-z.]+[0-9]+@example\.com",
    r"abc",
    r"INV-[0-9]{6}",
    r"(?:ab)+c",
    r"ab+",
    r"a\.b\d",
    r"a[]x]b",
    r"a[[:digit:]]+z",
    r"ab{2}c",
    r"100%_x[0-9]*",
    r"ab[0-9]*ba",
    r"a_b",
    r"x\\y",
    r"é[0-9]",
    r"a|b",
    r"x(?=y)y",
]
VALUES = [
    "", "a", "ab", "abb", "abc", "ababc", "aba", "abba", "ab12ba", "ab1ba", "abxba",
    "user1@example.com", "user@example.com", "user12x@example.com", "User1@example.com",
    "user1@example.comx", "xuser1@example.com", "ana.smith17@example.com", "user1@exampleXcom",
    "INV-123456", "INV-12345", "INV-1234567", "a.b7", "aXb7", "a]b", "axb", "a5z", "az",
    "100%_x", "100%_x42", "100ab_x4", "a_b", "axb", "x\\y", "xy", "é1", "b", "xy", "é",
    "user١@example.com", "a\nb", "abc\n",
]  # fmt: skip
MODES = ["fullmatch", "match", "search"]


@pytest.fixture(scope="module")
def conn():
    try:
        admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                                autocommit=True, connect_timeout=3)  # fmt: skip
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    with admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB]).fetchone():
            admin.execute(f'CREATE DATABASE "{PG_DB}"')
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=PG_DB) as c:
        c.execute("CREATE TEMP TABLE strings (s text)")
        with c.cursor().copy("COPY strings FROM STDIN") as copy:
            for value in VALUES:
                copy.write_row([value])
        yield c


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_split_regex_selects_the_same_rows(conn, pattern, mode):
    from psycopg import sql

    anchored = {"fullmatch": f"^(?:{pattern})$", "match": f"^(?:{pattern})"}.get(mode, pattern)
    col = sql.Identifier("s")
    query = sql.SQL("SELECT s, s ~ {}, {} FROM strings").format(
        sql.Literal(anchored), regex_match(col, pattern, mode)
    )
    rows = conn.execute(query).fetchall()
    assert [(s, plain) for s, plain, _ in rows] == [(s, split) for s, _, split in rows]


def test_split_only_where_the_ends_are_literal():
    assert split_literal_ends(r"user[0-9]+@example\.com", "fullmatch") == (
        "user", "[0-9]+", "@example.com"
    )  # fmt: skip
    assert split_literal_ends(r"user[0-9]+@example\.com", "match") == (
        "user", r"[0-9]+@example\.com", ""
    )  # fmt: skip
    for pattern in (r"a|b", r"x(?=y)y", r"^ab", r"ab$", r"a\mb", r"a\1", "é[0-9]", "[0-9]+"):
        assert split_literal_ends(pattern, "fullmatch") is None, pattern
