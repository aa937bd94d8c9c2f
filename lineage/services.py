"""Every write lineage makes: receiving and processing OpenLineage events, edges, the model
registry,
and Charter's own OpenLineage events for audit runs."""

import contextlib
import json
import logging
import os
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from access.policies import can_register_model_version, datasets_for
from catalog.models import Column, Dataset, DatasetVersion
from catalog.services import dataset_search_refresh
from config.celery import enqueue_on_commit
from ledger.services import ledger_record
from lineage.models import (
    ColumnLineageEdge,
    DatasetRef,
    EdgeKind,
    ExternalQualityResult,
    Job,
    LineageEdge,
    LineageEvent,
    Model,
    ModelVersion,
    ModelVersionData,
    NodeKind,
    Run,
    RunState,
)
from lineage.openlineage import DatasetSpec, ParsedEvent, decode_body, parse_event

logger = logging.getLogger(__name__)

TERMINAL_STATES = {RunState.COMPLETE, RunState.ABORT, RunState.FAIL}
MODEL_FACET = "charter_modelVersion"
MODEL_DATA_FACET = "charter_modelData"
PRODUCER = "https://github.com/charter/charter"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


# --- receiving ------------------------------------------------------------------------------


def lineage_event_receive(
    *, body: bytes, content_encoding: str, user: AbstractBaseUser | None
) -> tuple[LineageEvent, bool]:
    """Validate and store one raw event, then process it after commit; a redelivery is a no-op.

    Raises `lineage.openlineage.EventError` (nothing stored) when the body is not a valid event.
    Returns (event, created).
    """
    parsed = parse_event(decode_body(body, content_encoding))
    existing = LineageEvent.objects.filter(dedupe_key=parsed.dedupe_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            event = LineageEvent.objects.create(
                dedupe_key=parsed.dedupe_key,
                event_type=parsed.event_type,
                event_kind=parsed.event_kind,
                event_time=parsed.event_time,
                producer=parsed.producer[:1000],
                run_id=parsed.run_id,
                payload=parsed.payload,
                submitted_by=user if user is not None and user.is_authenticated else None,
            )
            from lineage.tasks import lineage_ingest_task

            enqueue_on_commit(lineage_ingest_task, event_id=event.pk)
    except IntegrityError:  # a concurrent redelivery won the insert
        return LineageEvent.objects.get(dedupe_key=parsed.dedupe_key), False
    return event, True


# --- processing -----------------------------------------------------------------------------


class _Context:
    """What one event's processing has learned: the poster's rights and notes for the record."""

    def __init__(self, event: LineageEvent) -> None:
        self.event = event
        self.user = event.submitted_by
        self.notes: list[str] = []
        if self.user is None:
            self.visible: set[int] | None = None
            self.changeable: set[int] | None = None
        else:
            self.visible = set(datasets_for(self.user, "view").values_list("pk", flat=True))
            self.changeable = set(datasets_for(self.user, "change").values_list("pk", flat=True))

    def can_view(self, dataset: Dataset) -> bool:
        return self.visible is None or dataset.pk in self.visible

    def can_change(self, dataset: Dataset) -> bool:
        if dataset.status == Dataset.Status.DISCOVERED and dataset.source_kind == "external":
            return self.can_view(dataset)
        return self.changeable is None or dataset.pk in self.changeable


def lineage_event_process(*, event_id: int) -> LineageEvent | None:
    """Apply a stored event; a failure marks it failed with the reason (then re-raises)."""
    try:
        return _lineage_event_apply(event_id=event_id)
    except Exception as exc:
        logger.exception("lineage event %s failed", event_id)
        LineageEvent.objects.filter(pk=event_id).update(
            status=LineageEvent.Status.FAILED, notes=[f"processing failed: {exc}"[:1000]]
        )
        raise


def _lineage_event_apply(*, event_id: int) -> LineageEvent | None:
    """Apply a stored event to the graph and the catalog, once (claimed with a conditional UPDATE).

    1. Claim the event (pending -> processed); a second worker or a retry finds nothing to do.
    2. Upsert the job and the run (state is the latest by eventTime).
    3. Map inputs and outputs to catalog datasets (discovering unknown ones), skipping any the
       poster may not see (noted, never revealed).
    4. Write read/wrote edges; a COMPLETE run or a JobEvent closes the job's edges it no longer has.
    5. Apply facets: schema -> columns, columnLineage -> column edges, quality -> results,
       version -> exact dataset versions, charter_modelVersion -> a registered model version.
    """
    with transaction.atomic():
        # a failed event may be claimed again: the task retries races (two workers discovering
        # the same dataset) and a retry must find work to do
        claimable = [LineageEvent.Status.PENDING, LineageEvent.Status.FAILED]
        claimed = LineageEvent.objects.filter(pk=event_id, status__in=claimable).update(
            status=LineageEvent.Status.PROCESSED, processed_at=timezone.now()
        )
        if not claimed:
            logger.info("lineage event %s already processed or gone", event_id)
            return None
        event = LineageEvent.objects.select_related("submitted_by").get(pk=event_id)
        parsed = parse_event(json.dumps(event.payload).encode())
        ctx = _Context(event)
        if parsed.event_type == "DatasetEvent":
            assert parsed.dataset is not None
            dataset = _dataset_for_spec(ctx, parsed.dataset)
            if dataset is not None:
                _apply_dataset_facets(ctx, dataset, parsed.dataset, run=None)
        else:
            _process_job_event(ctx, parsed)
        event.notes = ctx.notes
        event.save(update_fields=["notes"])
        return event


def _process_job_event(ctx: _Context, parsed: ParsedEvent) -> None:
    assert parsed.job is not None
    job = _job_upsert(namespace=parsed.job[0], name=parsed.job[1], payload=parsed.payload)
    run = _run_upsert(job=job, parsed=parsed) if parsed.event_type == "RunEvent" else None
    inputs = [(spec, _dataset_for_spec(ctx, spec)) for spec in parsed.inputs]
    outputs = [(spec, _dataset_for_spec(ctx, spec)) for spec in parsed.outputs]
    inputs = [(s, d) for s, d in inputs if d is not None]
    outputs = [(s, d) for s, d in outputs if d is not None]
    versions = {d.pk: _dataset_version_for(ctx, d, s) for s, d in inputs + outputs}
    wanted = [
        (NodeKind.DATASET, d.pk, NodeKind.JOB, job.pk, EdgeKind.READ, versions[d.pk])
        for _, d in inputs
    ] + [
        (NodeKind.JOB, job.pk, NodeKind.DATASET, d.pk, EdgeKind.WROTE, versions[d.pk])
        for _, d in outputs
    ]
    now = parsed.event_time
    edges_upsert(edges=wanted, run=run, at=now)
    closes = parsed.event_type == "JobEvent" or parsed.event_kind == RunState.COMPLETE
    if closes and (parsed.inputs or parsed.outputs):
        _edges_close_for_job(job=job, keep=wanted, at=now)
    for spec, dataset in inputs + outputs:
        _apply_dataset_facets(ctx, dataset, spec, run=run)
    for spec, dataset in outputs:
        _apply_column_lineage(ctx, dataset, spec, job=job, at=now)
    model_facet = (parsed.payload.get("run") or {}).get("facets", {}).get(MODEL_FACET)
    if run is not None and model_facet and parsed.event_kind == RunState.COMPLETE:
        _register_model_from_event(ctx, run, job, model_facet, inputs, versions)


def _job_upsert(*, namespace: str, name: str, payload: dict[str, Any]) -> Job:
    job, _ = Job.objects.get_or_create(namespace=namespace[:500], name=name[:500])
    facets = (payload.get("job") or {}).get("facets") or {}
    if facets:
        job.facets = {**job.facets, **facets}
        doc = facets.get("documentation") or {}
        if isinstance(doc.get("description"), str):
            job.description = doc["description"]
        job.save(update_fields=["facets", "description", "updated_at"])
    return job


def _run_upsert(*, job: Job, parsed: ParsedEvent) -> Run:
    run_facets = (parsed.payload.get("run") or {}).get("facets") or {}
    run, _ = Run.objects.select_for_update().get_or_create(
        run_id=parsed.run_id, defaults={"job": job}
    )
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
    return run


def _dataset_slug(namespace: str, name: str) -> str:
    base = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-._") or "dataset"
    base = base[-80:].lstrip("-._") or "dataset"
    if Dataset.objects.filter(name=base).exists():
        import hashlib

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


def _dataset_for_spec(ctx: _Context, spec: DatasetSpec) -> Dataset | None:
    """The catalog dataset an event names, or None when the poster may not see it."""
    ref = (
        DatasetRef.objects.select_related("dataset")
        .filter(namespace=spec.namespace, name=spec.name)
        .first()
    )
    if ref is not None:
        dataset = ref.dataset
    else:
        dataset = (
            Dataset.objects.filter(
                Q(location=spec.name)
                | Q(location=f"{spec.namespace}/{spec.name}")
                | Q(name=spec.name)
            )
            .order_by("pk")
            .first()
        )
        if dataset is None:
            dataset = lineage_dataset_discover(
                namespace=spec.namespace, name=spec.name, actor=ctx.user
            )
            if ctx.visible is not None:
                ctx.visible.add(dataset.pk)
        if not ctx.can_view(dataset):
            ctx.notes.append(f"skipped {spec.namespace}/{spec.name}: not visible to the poster")
            return None
        DatasetRef.objects.get_or_create(
            namespace=spec.namespace[:500], name=spec.name[:1000], defaults={"dataset": dataset}
        )
    if not ctx.can_view(dataset):
        ctx.notes.append(f"skipped {spec.namespace}/{spec.name}: not visible to the poster")
        return None
    return dataset


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


def edges_upsert(
    *,
    edges: Iterable[tuple[str, int, str, int, str, DatasetVersion | None]],
    run: Run | None,
    at: datetime,
) -> int:
    """Open (or refresh) edges (src_kind, src_id, dst_kind, dst_id, kind, version) in two queries
    plus the writes; returns how many were new."""
    wanted = {(e[0], e[1], e[2], e[3], e[4]): e[5] for e in edges}
    if not wanted:
        return 0
    query = Q()
    for sk, si, dk, di, kind in wanted:
        query |= Q(src_kind=sk, src_id=si, dst_kind=dk, dst_id=di, kind=kind)
    existing = {
        (e.src_kind, e.src_id, e.dst_kind, e.dst_id, e.kind): e
        for e in LineageEdge.objects.filter(query, valid_to__isnull=True)
    }
    new, seen = [], []
    for key, version in wanted.items():
        edge = existing.get(key)
        if edge is None:
            new.append(
                LineageEdge(
                    src_kind=key[0],
                    src_id=key[1],
                    dst_kind=key[2],
                    dst_id=key[3],
                    kind=key[4],
                    dataset_version=version,
                    last_run=run,
                    created_at=at,
                    last_seen_at=at,
                )
            )
        else:
            edge.last_seen_at = max(edge.last_seen_at, at)
            edge.last_run = run or edge.last_run
            edge.dataset_version = version or edge.dataset_version
            seen.append(edge)
    LineageEdge.objects.bulk_create(new)
    if seen:
        LineageEdge.objects.bulk_update(seen, ["last_seen_at", "last_run", "dataset_version"])
    return len(new)


def _edges_close_for_job(*, job: Job, keep: list[tuple], at: datetime) -> None:
    keep_keys = {(e[0], e[1], e[2], e[3], e[4]) for e in keep}
    open_edges = LineageEdge.objects.filter(
        Q(src_kind=NodeKind.JOB, src_id=job.pk) | Q(dst_kind=NodeKind.JOB, dst_id=job.pk),
        kind__in=[EdgeKind.READ, EdgeKind.WROTE],
        valid_to__isnull=True,
        created_at__lte=at,
    )
    stale = [
        e.pk
        for e in open_edges
        if (e.src_kind, e.src_id, e.dst_kind, e.dst_id, e.kind) not in keep_keys
    ]
    if stale:
        LineageEdge.objects.filter(pk__in=stale).update(valid_to=at)


def edge_remove(*, edge: LineageEdge, at: datetime | None = None) -> LineageEdge:
    """Close an edge: it stays in the record for "as of" reads but leaves the current graph."""
    if edge.valid_to is None:
        edge.valid_to = at or timezone.now()
        edge.save(update_fields=["valid_to"])
    return edge


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
    except ValidationError as exc:
        ctx.notes.append(f"charter_modelVersion not registered: {'; '.join(exc.messages)}")


# --- discovered datasets: adopt or merge -----------------------------------------------------


@transaction.atomic
def lineage_dataset_adopt(
    *, dataset: Dataset, actor: AbstractBaseUser, owner: AbstractBaseUser | None = None
) -> Dataset:
    """Make a dataset discovered through lineage a governed catalog entry (active, owned)."""
    if dataset.status != Dataset.Status.DISCOVERED:
        raise ValidationError(
            f"Only a discovered dataset can be adopted; {dataset.name} is {dataset.status}."
        )
    dataset.status = Dataset.Status.ACTIVE
    dataset.owner = owner or actor
    dataset.save(update_fields=["status", "owner", "updated_at"])
    ledger_record(
        actor=actor,
        action="dataset.adopted",
        target=dataset,
        data={"owner": dataset.owner.get_username(), "via": "lineage"},
    )
    return dataset


@transaction.atomic
def lineage_dataset_merge(
    *, discovered: Dataset, into: Dataset, actor: AbstractBaseUser
) -> Dataset:
    """Fold a discovered dataset into the catalog dataset it really is: its OpenLineage names,
    edges, column edges and external quality results move over; the discovered entry is
    deprecated as replaced (nothing is deleted)."""
    if discovered.pk == into.pk:
        raise ValidationError("A dataset cannot be merged into itself.")
    if discovered.status != Dataset.Status.DISCOVERED:
        raise ValidationError(f"Only a discovered dataset can be merged; {discovered.name} is not.")
    if discovered.versions.exists():
        raise ValidationError(f"{discovered.name} has versions of its own; adopt it instead.")
    now = timezone.now()
    refs = list(DatasetRef.objects.filter(dataset=discovered).values_list("namespace", "name"))
    DatasetRef.objects.filter(dataset=discovered).update(dataset=into)
    _edges_repoint(old=discovered.pk, new=into.pk, at=now)
    for side in ("src", "dst"):
        for edge in ColumnLineageEdge.objects.filter(**{f"{side}_dataset": discovered}):
            setattr(edge, f"{side}_dataset_id", into.pk)
            clash = ColumnLineageEdge.objects.filter(
                src_dataset_id=edge.src_dataset_id,
                src_column=edge.src_column,
                dst_dataset_id=edge.dst_dataset_id,
                dst_column=edge.dst_column,
                valid_to__isnull=True,
            ).exclude(pk=edge.pk)
            if edge.valid_to is None and clash.exists():
                edge.valid_to = now
            edge.save(update_fields=[f"{side}_dataset", "valid_to"])
    ExternalQualityResult.objects.filter(dataset=discovered).update(dataset=into)
    discovered.status = Dataset.Status.DEPRECATED
    discovered.deprecation_reason = f"Merged into {into.name} (same data, named by lineage)."
    discovered.replaced_by = into
    discovered.save(update_fields=["status", "deprecation_reason", "replaced_by", "updated_at"])
    ledger_record(
        actor=actor,
        action="dataset.merged",
        target=into,
        data={"from": discovered.name, "openlineage_names": [f"{ns}/{n}" for ns, n in refs]},
    )
    return into


def _edges_repoint(*, old: int, new: int, at: datetime) -> None:
    """Move every edge touching dataset `old` to `new`; an open duplicate is closed, not kept."""
    for side in ("src", "dst"):
        edges = LineageEdge.objects.filter(**{f"{side}_kind": NodeKind.DATASET, f"{side}_id": old})
        for edge in edges:
            setattr(edge, f"{side}_id", new)
            clash = LineageEdge.objects.filter(
                src_kind=edge.src_kind,
                src_id=edge.src_id,
                dst_kind=edge.dst_kind,
                dst_id=edge.dst_id,
                kind=edge.kind,
                valid_to__isnull=True,
            ).exclude(pk=edge.pk)
            if edge.valid_to is None and clash.exists():
                edge.valid_to = at
            edge.save(update_fields=[f"{side}_id", "valid_to"])


# --- the model registry ---------------------------------------------------------------------


@transaction.atomic
def model_create(*, name: str, description: str = "", owner: AbstractBaseUser | None) -> Model:
    """Register a model (the container of versions)."""
    model = Model(name=name, description=description, owner=owner)
    model.full_clean()
    model.save()
    ledger_record(actor=owner, action="model.created", target=model, data={"name": name})
    return model


@transaction.atomic
def model_version_register(
    *,
    model_name: str,
    version: str,
    actor: AbstractBaseUser | None,
    description: str = "",
    metrics: dict[str, Any] | None = None,
    artefact_uri: str = "",
    training: list[DatasetVersion],
    evaluation: list[DatasetVersion] | None = None,
    run: Run | None = None,
) -> ModelVersion:
    """Register an immutable model version tied to the exact dataset versions it trained and was
    evaluated on; the model is created on first use. Writes edges and a ledger event."""
    evaluation = evaluation or []
    version = (version or "").strip()
    if not version:
        raise ValidationError({"version": ["A version is required."]})
    if not training:
        raise ValidationError(
            {"training": ["Name at least one dataset version it was trained on."]}
        )
    if metrics is not None and not isinstance(metrics, dict):
        raise ValidationError({"metrics": ["Metrics must be an object of name: value."]})
    model = Model.objects.filter(name=model_name).first() or model_create(
        name=model_name, owner=actor
    )
    if ModelVersion.objects.filter(model=model, version=version).exists():
        raise ValidationError({"version": [f"{model_name} {version} is already registered."]})
    mv = ModelVersion(
        model=model,
        version=version[:100],
        description=description,
        owner=actor,
        metrics=metrics or {},
        artefact_uri=artefact_uri[:1000],
        run=run,
        created_by=actor,
    )
    mv.full_clean(exclude=["model"])
    mv.save()
    links = [(dv, ModelVersionData.Role.TRAINING) for dv in training]
    links += [(dv, ModelVersionData.Role.EVALUATION) for dv in evaluation]
    ModelVersionData.objects.bulk_create(
        [ModelVersionData(model_version=mv, dataset_version=dv, role=role) for dv, role in links],
        ignore_conflicts=True,
    )
    at = timezone.now()
    edges_upsert(
        edges=[
            (
                NodeKind.DATASET,
                dv.dataset_id,
                NodeKind.MODEL_VERSION,
                mv.pk,
                EdgeKind.TRAINED_ON
                if role == ModelVersionData.Role.TRAINING
                else EdgeKind.EVALUATED_ON,
                dv,
            )
            for dv, role in links
        ],
        run=run,
        at=at,
    )
    ledger_record(
        actor=actor,
        action="model_version.registered",
        target=mv,
        data={
            "model": model.name,
            "version": mv.version,
            "training": [
                {"dataset_version_id": dv.pk, "fingerprint": dv.fingerprint} for dv in training
            ],
            "evaluation": [
                {"dataset_version_id": dv.pk, "fingerprint": dv.fingerprint} for dv in evaluation
            ],
        },
    )
    return mv


# --- Charter as an OpenLineage producer ------------------------------------------------------


def openlineage_url() -> str:
    """Where Charter sends its own events: setting or env CHARTER_OPENLINEAGE_URL; empty = off."""
    default = os.environ.get("CHARTER_OPENLINEAGE_URL", "")
    return str(getattr(settings, "CHARTER_OPENLINEAGE_URL", default) or "")


def openlineage_quality_event(
    *,
    dataset: Dataset,
    dataset_version: DatasetVersion | None,
    run_id: str,
    job_name: str,
    state: str,
    started_at: datetime,
    ended_at: datetime | None,
    assertions: list[dict[str, Any]],
) -> dict[str, Any]:
    """Build the RunEvent that reports an audit run's checks as `dataQualityAssertions`."""
    ref = dataset.lineage_refs.order_by("pk").first()
    namespace, name = (ref.namespace, ref.name) if ref else ("charter", dataset.name)
    input_ds: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "inputFacets": {
            "dataQualityAssertions": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet",
                "assertions": [
                    {k: a[k] for k in ("assertion", "success", "column", "severity") if k in a}
                    for a in assertions
                ],
            }
        },
    }
    if dataset_version is not None:
        input_ds["facets"] = {
            "version": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
                "datasetVersion": dataset_version.fingerprint,
            }
        }
    return {
        "eventType": state,
        "eventTime": (ended_at or started_at).isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "charter", "name": job_name, "facets": {}},
        "inputs": [input_ds],
        "outputs": [],
    }


def openlineage_emit_quality_run(
    *,
    dataset: Dataset,
    dataset_version: DatasetVersion | None,
    run_id: str,
    job_name: str,
    state: str,
    started_at: datetime,
    ended_at: datetime | None = None,
    assertions: list[dict[str, Any]],
) -> bool:
    """Send an audit run's results to CHARTER_OPENLINEAGE_URL after commit (no-op when unset).

    `assertions` items: {"assertion": str, "success": bool, "column": str?, "severity": str?}.
    Returns whether an event was queued.
    """
    if not openlineage_url():
        return False
    if state not in {s.value for s in RunState}:
        raise ValueError(f"state must be an OpenLineage eventType, not {state!r}")
    event = openlineage_quality_event(
        dataset=dataset,
        dataset_version=dataset_version,
        run_id=run_id,
        job_name=job_name,
        state=state,
        started_at=started_at,
        ended_at=ended_at,
        assertions=assertions,
    )
    from lineage.tasks import openlineage_send_task

    enqueue_on_commit(openlineage_send_task, event=event)
    return True


def openlineage_send(*, event: dict[str, Any]) -> int:
    """POST one event to the configured OpenLineage endpoint; return the HTTP status."""
    url = openlineage_url()
    if not url:
        return 0
    if not url.startswith(("http://", "https://")):
        raise ValueError("CHARTER_OPENLINEAGE_URL must be an http(s) URL")
    headers = {"Content-Type": "application/json"}
    default_key = os.environ.get("CHARTER_OPENLINEAGE_API_KEY", "")
    key = str(getattr(settings, "CHARTER_OPENLINEAGE_API_KEY", default_key) or "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=json.dumps(event).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status)
