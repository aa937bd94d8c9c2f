"""The readers behind every dataset: path rules, hostile files, chunked reads, PostgreSQL."""

import os

import pandas as pd
import pytest
from django.db import connection as django_connection

from catalog.models import Connection
from catalog.sources import (
    SourceError,
    decrypt_secret,
    encrypt_secret,
    resolve_data_path,
    source_for_file,
    source_for_table,
    split_table_name,
)


@pytest.fixture
def data_root(tmp_path, settings):
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    settings.CHARTER_UPLOAD_ROOT = tmp_path / "uploads"
    return root


def test_relative_and_absolute_paths_inside_a_root_resolve(data_root):
    (data_root / "a.csv").write_text("x\n1\n")
    assert resolve_data_path("a.csv") == data_root / "a.csv"
    assert resolve_data_path(str(data_root / "a.csv")) == data_root / "a.csv"


@pytest.mark.parametrize("raw", ["../secret.csv", "sub/../../secret.csv", "/etc/passwd", ""])
def test_paths_outside_the_roots_are_refused(data_root, raw):
    (data_root.parent / "secret.csv").write_text("x\n1\n")
    with pytest.raises(SourceError):
        resolve_data_path(raw)


def test_a_symlink_out_of_the_root_is_refused(data_root):
    outside = data_root.parent / "outside.csv"
    outside.write_text("x\n1\n")
    os.symlink(outside, data_root / "link.csv")
    with pytest.raises(SourceError, match="symbolic link"):
        resolve_data_path("link.csv")


def test_missing_file_is_named(data_root):
    with pytest.raises(SourceError, match="No file at nope.csv"):
        resolve_data_path("nope.csv")


def test_csv_chunks_cover_every_row_once(data_root):
    frame = pd.DataFrame({"id": range(1000), "city": ["Oslo", "Lima"] * 500})
    frame.to_csv(data_root / "big.csv", index=False)
    source = source_for_file("big.csv")
    chunks = list(source.iter_chunks(chunksize=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert pd.concat(chunks)["id"].tolist() == list(range(1000))
    assert [c.name for c in source.columns()] == ["id", "city"]
    fingerprint = source.fingerprint()
    assert fingerprint.size_bytes == (data_root / "big.csv").stat().st_size
    assert len(fingerprint.sha256) == 64


def test_parquet_reads_in_batches(data_root):
    pd.DataFrame({"a": range(10), "b": list("abcdefghij")}).to_parquet(data_root / "t.parquet")
    source = source_for_file("t.parquet")
    source.validate()
    assert source.row_count() == 10
    assert [len(c) for c in source.iter_chunks(chunksize=4)] == [4, 4, 2]
    assert source.head(3)["b"].tolist() == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty"),
        ("latin1.csv", "name\nJosé\n".encode("latin-1"), "not valid UTF-8"),
        ("fake.parquet", b"this is not parquet at all", "not a Parquet file"),
        ("broken.csv", b'a,b\n1,"unterminated\n', "not well-formed CSV"),
        ("data.xlsx", b"PK\x03\x04", "only CSV"),
    ],
)
def test_hostile_files_get_a_clear_message(data_root, name, content, message):
    (data_root / name).write_bytes(content)
    with pytest.raises(SourceError, match=message):
        source_for_file(name).validate()


def test_secrets_round_trip_and_are_not_plain():
    token = encrypt_secret("s3cret")
    assert "s3cret" not in token
    assert decrypt_secret(token) == "s3cret"


@pytest.mark.parametrize(
    "raw",
    [
        "users; DROP TABLE x",
        'public."users"',
        "a.b.c",
        "1abc",
        "x--",
        "pg_catalog.pg_user where 1=1",
    ],
)
def test_table_names_with_sql_are_refused(raw):
    with pytest.raises(SourceError, match="not a valid table name"):
        split_table_name(raw, "public")


def test_table_name_defaults_to_the_connection_schema():
    assert split_table_name("loans", "sales") == ("sales", "loans")
    assert split_table_name("hr.people", "sales") == ("hr", "people")


@pytest.fixture
def pg_connection(db):
    if django_connection.vendor != "postgresql":
        pytest.skip("needs a PostgreSQL DATABASE_URL")
    settings_dict = django_connection.settings_dict
    with django_connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS public.src_people")
        cursor.execute("CREATE TABLE public.src_people (id int primary key, email text)")
        cursor.execute(
            "INSERT INTO public.src_people "
            "SELECT g, 'p' || g || '@x.org' FROM generate_series(1, 25) g"
        )
    return Connection.objects.create(
        name="warehouse",
        host=settings_dict["HOST"] or "127.0.0.1",
        port=int(settings_dict["PORT"] or 5432),
        database=settings_dict["NAME"],
        username=settings_dict["USER"] or "postgres",
        password_encrypted=encrypt_secret(settings_dict["PASSWORD"] or ""),
    )


@pytest.mark.django_db(transaction=True)
def test_postgres_table_reads_in_chunks_read_only(pg_connection):
    source = source_for_table(pg_connection, "public.src_people")
    assert [c.name for c in source.columns()] == ["id", "email"]
    assert source.row_count() == 25
    assert sum(len(c) for c in source.iter_chunks(chunksize=10)) == 25
    assert len(source.head(5)) == 5
    assert source.fingerprint().row_count == 25
    with pytest.raises(SourceError, match="read-only"):
        source.run_query("DELETE FROM public.src_people")


@pytest.mark.django_db(transaction=True)
def test_missing_table_and_failing_connection_are_explained(pg_connection):
    with pytest.raises(SourceError, match="No table or view public.nope"):
        source_for_table(pg_connection, "nope").columns()
    pg_connection.port = 1
    with pytest.raises(SourceError, match="Cannot connect to warehouse"):
        source_for_table(pg_connection, "src_people").columns()


def test_a_fingerprint_is_reused_only_while_a_settled_file_is_unchanged(data_root, monkeypatch):
    """An audit fingerprints a changed file twice; the second read is skipped, never wrongly."""
    import hashlib
    import time

    import catalog.sources as sources

    hashed, real_sha256 = [], hashlib.sha256
    monkeypatch.setattr(sources.hashlib, "sha256", lambda: hashed.append(1) or real_sha256())
    path = data_root / "a.csv"
    path.write_text("x\n1\n")
    source = source_for_file(path)
    first = source.fingerprint()
    path.write_text("x\n2\n")  # same size and inode, within the clock's granularity
    assert source.fingerprint().sha256 != first.sha256  # a fresh file is never remembered
    time.sleep(1.1)
    settled = source.fingerprint()
    assert len(hashed) == 3
    assert source_for_file(path).fingerprint() == settled  # another reader, same file: reused
    assert len(hashed) == 3
    path.write_text("x\n3\n")
    assert source.fingerprint().sha256 not in (first.sha256, settled.sha256)
    assert len(hashed) == 4


def test_csv_columns_are_reused_only_while_a_settled_file_is_unchanged(data_root, monkeypatch):
    """An audit of a changed CSV asks for its columns twice; the second 10,000-row read is
    skipped while the file is unchanged, and a rewrite is always read again."""
    import time

    from catalog.sources import FileSource

    reads, real_head = [], FileSource.head
    monkeypatch.setattr(FileSource, "head", lambda self, n: reads.append(n) or real_head(self, n))
    path = data_root / "cols.csv"
    path.write_text("x,y\n1,a\n")
    source = source_for_file(path)
    assert [(c.name, c.type) for c in source.columns()] == [("x", "int64"), ("y", "str")]
    path.write_text("x,y\n1.5,a\n")  # same size and inode, within the clock's granularity
    assert [c.type for c in source.columns()] == ["float64", "str"]  # fresh: not remembered
    time.sleep(1.1)
    settled = source.columns()
    assert len(reads) == 3
    again = source_for_file(path).columns()  # another reader, same file: reused
    assert again == settled and again is not settled
    assert len(reads) == 3
    path.write_text("x,y\nq,a\n")
    assert [c.type for c in source.columns()] == ["str", "str"]
    assert len(reads) == 4
