"""Read a dataset's data within a grant: preview, CSV, Parquet and NDJSON streams, masked.

Everything passes through `masked_chunks`, which reads the catalog source chunk by chunk
(`catalog.sources.open_source(...).iter_chunks`), keeps only the columns the grant covers and
masks PII columns on the server when the read is masked. Nothing loads a whole dataset.
pandas and pyarrow are imported inside the functions that need them (web path, STYLE.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings

from access.masking import column_rules, mask_frame
from access.policies import ReadAccess
from catalog.models import Dataset
from catalog.sources import open_source

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PREVIEW_ROWS = 20
STREAM_CHUNK_ROWS = 20_000


def _key() -> str:
    return settings.CHARTER_MASKING_KEY


def _catalog_columns(dataset: Dataset) -> list:
    return list(dataset.columns.all())


def _restrict(frame: pd.DataFrame, access: ReadAccess) -> pd.DataFrame:
    if access.columns:
        return frame[[c for c in frame.columns if c in access.columns]]
    return frame


def masked_chunks(
    dataset: Dataset,
    access: ReadAccess,
    *,
    chunksize: int | None = None,
    limit: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the data as the grant allows it: granted columns only, masked where it says."""
    columns = _catalog_columns(dataset)
    wanted = [c for c in access.columns] or None
    source = open_source(dataset)
    remaining = limit
    rules: dict[str, str] | None = None
    for chunk in source.iter_chunks(columns=wanted, chunksize=chunksize or STREAM_CHUNK_ROWS):
        chunk = _restrict(chunk, access)
        if rules is None:
            rules = column_rules(
                columns, masked=access.masked, names=[str(c) for c in chunk.columns]
            )
        if remaining is not None:
            chunk = chunk.head(remaining)
            remaining -= len(chunk)
        yield mask_frame(chunk, rules, key=_key())
        if remaining is not None and remaining <= 0:
            return


def preview(dataset: Dataset, access: ReadAccess, *, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """The first rows as plain JSON values, masked as the grant says, plus the rules applied."""
    source = open_source(dataset)
    frame = _restrict(source.head(rows), access)
    rules = column_rules(_catalog_columns(dataset), masked=access.masked, names=list(frame.columns))
    frame = mask_frame(frame, rules, key=_key())
    data = json.loads(frame.to_json(orient="split", date_format="iso", index=False))
    ruled = [rules.get(name) for name in data["columns"]]
    return {
        "columns": data["columns"],
        "rows": data["data"],
        "rules": rules,
        "header": [{"name": n, "rule": r} for n, r in zip(data["columns"], ruled, strict=True)],
        "cells": [list(zip(row, ruled, strict=True)) for row in data["data"]],
    }


def csv_stream(dataset: Dataset, access: ReadAccess, *, limit: int | None = None) -> Iterator[str]:
    """The data as CSV text, one chunk at a time (header once); text a spreadsheet would run as
    a formula (= + - @ …) gets a leading quote, as in every CSV export (config.exports)."""
    from config.exports import csv_safe

    first = True
    for chunk in masked_chunks(dataset, access, limit=limit):
        text = chunk.select_dtypes(include=["object", "string"]).columns
        if len(text):
            chunk = chunk.copy()
            for name in text:
                chunk[name] = chunk[name].map(csv_safe)
        yield chunk.to_csv(index=False, header=first)
        first = False
    if first:  # no chunk at all: still give the header
        names = [c.name for c in _catalog_columns(dataset)]
        yield ",".join(names) + "\n"


def ndjson_stream(
    dataset: Dataset, access: ReadAccess, *, limit: int | None = None
) -> Iterator[str]:
    """The data as newline-delimited JSON objects, one chunk at a time."""
    for chunk in masked_chunks(dataset, access, limit=limit):
        if len(chunk):
            text = chunk.to_json(orient="records", lines=True, date_format="iso")
            yield text if text.endswith("\n") else text + "\n"


class _Sink:
    """A write-only file for pyarrow that hands written bytes over as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _arrow_table(chunk: pd.DataFrame, schema: Any):
    import pyarrow as pa

    if schema is None:
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        # A column that is all-null in the first chunk would fix its type as null; use string.
        fields = [
            pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema
        ]
        schema = pa.schema(fields)
        return table.cast(schema), schema
    return pa.Table.from_pandas(chunk, schema=schema, preserve_index=False, safe=False), schema


def parquet_stream(
    dataset: Dataset, access: ReadAccess, *, limit: int | None = None
) -> Iterator[bytes]:
    """The data as a Parquet file, one row group per chunk, sent as each group is written."""
    import pyarrow.parquet as pq

    sink = _Sink()
    writer = None
    schema = None
    for chunk in masked_chunks(dataset, access, limit=limit):
        for name in chunk.columns:
            if chunk[name].dtype == object:
                chunk[name] = chunk[name].astype("string")
        table, schema = _arrow_table(chunk, schema)
        if writer is None:
            writer = pq.ParquetWriter(sink, schema)
        writer.write_table(table)
        if data := sink.take():
            yield data
    if writer is None:
        import pyarrow as pa

        names = [c.name for c in _catalog_columns(dataset)]
        writer = pq.ParquetWriter(sink, pa.schema([pa.field(n, pa.string()) for n in names]))
    writer.close()
    yield sink.take()


def source_check(dataset: Dataset) -> None:
    """Raise SourceError now (before a response starts) if the data cannot be opened."""
    open_source(dataset)
