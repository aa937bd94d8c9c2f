"""Lineage writes other than OpenLineage intake (lineage/ingest.py): edges, adopting and merging
discovered datasets, the model registry, and Charter's own OpenLineage events for audit runs."""

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Dataset, DatasetVersion
from config.celery import enqueue_on_commit
from ledger.services import ledger_record
from lineage.models import (
    ColumnLineageEdge,
    DatasetRef,
    EdgeKind,
    ExternalQualityResult,
    LineageEdge,
    Model,
    ModelVersion,
    ModelVersionData,
    NodeKind,
    Run,
    RunState,
)

logger = logging.getLogger(__name__)

PRODUCER = "https://github.com/charter/charter"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


# --- edges ------------------------------------------------------------------------------------


def edge_new(
    key: tuple[str, int, str, int, str],
    version: DatasetVersion | None,
    *,
    run: Run | None,
    at: datetime,
) -> LineageEdge:
    """A new open edge for key (src_kind, src_id, dst_kind, dst_id, kind), first seen `at`."""
    src_kind, src_id, dst_kind, dst_id, kind = key
    return LineageEdge(
        src_kind=src_kind,
        src_id=src_id,
        dst_kind=dst_kind,
        dst_id=dst_id,
        kind=kind,
        dataset_version=version,
        last_run=run,
        created_at=at,
        last_seen_at=at,
    )


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
            new.append(edge_new(key, version, run=run, at=at))
        else:
            edge.last_seen_at = max(edge.last_seen_at, at)
            edge.last_run = run or edge.last_run
            edge.dataset_version = version or edge.dataset_version
            seen.append(edge)
    LineageEdge.objects.bulk_create(new)
    if seen:
        LineageEdge.objects.bulk_update(seen, ["last_seen_at", "last_run", "dataset_version"])
    return len(new)


def edge_remove(*, edge: LineageEdge, at: datetime | None = None) -> LineageEdge:
    """Close an edge: it stays in the record for "as of" reads but leaves the current graph."""
    if edge.valid_to is None:
        edge.valid_to = at or timezone.now()
        edge.save(update_fields=["valid_to"])
    return edge


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
