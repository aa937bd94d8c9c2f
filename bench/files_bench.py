"""Scanning files: how fast bytes become DataFrames, and how fast Charter's reader does it.

Each reader runs in a fresh interpreter so its peak memory (ru_maxrss of that process) is its
own. Readers timed on the same file, same run:

- pandas_chunks: `pd.read_csv(chunksize=200_000)` with the C engine, a full pass.
- pyarrow_read: `pyarrow.csv.read_csv` of the whole file (multi-threaded; holds it all).
- pyarrow_stream: `pyarrow.csv.open_csv`, record batches, a full pass (bounded memory).
- pyarrow_stream_pandas: the same, each batch converted to a pandas DataFrame.
- pyarrow_stream_arrow_dtypes: the same, converted with Arrow-backed dtypes (no copy to
  NumPy/objects): the candidate for a faster bounded-memory `iter_chunks`.
- charter_iter_chunks: `catalog.sources.FileSource.iter_chunks()` a full pass, what audits use.

"Fastest parse" is the fastest of the first three: the floor any audit of the file pays.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

from bench.common import (
    RESULTS,
    Figure,
    Scale,
    at_most,
    bench_data_dir,
    bench_env,
    log,
    own_peak_rss_mib,
    peak_rss_of,
)

READERS = [
    "pandas_chunks",
    "pyarrow_read",
    "pyarrow_stream",
    "pyarrow_stream_pandas",
    "pyarrow_stream_arrow_dtypes",
    "charter_iter_chunks",
]
PARSERS = ("pandas_chunks", "pyarrow_read", "pyarrow_stream")
CHUNK = 200_000


def _child(reader: str, path: str) -> None:
    """Run one reader over `path` (in a fresh process) and print seconds, rows and peak RSS."""
    start = time.perf_counter()
    rows = 0
    if reader == "pandas_chunks":
        import pandas as pd

        for chunk in pd.read_csv(path, chunksize=CHUNK, low_memory=False):
            rows += len(chunk)
    elif reader == "pyarrow_read":
        import pyarrow.csv as pacsv

        rows = pacsv.read_csv(path).num_rows
    elif reader.startswith("pyarrow_stream"):
        import pandas as pd
        import pyarrow.csv as pacsv

        opts = pacsv.ReadOptions(block_size=16 << 20)
        for batch in pacsv.open_csv(path, read_options=opts):
            rows += batch.num_rows
            if reader == "pyarrow_stream_pandas":
                batch.to_pandas()
            elif reader == "pyarrow_stream_arrow_dtypes":
                batch.to_pandas(types_mapper=pd.ArrowDtype)
    elif reader == "charter_iter_chunks":
        import django

        django.setup()
        from catalog.sources import source_for_file

        start = time.perf_counter()  # Django start-up is not the reader's cost
        for chunk in source_for_file(path).iter_chunks(chunksize=CHUNK):
            rows += len(chunk)
    else:
        raise SystemExit(f"unknown reader {reader}")
    seconds = time.perf_counter() - start
    peak = own_peak_rss_mib()
    print(json.dumps({"reader": reader, "seconds": seconds, "rows": rows, "peak_rss_mib": peak}))


def measure(reader: str, path: str, repeats: int) -> dict:
    """Median seconds and max peak memory of `reader` over `repeats` fresh processes."""
    code = f"from bench.files_bench import _child; _child({reader!r}, {path!r})"
    runs = [peak_rss_of(code, env=bench_env()) for _ in range(repeats)]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "rows": runs[0]["rows"],
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "runs": [round(r["seconds"], 3) for r in runs],
    }


def run(scale: Scale) -> list[Figure]:
    from bench.datagen import csv_file

    start = time.perf_counter()
    path = csv_file(bench_data_dir(), scale.csv_rows)
    size_mb = path.stat().st_size / 1e6
    log(f"files: {path.name} {size_mb:.0f} MB ready in {time.perf_counter() - start:.1f} s")
    # Warm the page cache (the figures are for a warm cache), then time each reader.
    with path.open("rb") as fh:
        while fh.read(1 << 24):
            pass
    # Three fresh processes per reader at small scale; one at full scale, where a pass of pandas
    # over 1 GB takes minutes on the shared machine (BENCH_FILE_REPEATS to change).
    repeats = int(os.environ.get("BENCH_FILE_REPEATS") or {"small": 3}.get(scale.name, 1))
    found = {}
    for reader in READERS:
        found[reader] = measure(reader, str(path), repeats)
        log(f"files: {reader} {found[reader]}")
    fastest = min(PARSERS, key=lambda r: found[r]["seconds"])
    floor = found[fastest]["seconds"]
    RESULTS["files.parse_fastest"] = floor
    per_gb = 1000 / size_mb
    figures = [
        Figure(
            name="files.parse_fastest",
            value=round(floor, 3),
            unit="s",
            target="baseline (fastest reader)",
            passed=None,
            group="files",
            notes=f"{fastest} on {size_mb:.0f} MB / {found[fastest]['rows']:,} rows "
            f"({floor * per_gb:.1f} s per GB)",
            extra={"reader": fastest, "size_mb": size_mb},
        )
    ]
    for reader in READERS:
        info = found[reader]
        figures.append(
            Figure(
                name=f"files.{reader}",
                value=round(info["seconds"], 3),
                unit="s",
                target="info" if reader != "charter_iter_chunks" else "<= 1024 MiB peak",
                passed=None
                if reader != "charter_iter_chunks"
                else bool(at_most(info["peak_rss_mib"], 1024)),
                baseline=round(floor, 3),
                baseline_name=f"files.parse_fastest ({fastest})",
                ratio=round(info["seconds"] / floor, 2),
                group="files",
                notes=f"peak {info['peak_rss_mib']:.0f} MiB; runs {info['runs']}",
                extra=info,
            )
        )
    return figures


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
