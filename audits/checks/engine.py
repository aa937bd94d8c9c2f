"""Run a list of checks over one source: one chunked pass for files, pushed-down SQL for tables.

The engine is pure (no Django models): callers give it the source reader, the validated specs
and a CheckContext, and get back one result per spec, in order. `on_progress(percent)` is
called between chunks so a run can show progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from audits.checks.drift import DistributionDriftCheck
from audits.checks.fairness import FairnessCheck
from audits.checks.privacy import PiiScanCheck, RetentionCheck
from audits.checks.quality import (
    Accumulator,
    AllowedValuesCheck,
    CheckContext,
    FreshnessCheck,
    NotNullCheck,
    RangeCheck,
    RegexCheck,
    RowCountCheck,
    SchemaDriftCheck,
    UniqueCheck,
    column_missing_result,
)

DATA_CHECKS: dict[str, type[Accumulator]] = {
    "not_null": NotNullCheck,
    "unique": UniqueCheck,
    "range": RangeCheck,
    "allowed_values": AllowedValuesCheck,
    "regex": RegexCheck,
    "row_count": RowCountCheck,
    "freshness": FreshnessCheck,
    "schema_drift": SchemaDriftCheck,
    "distribution_drift": DistributionDriftCheck,
    "fairness": FairnessCheck,
    "pii_scan": PiiScanCheck,
    "retention": RetentionCheck,
}
CHUNK_ROWS = 100_000

Progress = Callable[[int], None]


def _plan(
    specs: list[dict[str, Any]], ctx: CheckContext
) -> tuple[dict[int, Accumulator], dict[int, dict[str, Any]]]:
    """Accumulators for the checks that can run, and ready results for those that can't."""
    available = [c["name"] for c in ctx.columns]
    runnable: dict[int, Accumulator] = {}
    ready: dict[int, dict[str, Any]] = {}
    for index, spec in enumerate(specs):
        accumulator = DATA_CHECKS[spec["kind"]](spec, ctx, index)
        missing = [c for c in accumulator.columns if c not in available]
        if missing:
            ready[index] = column_missing_result(spec, missing, available)
        else:
            runnable[index] = accumulator
    return runnable, ready


class CheckPass:
    """The checks of one run, fed chunk by chunk by whoever reads the data.

    `run_on_chunks` drives it over a reader; an audit of a changed file feeds it the profile's
    chunks instead (one parse for both). Checks read the context only when they finish, except
    drift's reference and retention's period, so the context's schema, masks and facts may be
    filled in after the chunks, once the version they belong to is recorded.
    """

    def __init__(self, specs: list[dict[str, Any]], ctx: CheckContext) -> None:
        self.specs = specs
        self.ctx = ctx
        self.runnable, self.ready = _plan(specs, ctx)
        self.rows = 0

    def feed(self, chunk: Any) -> None:
        for accumulator in self.runnable.values():
            accumulator.update(chunk)
        self.rows += len(chunk)

    def results(self) -> list[dict[str, Any]]:
        results = dict(self.ready)
        for index, accumulator in self.runnable.items():
            results[index] = accumulator.finish()
        return [results[i] for i in range(len(self.specs))]


def run_on_chunks(
    chunks: Iterable[Any],
    specs: list[dict[str, Any]],
    ctx: CheckContext,
    *,
    total_rows: int | None = None,
    on_progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Feed every chunk to every check once; finish each check into its result."""
    checks = CheckPass(specs, ctx)
    for chunk in chunks:
        checks.feed(chunk)
        if on_progress and total_rows:
            on_progress(min(99, int(checks.rows * 100 / total_rows)))
    return checks.results()


def needed_columns(specs: list[dict[str, Any]], ctx: CheckContext) -> list[str]:
    """The union of columns the runnable checks read, in the source's order (read no more)."""
    runnable, _ = _plan(specs, ctx)
    wanted = {c for a in runnable.values() for c in a.columns}
    return [c["name"] for c in ctx.columns if c["name"] in wanted]


def run_on_source(
    source: Any,
    specs: list[dict[str, Any]],
    ctx: CheckContext,
    *,
    total_rows: int | None = None,
    on_progress: Progress | None = None,
    chunksize: int = CHUNK_ROWS,
) -> list[dict[str, Any]]:
    """One chunked pass over a file source, reading only the columns the checks need."""
    columns = needed_columns(specs, ctx)
    if not columns:
        columns = [ctx.columns[0]["name"]] if ctx.columns else None  # still count the rows
    chunks = source.iter_chunks(columns=columns, chunksize=chunksize)
    return run_on_chunks(chunks, specs, ctx, total_rows=total_rows, on_progress=on_progress)
