"""The pushed-down regex split (literal ends by LIKE, regex on the middle) is the same
predicate as the plain anchored regex, row for row, on a real PostgreSQL."""

import os

import pytest

from audits.checks.sql import ascii_run, regex_match, split_literal_ends

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
    # one repeated ASCII class between literal ends: compared as bytes (`ascii_run`)
    r"INV-[0-9]{2,3}",
    r"SKU-[A-Z0-9_-]+",
    r"id[a-c]?x",
    r"p[0-9]{0}s",
    r"p[0-9]*s",
    r"a[.]{2,}b",
    r"q[-a]+q",
    r"user\d+@example\.com",
]
VALUES = [
    "", "a", "ab", "abb", "abc", "ababc", "aba", "abba", "ab12ba", "ab1ba", "abxba",
    "user1@example.com", "user@example.com", "user12x@example.com", "User1@example.com",
    "user1@example.comx", "xuser1@example.com", "ana.smith17@example.com", "user1@exampleXcom",
    "INV-123456", "INV-12345", "INV-1234567", "a.b7", "aXb7", "a]b", "axb", "a5z", "az",
    "100%_x", "100%_x42", "100ab_x4", "a_b", "axb", "x\\y", "xy", "é1", "b", "xy", "é",
    "user١@example.com", "a\nb", "abc\n",
    "INV-12", "INV-1é", "INV-é", "INV-١٢", "SKU-AB_9-", "SKU-", "SKU-ab", "SKU-Aé", "SKU-é9",
    "idx", "idax", "iddx", "idabx", "ps", "p1s", "p12s", "p\u00a0s", "a..b", "a.b", "a...b",
    "q-aq", "qq", "q-bq", "user12é@example.com", "useré12@example.com", "user1\x7f@example.com",
]  # fmt: skip
MODES = ["fullmatch", "match", "search"]


@pytest.fixture(scope="module", params=["UTF8", "LATIN1"])
def conn(request):
    """A session as sources open them (client encoding UTF8) on a database of each encoding:
    the byte comparisons of `ascii_run` must not depend on the server's."""
    encoding = request.param
    dbname = PG_DB if encoding == "UTF8" else f"{PG_DB}_latin1"
    try:
        admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                                autocommit=True, connect_timeout=3)  # fmt: skip
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    with admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            create = f'CREATE DATABASE "{dbname}"'
            if encoding != "UTF8":
                create += f" ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
            admin.execute(create)
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=dbname, client_encoding="UTF8"
    ) as c:
        c.execute("CREATE TEMP TABLE strings (s text)")
        with c.cursor().copy("COPY strings FROM STDIN") as copy:
            for value in VALUES:
                if encoding == "UTF8" or _encodable(value, "latin-1"):
                    copy.write_row([value])
        yield c


def _encodable(value: str, codec: str) -> bool:
    try:
        value.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


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


def test_a_middle_of_one_ascii_class_is_compared_as_bytes():
    from psycopg import sql

    def text(pattern: str) -> str:
        return regex_match(sql.Identifier("s"), pattern).as_string(None)

    assert "btrim(" in text(r"user[0-9]+@example\.com") and " ~ " not in text(r"user[0-9]+@x")
    assert ascii_run("[A-Z0-9_-]{2,4}") == (b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_", 2, 4)
    for middle in ("[^0-9]+", "[[:digit:]]+", r"\d+", "[0-9]+?", "[9-0]+", "[a-z-_]+", "[é]+",
                   "[0-9]{256}", "[0-9]{3,2}", "[0-9]", "[0-9]+[a-z]+"):  # fmt: skip
        assert ascii_run(middle) is None, middle
        assert "btrim(" not in text(f"p{middle}s"), middle
