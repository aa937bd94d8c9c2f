"""Mitigation: a reweighed copy of a file dataset (Kamiran & Calders 2012), registered as new.

Two chunked passes over the source: the first counts (group, label) cells, the second writes
every row with its weight. The copy is registered through the catalog's registration service,
and lineage records that it was derived from the source version the run read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from audits.checks.fairness import (
    ReweighingError,
    apply_weights,
    group_counts,
    merge_counts,
    reweighing_table,
)
from audits.models import AuditRun
from catalog import sources
from catalog.models import Dataset
from ledger.services import ledger_record

CHUNK_ROWS = 100_000


def _free_name(base: str) -> str:
    name = base[:90]
    n = 2
    while Dataset.objects.filter(name=name).exists():
        name = f"{base[:86]}-{n}"
        n += 1
    return name


def reweighed_dataset_create(*, run: AuditRun, index: int, actor: AbstractBaseUser) -> Dataset:
    """Write and register `<dataset>-reweighed` with a weight column for the run's fairness check.

    1. Refuse unless the check is a fairness check on a file dataset, and every group has both
       labels (n_gy > 0). 2. Count, then write the copy. 3. Register it, link lineage, log it.
    """
    from catalog.services import dataset_register

    if index >= len(run.checks) or run.checks[index]["kind"] != "fairness":
        raise ValidationError("Only a fairness check's finding can be mitigated by reweighing.")
    source_dataset = run.dataset
    if source_dataset.source_kind not in ("file", "upload"):
        raise ValidationError("Reweighing writes a file: it is offered for file datasets only.")
    spec = run.checks[index]
    protected, label, pos = spec["protected"], spec["label"], spec.get("pos_label", 1)
    try:
        source = sources.open_source(source_dataset)
        counts: dict = {}
        for chunk in source.iter_chunks(chunksize=CHUNK_ROWS):
            merge_counts(
                counts, group_counts(chunk, label=label, protected=protected, pos_label=pos)[0]
            )
        table = reweighing_table(counts, protected=protected)
        name = _free_name(f"{source_dataset.name}-reweighed")
        path = _write_copy(
            source,
            Path(settings.CHARTER_UPLOAD_ROOT) / "derived" / f"{name}.csv",
            table=table,
            label=label,
            protected=protected,
            pos_label=pos,
        )
    except ReweighingError as exc:
        raise ValidationError(str(exc)) from exc
    except sources.SourceError as exc:
        raise ValidationError(f"Cannot read {source_dataset.name}: {exc}") from exc
    derived = dataset_register(
        actor=actor,
        name=name,
        source_kind="file",
        path=str(path),
        title=f"{source_dataset.display_title} (reweighed)",
        description=(
            f"Derived from {source_dataset.name} v"
            f"{run.version.number if run.version else '?'} by reweighing (Kamiran & "
            f"Calders 2012) for {', '.join(protected)} and label {label}, from audit run "
            f"{run.pk}. Use the `weight` column as the sample weight."
        ),
        sensitivity=source_dataset.sensitivity,
        owner=actor,
    )
    weights = [{"group": list(k), "positive": y, **row} for (k, y), row in table.items()]
    ledger_record(
        actor=actor,
        action="dataset.derived",
        target=derived,
        data={
            "from": source_dataset.name,
            "run": run.pk,
            "method": "reweighing",
            "protected": protected,
            "label": label,
            "weights": weights,
        },
    )
    _link_lineage(source_dataset, derived, run)
    return derived


def _write_copy(
    source: Any, path: Path, *, table: dict, label: str, protected: list[str], pos_label: Any
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    first = True
    with path.open("w", encoding="utf-8", newline="") as fh:
        for chunk in source.iter_chunks(chunksize=CHUNK_ROWS):
            column = "weight" if "weight" not in chunk.columns else "reweighing_weight"
            chunk[column] = apply_weights(
                chunk, table, label=label, protected=protected, pos_label=pos_label
            ).to_numpy()
            chunk.to_csv(fh, index=False, header=first)
            first = False
    return path


def _link_lineage(source: Dataset, derived: Dataset, run: AuditRun) -> None:
    """Record source -> reweighing job -> derived in the lineage graph."""
    from lineage.models import EdgeKind, Job, NodeKind
    from lineage.services import edges_upsert

    job, _ = Job.objects.get_or_create(
        namespace="charter",
        name="audits.reweigh",
        defaults={"description": "Fairness mitigation by reweighing"},
    )
    edges_upsert(
        edges=[
            (NodeKind.DATASET, source.pk, NodeKind.JOB, job.pk, EdgeKind.READ, run.version),
            (NodeKind.JOB, job.pk, NodeKind.DATASET, derived.pk, EdgeKind.WROTE, None),
        ],
        run=None,
        at=timezone.now(),
    )
