"""Read registered data through one interface: files (CSV, Parquet) and PostgreSQL tables.

Every source yields pandas DataFrames in chunks, so memory stays bounded whatever the size.
pandas and pyarrow are imported inside the functions that read data: this module is imported
by services on the web path, where those libraries are not wanted (STYLE.md, profiling rule).

Security: file paths must resolve inside a configured root with no `..` and no symlink on the
way; table names are validated and quoted; database sources are read-only and every query
runs under a statement timeout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import psycopg

    from catalog.models import Connection, Dataset

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
DEFAULT_CHUNK_ROWS = 200_000


class SourceError(Exception):
    """A problem with a data source, worded for the person who registered it."""


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable}


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    size_bytes: int | None
    row_count: int | None


# --- paths ------------------------------------------------------------------------------------


def allowed_roots() -> list[Path]:
    """Folders data may be read from: the configured data roots and managed upload storage."""
    roots = [Path(r).resolve() for r in settings.CHARTER_DATA_ROOTS]
    return [*roots, Path(settings.CHARTER_UPLOAD_ROOT).resolve()]


def resolve_data_path(raw: str) -> Path:
    """Return the real path of a data file, refusing anything outside the allowed roots."""
    if not raw or "\x00" in raw:
        raise SourceError("Give the path of a CSV or Parquet file.")
    candidate = Path(raw)
    if ".." in candidate.parts:
        raise SourceError("Paths may not contain '..'.")
    roots = allowed_roots()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    candidate = Path(os.path.abspath(candidate))
    if not any(candidate.is_relative_to(root) for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise SourceError(f"{raw} is outside the allowed data folders ({shown}).")
    if not candidate.exists():
        raise SourceError(f"No file at {raw}.")
    if Path(os.path.realpath(candidate)) != candidate:
        raise SourceError(f"{raw} goes through a symbolic link; register the real file instead.")
    if not candidate.is_file():
        raise SourceError(f"{raw} is not a regular file.")
    return candidate


def file_format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise SourceError(f"{path.name}: only CSV (.csv) and Parquet (.parquet) files are supported.")


# --- files ------------------------------------------------------------------------------------


_LAST_FINGERPRINT: dict[str, Any] = {}  # "last": (file identity, Fingerprint); see fingerprint
_LAST_COLUMNS: dict[str, Any] = {}  # "last": (file identity, ColumnInfo tuple); see columns


def _settled(identity: tuple, started_ns: int) -> bool:
    """Whether an answer read since `started_ns` may be remembered for this file identity: not
    when the file changed less than a second before (git's "racy clean" rule)."""
    return max(identity[4], identity[5]) < started_ns - 1_000_000_000


MAX_COLUMNS = 2000  # a 20,000-column header would tie a worker up for minutes (tests/security)


class FileSource:
    """A CSV or Parquet file, read in chunks."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt

    def validate(self) -> None:
        """Fail early, with a clear message, on an empty, malformed or mis-encoded file."""
        if not self.path.exists():
            raise SourceError(f"The file {self.path.name} no longer exists.")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path.name} is empty.")
        if self.fmt == "parquet":
            width = len(self._parquet_file().schema_arrow)
        else:
            head = self.head(100)
            if head.columns.empty:
                raise SourceError(f"{self.path.name} has no header row.")
            width = len(head.columns)
        if width > MAX_COLUMNS:
            raise SourceError(
                f"{self.path.name} has {width} columns; Charter catalogs at most {MAX_COLUMNS}."
            )

    def _parquet_file(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self.path.open("rb") as fh:
            magic = fh.read(4)
        if magic != b"PAR1":
            raise SourceError(f"{self.path.name} is not a Parquet file (no PAR1 header).")
        try:
            return pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise SourceError(f"{self.path.name} is not a readable Parquet file: {exc}") from exc

    def _read_csv(self, **kwargs: Any):
        import pandas as pd

        sep = "\t" if self.path.suffix.lower() == ".tsv" else ","
        try:
            return pd.read_csv(
                self.path,
                sep=sep,
                encoding="utf-8",
                encoding_errors="strict",
                low_memory=False,
                **kwargs,
            )
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{self.path.name} is not valid UTF-8 (byte {exc.start}); "
                "save it as UTF-8 and retry."
            ) from exc
        except pd.errors.EmptyDataError as exc:
            raise SourceError(f"{self.path.name} is empty.") from exc
        except pd.errors.ParserError as exc:
            raise SourceError(f"{self.path.name} is not well-formed CSV: {exc}") from exc

    def columns(self) -> list[ColumnInfo]:
        """The columns and their types; a CSV's types are inferred from its first 10,000 rows.

        An audit of a changed CSV asks twice (its checks' context, then the profile), and a
        10,000-row parse costs ~20 ms: the last answer is reused while the file's identity is
        unchanged, under the same rule as `fingerprint`.
        """
        if self.fmt == "parquet":
            schema = self._parquet_file().schema_arrow
            return [ColumnInfo(f.name, str(f.type), f.nullable) for f in schema]
        started_ns = time.time_ns()
        key = self._identity()
        last = _LAST_COLUMNS.get("last")
        if last is not None and last[0] == key:
            return list(last[1])
        sample = self.head(10_000)
        found = [ColumnInfo(str(name), str(dtype)) for name, dtype in sample.dtypes.items()]
        if _settled(key, started_ns):
            _LAST_COLUMNS["last"] = (key, tuple(found))  # one assignment: threads see both
        return found

    def _identity(self) -> tuple:
        """What changes when the file's bytes may have: inode, size, mtime and ctime."""
        stat = self.path.stat()
        return (str(self.path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns,
                stat.st_ctime_ns)  # fmt: skip

    def head(self, n: int):
        if self.fmt == "parquet":
            import pyarrow as pa

            parquet = self._parquet_file()
            batches = parquet.iter_batches(batch_size=max(n, 1))
            batch = next(batches, None)
            if batch is None:
                return pa.table({f.name: [] for f in parquet.schema_arrow}).to_pandas()
            return batch.to_pandas().head(n)
        return self._read_csv(nrows=n)

    def iter_chunks(
        self, *, columns: list[str] | None = None, chunksize: int = DEFAULT_CHUNK_ROWS
    ) -> Iterator[pd.DataFrame]:
        if self.fmt == "parquet":
            for batch in self._parquet_file().iter_batches(batch_size=chunksize, columns=columns):
                yield batch.to_pandas()
            return
        reader = self._read_csv(chunksize=chunksize, usecols=columns)
        try:
            yield from reader
        except UnicodeDecodeError as exc:
            raise SourceError(f"{self.path.name} is not valid UTF-8 (byte {exc.start}).") from exc
        except Exception as exc:
            import pandas as pd

            if isinstance(exc, pd.errors.ParserError):
                raise SourceError(f"{self.path.name} is not well-formed CSV: {exc}") from exc
            raise

    def fingerprint(self) -> Fingerprint:
        """sha256 of the bytes, streamed; the row count is left to the profile.

        An audit of a changed file fingerprints it twice (to see the change, then in the
        profile that records the version): the last digest is reused while the file's inode,
        size, mtime and ctime are unchanged. ctime cannot be set back from user space, so a
        rewrite always shows, except within the clock's granularity: a file changed less
        than a second before it was hashed is not remembered (git's "racy clean" rule).
        """
        started_ns = time.time_ns()
        key = self._identity()
        last = _LAST_FINGERPRINT.get("last")
        if last is not None and last[0] == key:
            return last[1]
        digest = hashlib.sha256()
        size = 0
        with self.path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                size += len(block)
        found = Fingerprint(digest.hexdigest(), size, None)
        if _settled(key, started_ns):
            _LAST_FINGERPRINT["last"] = (key, found)  # one assignment: threads see both
        return found

    def row_count(self) -> int:
        if self.fmt == "parquet":
            return self._parquet_file().metadata.num_rows
        return sum(len(chunk) for chunk in self.iter_chunks(columns=None))


def source_for_file(path: Path | str, fmt: str | None = None) -> FileSource:
    path = resolve_data_path(str(path))
    return FileSource(path, fmt or file_format_for(path))


# --- secrets ------------------------------------------------------------------------------------


def _fernet():
    from cryptography.fernet import Fernet

    key = hashlib.sha256(settings.CHARTER_FIELD_ENCRYPTION_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt_secret(token: str) -> str:
    from cryptography.fernet import InvalidToken

    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SourceError("The stored password cannot be decrypted (key changed?).") from exc


# --- PostgreSQL ---------------------------------------------------------------------------------


def split_table_name(raw: str, default_schema: str) -> tuple[str, str]:
    """Parse `schema.table` or `table`, accepting only plain identifiers (no SQL in a name)."""
    parts = raw.strip().split(".")
    if len(parts) == 1:
        parts = [default_schema, parts[0]]
    if len(parts) != 2 or not all(IDENTIFIER.match(p) for p in parts):
        raise SourceError(
            f"{raw!r} is not a valid table name: use schema.table with letters, digits and '_'."
        )
    return parts[0], parts[1]


def connect(connection: Connection, *, timeout_ms: int | None = None) -> psycopg.Connection:
    """Open a read-only session with a statement timeout; errors never show the password.

    `timeout_ms` replaces CHARTER_SOURCE_STATEMENT_TIMEOUT_MS for a session whose queries are
    legitimately long (an audit's scan of a big table). Waiting for a lock is bounded by the
    source timeout whatever `timeout_ms` is, so a table someone holds locked still fails fast.
    """
    import psycopg

    source_timeout = int(settings.CHARTER_SOURCE_STATEMENT_TIMEOUT_MS)
    options = "-c default_transaction_read_only=on"
    if timeout_ms is None:
        options += f" -c statement_timeout={source_timeout}"
    else:
        options += f" -c statement_timeout={int(timeout_ms)} -c lock_timeout={source_timeout}"
    try:
        conn = psycopg.connect(
            host=connection.host,
            port=connection.port,
            dbname=connection.database,
            user=connection.username,
            password=decrypt_secret(connection.password_encrypted),
            connect_timeout=10,
            options=options,
            application_name="charter",
            client_encoding="UTF8",  # what audits/checks/sql.py's byte comparisons assume
        )
    except psycopg.Error as exc:
        message = str(exc).replace(decrypt_secret(connection.password_encrypted) or "\x00", "***")
        raise SourceError(f"Cannot connect to {connection.name}: {message.strip()}") from exc
    conn.read_only = True
    return conn


def connection_check(connection: Connection) -> None:
    """Raise SourceError unless the connection opens and answers a query."""
    with connect(connection) as conn:
        conn.execute("SELECT 1")


class PostgresSource:
    """A table or view reached through a Connection."""

    def __init__(self, connection: Connection, table: str) -> None:
        self.connection = connection
        self.schema, self.table = split_table_name(table, connection.schema or "public")

    @property
    def qualified(self):
        from psycopg import sql

        return sql.Identifier(self.schema, self.table)

    def run_query(
        self,
        query: Any,
        params: Any = None,
        *,
        timeout_ms: int | None = None,
    ) -> list[tuple]:
        """Run one read-only query under the statement timeout and return its rows.

        `timeout_ms` overrides the source's statement timeout (see `connect`).
        """
        import psycopg

        with connect(self.connection, timeout_ms=timeout_ms) as conn:
            try:
                return conn.execute(query, params).fetchall()
            except psycopg.errors.QueryCanceled as exc:
                raise SourceError(
                    f"{self.schema}.{self.table}: the query took too long and was stopped"
                ) from exc
            except psycopg.errors.LockNotAvailable as exc:
                raise SourceError(
                    f"{self.schema}.{self.table}: another session holds a lock on it; the query "
                    "waited too long and was stopped"
                ) from exc
            except psycopg.Error as exc:
                raise SourceError(f"{self.schema}.{self.table}: {str(exc).strip()}") from exc

    def columns(self) -> list[ColumnInfo]:
        rows = self.run_query(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [self.schema, self.table],
        )
        if not rows:
            raise SourceError(
                f"No table or view {self.schema}.{self.table} in {self.connection.name}"
            )
        return [ColumnInfo(name, dtype, nullable) for name, dtype, nullable in rows]

    def validate(self) -> None:
        self.columns()

    def _select(self, columns: list[str] | None):
        from psycopg import sql

        names = columns or [c.name for c in self.columns()]
        fields = sql.SQL(", ").join(sql.Identifier(n) for n in names)
        return names, sql.SQL("SELECT {} FROM {}").format(fields, self.qualified)

    def head(self, n: int):
        import pandas as pd
        from psycopg import sql

        names, query = self._select(None)
        rows = self.run_query(query + sql.SQL(" LIMIT {}").format(sql.Literal(int(n))))
        return pd.DataFrame(rows, columns=names)

    def iter_chunks(
        self, *, columns: list[str] | None = None, chunksize: int = DEFAULT_CHUNK_ROWS
    ) -> Iterator[pd.DataFrame]:
        """Stream rows through a server-side cursor, `chunksize` at a time."""
        import pandas as pd

        names, query = self._select(columns)
        with (
            connect(self.connection) as conn,
            conn.transaction(),
            conn.cursor(name="charter_read") as cursor,
        ):
            cursor.itersize = chunksize
            cursor.execute(query)
            while rows := cursor.fetchmany(chunksize):
                yield pd.DataFrame(rows, columns=names)

    def row_count(self) -> int:
        from psycopg import sql

        return int(self.run_query(sql.SQL("SELECT count(*) FROM {}").format(self.qualified))[0][0])

    def size_bytes(self) -> int | None:
        rows = self.run_query(
            "SELECT pg_total_relation_size(%s::regclass)", [f'"{self.schema}"."{self.table}"']
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def fingerprint(self) -> Fingerprint:
        """sha256 of the ordered column definitions plus the row count (SPEC §6)."""
        shape = {"columns": [c.as_dict() for c in self.columns()], "row_count": self.row_count()}
        digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()
        return Fingerprint(digest, self.size_bytes(), shape["row_count"])


def source_for_table(connection: Connection, table: str) -> PostgresSource:
    return PostgresSource(connection, table)


def open_source(dataset: Dataset) -> FileSource | PostgresSource:
    """The reader for a registered dataset."""
    if dataset.source_kind in ("file", "upload"):
        return source_for_file(dataset.location, dataset.file_format or None)
    if dataset.source_kind == "postgresql":
        if dataset.connection is None:
            raise SourceError(f"{dataset.name} has no connection.")
        return source_for_table(dataset.connection, dataset.location)
    raise SourceError(f"{dataset.name} has no readable source ({dataset.source_kind}).")
