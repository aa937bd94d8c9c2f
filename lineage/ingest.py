"""OpenLineage events in: accepting them at POST /api/v1/lineage and applying them to the graph.

Accepting is cheap and constant: validate, INSERT the raw event, wake a worker after commit
(lineage/ingest_wake.py: one task per burst, not one per event). The dedupe key is unique, so a
redelivery is caught by the INSERT itself (ON CONFLICT DO NOTHING), not by a SELECT before it.

Applying happens in batches. A worker claims up to BATCH_SIZE pending events with
`SELECT ... FOR UPDATE SKIP LOCKED` (oldest first), applies them and marks them processed in the
same transaction: two workers, a retry and the sweeper never apply an event twice. A batch reads
what its events name once, in a constant number of queries: runs, jobs, datasets by OpenLineage
name, and each poster's rights on those datasets only (asked of access/policies.py). Then each
event costs about three queries: its run, and its job's edges read and written.

If the broker was down when an event was accepted, its task was never sent: the beat-scheduled
`lineage_events_sweep_task` applies events still pending SWEEP_AFTER_SECONDS after receipt.
"""

import contextlib
import functools
import hashlib
import logging
import os
import random
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    OperationalError,
    connections,
    transaction,
)
from django.db.models import Q
from django.utils import timezone

from access.policies import can_register_model_version
from catalog.models import Column, Dataset, DatasetVersion
from catalog.services import dataset_search_refresh
from ledger.services import ledger_record
from lineage.ingest_batch import EventBatch
from lineage.ingest_wake import worker_wake
from lineage.models import (
    ColumnLineageEdge,
    DatasetRef,
    EdgeKind,
    ExternalQualityResult,
    Job,
    LineageEdge,
    LineageEvent,
    ModelVersion,
    NodeKind,
    Run,
    RunState,
)
from lineage.openlineage import DatasetSpec, ParsedEvent, decode_body, parse_event
from lineage.services import edge_new, edges_upsert, model_version_register

logger = logging.getLogger(__name__)

TERMINAL_STATES = {RunState.COMPLETE, RunState.ABORT, RunState.FAIL}
MODEL_FACET = "charter_modelVersion"
MODEL_DATA_FACET = "charter_modelData"
BATCH_SIZE = 200  # events per transaction: amortises the reads, keeps row locks short
DRAIN_SECONDS = 60  # one task stops draining after this; the next task or the sweeper goes on
# a pending event this old lost its task (broker down at accept, message lost)
TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
SWEEP_AFTER_SECONDS = int(os.environ.get("CHARTER_LINEAGE_SWEEP_SECONDS", "30"))


# --- accepting -------------------------------------------------------------------------------


def lineage_event_receive(
    *, body: bytes, content_encoding: str, user: AbstractBaseUser | None
) -> tuple[LineageEvent, bool]:
    """Validate and store one raw event, then wake a worker after commit; a redelivery is a
    no-op. One INSERT (the unique dedupe key refuses a redelivery) and no permission work: what
    the poster may see is checked when the event is applied.

    Raises `lineage.openlineage.EventError` (nothing stored) when the body is not a valid event.
    Returns (event, created).
    """
    parsed = parse_event(decode_body(body, content_encoding))
    poster = user.pk if user is not None and user.is_authenticated else None
    return lineage_event_store(parsed, submitted_by_id=poster)


def lineage_event_store(
    parsed: ParsedEvent, *, submitted_by_id: int | None
) -> tuple[LineageEvent, bool]:
    """Store a validated event (durably: committed before the caller answers, or with the
    caller's transaction) and wake a worker; (the first copy, False) for a redelivery."""
    event = LineageEvent(
        dedupe_key=parsed.dedupe_key,
        event_type=parsed.event_type,
        event_kind=parsed.event_kind,
        event_time=parsed.event_time,
        producer=parsed.producer[:1000],
        run_id=parsed.run_id,
        payload=parsed.payload,
        submitted_by_id=submitted_by_id,
    )
    pk = _insert(event)
    if pk is None:  # a redelivery: the first copy holds the dedupe key
        return LineageEvent.objects.get(dedupe_key=parsed.dedupe_key), False
    event.pk = pk
    event._state.adding = False
    event._state.db = DEFAULT_DB_ALIAS
    worker_wake(pk)
    return event, True


def _insert(event: LineageEvent) -> int | None:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id: the new row's id, or None
    for a redelivery. A refused duplicate raises nothing, so no savepoint is needed inside a
    transaction, and outside one the INSERT is autocommitted: one round trip. Values are
    prepared by the model's own fields (defaults, auto_now_add, JSON adaptation), without the
    ORM's per-save query building, which cost more than the INSERT itself."""
    connection = connections[DEFAULT_DB_ALIAS]
    fields, sql = _insert_statement(connection.vendor)
    params = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


@functools.cache
def _insert_statement(vendor: str) -> tuple[list, str]:
    meta = LineageEvent._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    ops = connections[DEFAULT_DB_ALIAS].ops
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    key = ops.quote_name(meta.get_field("dedupe_key").column)
    # names come from model metadata; values are parameters
    sql = (
        f"INSERT INTO {ops.quote_name(meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {ops.quote_name(meta.pk.column)}"
    )
    return fields, sql


# --- claiming and batches --------------------------------------------------------------------


def _claim(query: Q, limit: int) -> list[LineageEvent]:
    """Lock up to `limit` events matching `query`, oldest first, skipping those another worker
    holds; the caller's transaction marks them done before it releases them."""
    return list(
        LineageEvent.objects.select_for_update(skip_locked=True)
        .filter(query)
        .order_by("pk")[:limit]
    )


def lineage_event_process(*, event_id: int) -> LineageEvent | None:
    """Apply one stored event now (pending, or failed before); None if it is done or held by a
    worker. A failure marks it failed with the reason, then re-raises."""
    claimable = [LineageEvent.Status.PENDING, LineageEvent.Status.FAILED]
    try:
        with transaction.atomic():
            events = _claim(Q(pk=event_id, status__in=claimable), 1)
            if not events:
                logger.info("lineage event %s already processed or being processed", event_id)
                return None
            event = events[0]
            _event_apply(EventBatch(events), event)
            _mark_processed(event)
            event.save(update_fields=["status", "processed_at", "notes"])
            return event
    except Exception as exc:
        logger.exception("lineage event %s failed", event_id)
        LineageEvent.objects.filter(pk=event_id).update(
            status=LineageEvent.Status.FAILED, notes=[f"processing failed: {exc}"[:1000]]
        )
        raise


def lineage_events_drain(
    *, received_before: datetime | None = None, seconds: float = DRAIN_SECONDS
) -> int:
    """Apply pending events batch by batch until none is left (or `seconds` pass); returns how
    many were applied. `received_before` limits it to events received before then."""
    query = Q(status=LineageEvent.Status.PENDING)
    if received_before is not None:
        query &= Q(received_at__lt=received_before)
    deadline = time.monotonic() + seconds
    done = 0
    while True:
        try:
            claimed = _batch_process(query)
        except OperationalError as exc:
            if not _is_transient(exc) or time.monotonic() > deadline:
                raise
            # the batch was rolled back whole and its events are pending again: take it again
            logger.info("lineage batch rolled back (%s); taking it again", exc)
            time.sleep(random.uniform(0.05, 0.2))  # noqa: S311 - jitter, not a secret
            continue
        done += claimed
        if claimed < BATCH_SIZE or time.monotonic() > deadline:
            return done


def _is_transient(exc: Exception) -> bool:
    """A deadlock or serialisation failure: nothing wrong with the event, only with timing."""
    cause = getattr(exc, "__cause__", None)
    return getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES


def lineage_events_sweep() -> int:
    """Apply events still pending SWEEP_AFTER_SECONDS after receipt: their task was never sent
    (broker down at commit) or was lost. Safe beside normal processing (rows are claimed)."""
    since = timezone.now() - timedelta(seconds=SWEEP_AFTER_SECONDS)
    applied = lineage_events_drain(received_before=since)
    if applied:
        logger.warning("lineage sweep applied %s events whose task was not run", applied)
    return applied


def _batch_process(query: Q) -> int:
    """Claim one batch and apply its events in one savepoint (the fast path). If one fails,
    that savepoint is undone and the batch is applied again one savepoint per event, so only
    the bad event is marked failed, with its reason."""
    with transaction.atomic():
        events = _claim(query, BATCH_SIZE)
        if not events:
            return 0
        batch = EventBatch(events)
        try:
            with transaction.atomic():
                batch.preload()
                for event in _in_lock_order(batch, events):
                    _event_apply(batch, event)
                    _mark_processed(event)
        except Exception as exc:  # noqa: BLE001 - each event's own outcome is recorded below
            if isinstance(exc, OperationalError) and _is_transient(exc):
                raise  # the whole batch is rolled back and taken again
            logger.info(
                "lineage batch of %s: an event failed; applying them one by one", len(events)
            )
            batch.forget()
            for event in _in_lock_order(batch, events):
                event.processed_at = None
                _event_apply_isolated(batch, event)
        LineageEvent.objects.bulk_update(events, ["status", "processed_at", "notes"])
    return len(events)


def _in_lock_order(batch: EventBatch, events: list[LineageEvent]) -> list[LineageEvent]:
    """The batch's events grouped by job, each job's in arrival order. A job's edges are the
    rows events lock; taking jobs in one global order means two workers wait, never deadlock."""
    return sorted(events, key=lambda e: (batch.parsed_event(e).job or ("", ""), e.pk))


def _event_apply_isolated(batch: EventBatch, event: LineageEvent) -> None:
    # A unique-constraint race (another worker created the same job, run or dataset first) is
    # tried once more: the winner's row has committed by the time the INSERT fails.
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                _event_apply(batch, event)
            _mark_processed(event)
            return
        except IntegrityError as exc:
            batch.forget()
            if attempt == 2:
                _mark_failed(event, exc)
        except OperationalError as exc:
            if _is_transient(exc):
                raise  # the whole batch is rolled back and taken again
            batch.forget()
            _mark_failed(event, exc)
            return
        except Exception as exc:  # noqa: BLE001 - recorded on the event; the batch goes on
            batch.forget()
            _mark_failed(event, exc)
            return


def _mark_processed(event: LineageEvent) -> None:
    event.status, event.processed_at = LineageEvent.Status.PROCESSED, timezone.now()


def _mark_failed(event: LineageEvent, exc: Exception) -> None:
    logger.error("lineage event %s failed: %s", event.pk, exc, exc_info=exc)
    event.status = LineageEvent.Status.FAILED
    event.notes = [f"processing failed: {exc}"[:1000]]


# --- applying one event ----------------------------------------------------------------------


class _Context:
    """One event's processing: its batch, its poster's rights, notes for the record."""

    def __init__(self, batch: EventBatch, event: LineageEvent) -> None:
        self.batch = batch
        self.event = event
        self.user = batch.users.get(event.submitted_by_id) if event.submitted_by_id else None
        self.notes: list[str] = []

    def visible(self, datasets: list[Dataset]) -> set[int]:
        if self.user is None:  # an event stored without a poster (demo, internal) sees all
            return {d.pk for d in datasets}
        return self.batch.allowed(self.user, "view", datasets)

    def can_view(self, dataset: Dataset) -> bool:
        return dataset.pk in self.visible([dataset])

    def can_change(self, dataset: Dataset) -> bool:
        if dataset.status == Dataset.Status.DISCOVERED and dataset.source_kind == "external":
            return self.can_view(dataset)
        if self.user is None:
            return True
        return dataset.pk in self.batch.allowed(self.user, "change", [dataset])


def _event_apply(batch: EventBatch, event: LineageEvent) -> None:
    """Apply a claimed event to the graph and the catalog:

    1. Upsert the job and the run (state is the latest by eventTime).
    2. Map inputs and outputs to catalog datasets (discovering unknown ones), skipping any the
       poster may not see (noted, never revealed).
    3. Write read/wrote edges; a COMPLETE run or a JobEvent closes the job's edges it no longer has.
    4. Apply facets: schema -> columns, columnLineage -> column edges, quality -> results,
       version -> exact dataset versions, charter_modelVersion -> a registered model version.
    """
    parsed = batch.parsed_event(event)
    ctx = _Context(batch, event)
    if parsed.event_type == "DatasetEvent":
        assert parsed.dataset is not None
        dataset = _datasets_for_specs(ctx, [parsed.dataset])[0]
        if dataset is not None:
            _apply_dataset_facets(ctx, dataset, parsed.dataset, run=None)
    else:
        _process_job_event(ctx, parsed)
    event.notes = ctx.notes


def _process_job_event(ctx: _Context, parsed: ParsedEvent) -> None:
    assert parsed.job is not None
    job = _job_upsert(
        ctx.batch, namespace=parsed.job[0], name=parsed.job[1], payload=parsed.payload
    )
    run = (
        _run_upsert(ctx.batch, job=job, parsed=parsed) if parsed.event_type == "RunEvent" else None
    )
    found = _datasets_for_specs(ctx, parsed.inputs + parsed.outputs)
    pairs = list(zip(parsed.inputs + parsed.outputs, found, strict=True))
    inputs = [(s, d) for s, d in pairs[: len(parsed.inputs)] if d is not None]
    outputs = [(s, d) for s, d in pairs[len(parsed.inputs) :] if d is not None]
    versions = {d.pk: _dataset_version_for(ctx, d, s) for s, d in inputs + outputs}
    wanted = [
        (NodeKind.DATASET, d.pk, NodeKind.JOB, job.pk, EdgeKind.READ, versions[d.pk])
        for _, d in inputs
    ] + [
        (NodeKind.JOB, job.pk, NodeKind.DATASET, d.pk, EdgeKind.WROTE, versions[d.pk])
        for _, d in outputs
    ]
    now = parsed.event_time
    closes = parsed.event_type == "JobEvent" or parsed.event_kind == RunState.COMPLETE
    _job_edges_sync(
        ctx.batch, job=job, wanted=wanted, run=run, at=now, close_others=closes and bool(pairs)
    )
    for spec, dataset in inputs + outputs:
        _apply_dataset_facets(ctx, dataset, spec, run=run)
    for spec, dataset in outputs:
        _apply_column_lineage(ctx, dataset, spec, job=job, at=now)
    model_facet = (parsed.payload.get("run") or {}).get("facets", {}).get(MODEL_FACET)
    if run is not None and model_facet and parsed.event_kind == RunState.COMPLETE:
        _register_model_from_event(ctx, run, job, model_facet, inputs, versions)


def _job_upsert(batch: EventBatch, *, namespace: str, name: str, payload: dict[str, Any]) -> Job:
    key = (namespace[:500], name[:500])
    job = batch.jobs.get(key)
    if job is None:
        job, _ = Job.objects.get_or_create(namespace=key[0], name=key[1])
        batch.jobs[key] = job
    facets = (payload.get("job") or {}).get("facets") or {}
    if facets:
        job.facets = {**job.facets, **facets}
        doc = facets.get("documentation") or {}
        if isinstance(doc.get("description"), str):
            job.description = doc["description"]
        job.save(update_fields=["facets", "description", "updated_at"])
    return job


def _run_upsert(batch: EventBatch, *, job: Job, parsed: ParsedEvent) -> Run:
    """The run, locked, with this event's state folded in: one INSERT or UPDATE when the batch
    has read its runs (a concurrent INSERT of the same runId fails the unique key, and the event
    is tried again)."""
    run_facets = (parsed.payload.get("run") or {}).get("facets") or {}
    if parsed.run_id in batch.runs:
        run = batch.runs[parsed.run_id]
    else:
        run = Run.objects.select_for_update().filter(run_id=parsed.run_id).first()
    if run is None:
        run = Run(run_id=parsed.run_id, job=job)
    run.facets = {**run.facets, **run_facets}
    parent = (run_facets.get("parent") or {}).get("run") or {}
    if parent.get("runId"):
        # a malformed parent facet is kept verbatim in facets; only the link is skipped
        with contextlib.suppress(ValueError):
            run.parent_run_id = uuid.UUID(str(parent["runId"]))
    kind = parsed.event_kind or RunState.OTHER
    if run.state_at is None or parsed.event_time >= run.state_at:
        run.state, run.state_at = kind, parsed.event_time
    if kind == RunState.START and (run.started_at is None or parsed.event_time < run.started_at):
        run.started_at = parsed.event_time
    if kind in TERMINAL_STATES:
        run.ended_at = parsed.event_time
    run.save()
    batch.runs[parsed.run_id] = run
    return run


def _job_open_edges(batch: EventBatch, job: Job) -> dict[tuple, tuple[int, datetime]]:
    """The job's open read/wrote edges, key -> (pk, created_at): read once per batch, then kept
    up to date by the batch's own writes."""
    if job.pk not in batch.job_edges:
        rows = LineageEdge.objects.filter(
            Q(src_kind=NodeKind.JOB, src_id=job.pk) | Q(dst_kind=NodeKind.JOB, dst_id=job.pk),
            kind__in=[EdgeKind.READ, EdgeKind.WROTE],
            valid_to__isnull=True,
        ).values_list("src_kind", "src_id", "dst_kind", "dst_id", "kind", "pk", "created_at")
        batch.job_edges[job.pk] = {tuple(r[:5]): (r[5], r[6]) for r in rows}
    return batch.job_edges[job.pk]


def _job_edges_sync(
    batch: EventBatch,
    *,
    job: Job,
    wanted: list[tuple],
    run: Run | None,
    at: datetime,
    close_others: bool,
) -> None:
    """Open (or refresh) the job's read/wrote edges this event names and, when it states the
    job's complete inputs and outputs (`close_others`), close its other open edges older than
    the event. One INSERT and one UPDATE at most, plus one SELECT for a job's first event in
    the batch."""
    by_key = {(e[0], e[1], e[2], e[3], e[4]): e[5] for e in wanted}
    known = _job_open_edges(batch, job)
    others = dict(known)
    new, refreshed, stale = [], {}, []
    for key, version in by_key.items():
        found = others.pop(key, None)
        if found is None:
            new.append(edge_new(key, version, run=run, at=at))
            continue
        refreshed.setdefault(version, []).append(found[0])
    if close_others:  # open, but not named by this event
        stale = [key for key, (_, created_at) in others.items() if created_at <= at]
    LineageEdge.objects.bulk_create(new)
    for edge in new:
        key = (edge.src_kind, edge.src_id, edge.dst_kind, edge.dst_id, edge.kind)
        known[key] = (edge.pk, edge.created_at)
    if any(edge.pk is None for edge in new):  # a database that does not return ids
        del batch.job_edges[job.pk]
    for version, ids in refreshed.items():  # one UPDATE, or one per version the event names
        _edges_seen(ids, at=at, run=run, version=version)
    if stale:
        LineageEdge.objects.filter(pk__in=[known.pop(key)[0] for key in stale]).update(valid_to=at)


def _edges_seen(
    ids: list[int], *, at: datetime, run: Run | None, version: DatasetVersion | None
) -> None:
    """Edges `ids` seen again `at`, by `run` (if any), with dataset version `version` (if any):
    one UPDATE from a statement text built once per vendor and number of ids. The queryset
    UPDATE it replaces (a GREATEST expression, model instances as values) was compiled anew for
    every event: 1.05 against 0.42 ms of worker CPU per UPDATE."""
    connection = connections[DEFAULT_DB_ALIAS]
    params = [
        connection.ops.adapt_datetimefield_value(at),
        run.pk if run is not None else None,
        version.pk if version is not None else None,
        *ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_edges_seen_sql(connection.vendor, len(ids)), params)


@functools.lru_cache(maxsize=64)
def _edges_seen_sql(vendor: str, count: int) -> str:
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    table, greatest = qn(LineageEdge._meta.db_table), "MAX" if vendor == "sqlite" else "GREATEST"
    seen, run, version = (
        qn(LineageEdge._meta.get_field(name).column)
        for name in ("last_seen_at", "last_run", "dataset_version")
    )
    ids = ", ".join(["%s"] * count)
    return (
        f"UPDATE {table} SET {seen} = {greatest}({seen}, %s), "  # noqa: S608 - names are ours
        f"{run} = COALESCE(%s, {run}), {version} = COALESCE(%s, {version}) "
        f"WHERE {qn(LineageEdge._meta.pk.column)} IN ({ids})"
    )


# --- datasets named by events ----------------------------------------------------------------


def _dataset_slug(namespace: str, name: str) -> str:
    base = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-._") or "dataset"
    base = base[-80:].lstrip("-._") or "dataset"
    if Dataset.objects.filter(name=base).exists():
        digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:8]
        base = f"{base[:88]}-{digest}"
    return base


def lineage_dataset_discover(
    *, namespace: str, name: str, actor: AbstractBaseUser | None
) -> Dataset:
    """Create a catalog dataset for an unknown OpenLineage dataset: status discovered, source
    external, for a steward to adopt; record it in the ledger."""
    dataset = Dataset.objects.create(
        name=_dataset_slug(namespace, name),
        title=name[-200:],
        description=f"Discovered from OpenLineage: namespace `{namespace}`, name `{name}`.",
        source_kind=Dataset.SourceKind.EXTERNAL,
        location=f"{namespace}/{name}"[:1000],
        status=Dataset.Status.DISCOVERED,
        # Charter has no reader for an external dataset: nothing will profile it, so it must
        # not sit "waiting to be profiled" (the page would poll and refresh for ever).
        profile_status=Dataset.ProfileStatus.READY,
        profile_progress=100,
        created_by=actor,
    )
    dataset_search_refresh(dataset=dataset)
    ledger_record(
        actor=actor,
        action="dataset.discovered",
        target=dataset,
        data={"namespace": namespace, "name": name, "via": "openlineage"},
    )
    return dataset


def _datasets_for_specs(ctx: _Context, specs: list[DatasetSpec]) -> list[Dataset | None]:
    """The catalog datasets an event names, in order; None for one the poster may not see.

    Known names are read in one indexed query on (namespace, name) and kept for the batch; the
    poster's rights are asked for these datasets only, in one query.
    """
    batch = ctx.batch
    keys = [(s.namespace, s.name) for s in specs]
    batch.load_datasets(set(keys))
    found = [
        batch.datasets.get(k) or _dataset_unreferenced(ctx, s)
        for k, s in zip(keys, specs, strict=True)
    ]
    visible = ctx.visible([d for d in found if d is not None])
    out: list[Dataset | None] = []
    for spec, dataset in zip(specs, found, strict=True):
        if dataset is not None and dataset.pk not in visible:
            ctx.notes.append(f"skipped {spec.namespace}/{spec.name}: not visible to the poster")
            dataset = None
        out.append(dataset)
    return out


def _dataset_unreferenced(ctx: _Context, spec: DatasetSpec) -> Dataset | None:
    """A name no DatasetRef holds yet: match a catalog dataset by location or name, else
    discover one. The name is bound to the dataset only if the poster may see it."""
    dataset = ctx.batch.match(spec)
    if dataset is None:
        dataset = lineage_dataset_discover(namespace=spec.namespace, name=spec.name, actor=ctx.user)
        ctx.batch.remember(dataset)
        if ctx.user is not None:  # whoever discovers a dataset sees it
            ctx.batch.rights[(ctx.user.pk, "view", dataset.pk)] = True
    if not ctx.can_view(dataset):
        return dataset  # the caller notes the skip; no name is bound to a dataset kept from them
    ref, _ = DatasetRef.objects.get_or_create(
        namespace=spec.namespace[:500], name=spec.name[:1000], defaults={"dataset": dataset}
    )
    ctx.batch.datasets[(spec.namespace, spec.name)] = ref.dataset
    return ref.dataset


def _dataset_for_spec(ctx: _Context, spec: DatasetSpec) -> Dataset | None:
    return _datasets_for_specs(ctx, [spec])[0]


def _dataset_version_for(
    ctx: _Context, dataset: Dataset, spec: DatasetSpec
) -> DatasetVersion | None:
    """Resolve the `version` facet (a fingerprint or a version number) to a catalog version."""
    value = str((spec.facets.get("version") or {}).get("datasetVersion") or "").strip()
    if not value:
        return None
    query = Q(fingerprint=value)
    if value.isdigit():
        query |= Q(number=int(value))
    version = DatasetVersion.objects.filter(query, dataset=dataset).order_by("-number").first()
    if version is None:
        ctx.notes.append(f"{dataset.name}: version {value!r} is not a known version")
    return version


# --- facets ----------------------------------------------------------------------------------


def _all_facets(spec: DatasetSpec) -> dict[str, Any]:
    return {**spec.facets, **spec.input_facets, **spec.output_facets}


def _apply_dataset_facets(
    ctx: _Context, dataset: Dataset, spec: DatasetSpec, *, run: Run | None
) -> None:
    facets = _all_facets(spec)
    schema = facets.get("schema")
    if isinstance(schema, dict) and isinstance(schema.get("fields"), list):
        if ctx.can_change(dataset):
            _columns_from_schema(dataset=dataset, fields=schema["fields"], actor=ctx.user)
        else:
            ctx.notes.append(f"{dataset.name}: schema facet not applied (poster may not change it)")
    _quality_from_facets(ctx, dataset, facets, run=run)


def _columns_from_schema(*, dataset: Dataset, fields: list, actor: AbstractBaseUser | None) -> None:
    """Create or retype columns named by a `schema` facet (columns are never dropped by lineage)."""
    existing = {c.name: c for c in dataset.columns.all()}
    next_pos = max((c.position for c in existing.values()), default=-1) + 1
    added, retyped, changed = [], [], []
    for item in fields:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name, dtype = item["name"][:200], str(item.get("type") or "")[:100]
        column = existing.get(name)
        if column is None:
            column = Column(
                dataset=dataset,
                name=name,
                position=next_pos,
                data_type=dtype,
                description=str(item.get("description") or ""),
            )
            next_pos += 1
            existing[name] = column
            added.append(column)
        elif dtype and column.data_type != dtype:
            column.data_type = dtype
            retyped.append(name)
            changed.append(column)
    Column.objects.bulk_create(added)
    if changed:
        Column.objects.bulk_update(changed, ["data_type"])
    if added or retyped:
        dataset_search_refresh(dataset=dataset)
        ledger_record(
            actor=actor,
            action="dataset.columns_from_lineage",
            target=dataset,
            data={"added": [c.name for c in added], "retyped": retyped},
        )


def _quality_from_facets(
    ctx: _Context, dataset: Dataset, facets: dict[str, Any], *, run: Run | None
) -> None:
    rows = []
    observed = ctx.event.event_time
    assertions = (facets.get("dataQualityAssertions") or {}).get("assertions") or []
    for item in assertions if isinstance(assertions, list) else []:
        if not isinstance(item, dict):
            continue
        rows.append(
            ExternalQualityResult(
                dataset=dataset,
                event=ctx.event,
                run=run,
                kind=ExternalQualityResult.Kind.ASSERTION,
                assertion=str(item.get("assertion") or "")[:300],
                column=str(item.get("column") or "")[:200],
                success=item.get("success") if isinstance(item.get("success"), bool) else None,
                metrics={
                    k: v for k, v in item.items() if k not in ("assertion", "column", "success")
                },
                producer=ctx.event.producer,
                observed_at=observed,
            )
        )
    metrics = facets.get("dataQualityMetrics")
    if isinstance(metrics, dict) and metrics:
        clean = {k: v for k, v in metrics.items() if not k.startswith("_")}
        rows.append(
            ExternalQualityResult(
                dataset=dataset,
                event=ctx.event,
                run=run,
                kind=ExternalQualityResult.Kind.METRICS,
                metrics=clean,
                producer=ctx.event.producer,
                observed_at=observed,
            )
        )
    if rows and run is not None:  # a run's later event restates its results: replace, not add
        kinds = {r.kind for r in rows}
        ExternalQualityResult.objects.filter(run=run, dataset=dataset, kind__in=kinds).delete()
    ExternalQualityResult.objects.bulk_create(rows)


def _apply_column_lineage(
    ctx: _Context, dataset: Dataset, spec: DatasetSpec, *, job: Job, at: datetime
) -> None:
    facet = _all_facets(spec).get("columnLineage") or {}
    fields = facet.get("fields") if isinstance(facet, dict) else None
    if not isinstance(fields, dict):
        return
    wanted: dict[tuple[int, str, int, str], list] = {}
    for out_col, info in fields.items():
        if not isinstance(info, dict):
            continue
        for src in info.get("inputFields") or []:
            if not isinstance(src, dict) or not src.get("field"):
                continue
            if len(str(src.get("namespace", ""))) > 500 or len(str(src.get("name", ""))) > 1000:
                continue
            src_spec = DatasetSpec(
                namespace=str(src.get("namespace", "")), name=str(src.get("name", ""))
            )
            if not src_spec.namespace or not src_spec.name:
                continue
            src_ds = _dataset_for_spec(ctx, src_spec)
            if src_ds is None:
                continue
            key = (src_ds.pk, str(src["field"])[:200], dataset.pk, str(out_col)[:200])
            wanted[key] = src.get("transformations") or info.get("transformationDescription") or []
    if not wanted:
        return
    query = Q()
    for sd, sc, dd, dc in wanted:
        query |= Q(src_dataset_id=sd, src_column=sc, dst_dataset_id=dd, dst_column=dc)
    existing = set(
        ColumnLineageEdge.objects.filter(query, valid_to__isnull=True).values_list(
            "src_dataset_id", "src_column", "dst_dataset_id", "dst_column"
        )
    )
    ColumnLineageEdge.objects.bulk_create(
        [
            ColumnLineageEdge(
                src_dataset_id=k[0],
                src_column=k[1],
                dst_dataset_id=k[2],
                dst_column=k[3],
                job=job,
                transformations=t if isinstance(t, list) else [t],
                created_at=at,
            )
            for k, t in wanted.items()
            if k not in existing
        ]
    )


def _register_model_from_event(
    ctx: _Context,
    run: Run,
    job: Job,
    facet: dict[str, Any],
    inputs: list[tuple[DatasetSpec, Dataset]],
    versions: dict[int, DatasetVersion | None],
) -> None:
    name, version = str(facet.get("model") or ""), str(facet.get("version") or "")
    if ctx.user is not None and not can_register_model_version(ctx.user):
        ctx.notes.append("charter_modelVersion ignored: the poster may not register model versions")
        return
    training, evaluation = [], []
    for spec, dataset in inputs:
        dv = versions.get(dataset.pk) or dataset.current_version
        if dv is None:
            ctx.notes.append(f"{dataset.name}: no version to link to the model version")
            continue
        role = (_all_facets(spec).get(MODEL_DATA_FACET) or {}).get("role")
        (evaluation if role == "evaluation" else training).append(dv)
    if ModelVersion.objects.filter(model__name=name, version=version).exists():
        ctx.notes.append(f"model version {name} {version} already registered; left unchanged")
        return
    try:
        with transaction.atomic():
            mv = model_version_register(
                model_name=name,
                version=version,
                actor=ctx.user,
                description=str(facet.get("description") or ""),
                metrics=facet.get("metrics") if isinstance(facet.get("metrics"), dict) else {},
                artefact_uri=str(facet.get("artefactUri") or ""),
                training=training,
                evaluation=evaluation,
                run=run,
            )
            edges_upsert(
                edges=[(NodeKind.JOB, job.pk, NodeKind.MODEL_VERSION, mv.pk, EdgeKind.WROTE, None)],
                run=run,
                at=ctx.event.event_time,
            )
            ctx.batch.job_edges.pop(job.pk, None)  # the job has an edge the batch did not see
    except ValidationError as exc:
        ctx.notes.append(f"charter_modelVersion not registered: {'; '.join(exc.messages)}")
