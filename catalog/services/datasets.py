"""Dataset services: registration, profiling and versions, description and classification.

Each governance act writes a ledger event in the same transaction. Source problems
(`catalog.sources.SourceError`) become Django `ValidationError`s with the source's message, so
views and the API show them as ordinary form errors and nothing is saved.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalog import sources
from catalog.models import (
    NAME_VALIDATOR,
    Column,
    Connection,
    Dataset,
    DatasetVersion,
    Domain,
    GlossaryTerm,
    MaskingRule,
    PiiKind,
    ProtectedAttribute,
    Sensitivity,
    Tag,
)
from config.celery import enqueue_on_commit
from ledger.services import ledger_record

logger = logging.getLogger(__name__)
User = get_user_model()

# Profile changes smaller than these are not reported in a version diff.
NULL_PERCENT_CHANGE = 1.0
MEAN_RELATIVE_CHANGE = 0.05


def _invalid(message: str, field: str | None = None) -> ValidationError:
    return ValidationError({field: [message]} if field else message)


# --- search document ------------------------------------------------------------------------


def dataset_search_refresh(*, dataset: Dataset) -> None:
    """Rebuild the text the search index reads: names, title, description, columns, tags, terms."""
    parts = [dataset.name, dataset.name.replace("_", " ").replace("-", " "), dataset.title]
    parts.append(dataset.domain.name if dataset.domain_id else "")
    parts += list(dataset.tags.values_list("name", flat=True))
    parts += list(dataset.glossary_terms.values_list("name", flat=True))
    for name, description in dataset.columns.values_list("name", "description"):
        parts += [name, name.replace("_", " "), description]
    parts.append(dataset.description)
    document = "\n".join(p for p in parts if p)
    Dataset.objects.filter(pk=dataset.pk).update(search_document=document)
    dataset.search_document = document


# --- registration ---------------------------------------------------------------------------


def upload_store(*, upload: UploadedFile) -> Path:
    """Stream an uploaded file into managed storage, refusing it past the size limit."""
    limit = settings.CHARTER_UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise _invalid(
            f"The file is larger than the {limit // (1024 * 1024)} MB upload limit.", "upload"
        )
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.name or "upload").name).lstrip(".")
    if not safe_name:
        safe_name = "upload.csv"
    folder = Path(settings.CHARTER_UPLOAD_ROOT).resolve() / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / safe_name
    written = 0
    with target.open("wb") as out:
        for chunk in upload.chunks():
            written += len(chunk)
            if written > limit:
                out.close()
                _discard_upload(target)
                raise _invalid(
                    f"The file is larger than the {limit // (1024 * 1024)} MB upload limit.",
                    "upload",
                )
            out.write(chunk)
    return target


def _discard_upload(path: Path) -> None:
    path.unlink(missing_ok=True)
    if path.parent.exists() and not any(path.parent.iterdir()):
        path.parent.rmdir()


def _open_new_source(
    *, source_kind: str, path: str, connection: Connection | None, table: str, file_format: str
) -> tuple[Any, str]:
    """Open and validate the source of a dataset about to be registered; return it and where."""
    try:
        if source_kind == Dataset.SourceKind.POSTGRESQL:
            if connection is None:
                raise sources.SourceError("Choose a connection for a PostgreSQL table.")
            source = sources.source_for_table(connection, table)
            columns = source.columns()
            location = f"{source.schema}.{source.table}"
        else:
            source = sources.source_for_file(path, file_format or None)
            source.validate()
            columns = source.columns()
            location = str(source.path)
    except sources.SourceError as exc:
        raise _invalid(str(exc), "source") from exc
    if not columns:
        raise _invalid("The source has no columns.", "source")
    return source, location


def _column_rows(dataset: Dataset, columns: list[Any]) -> list[Column]:
    return [
        Column(
            dataset=dataset,
            name=str(c.name)[:200],
            position=i,
            data_type=str(c.type)[:100],
            nullable=bool(c.nullable),
        )
        for i, c in enumerate(columns)
    ]


def dataset_register(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    source_kind: str,
    path: str = "",
    upload: UploadedFile | None = None,
    connection: Connection | None = None,
    table: str = "",
    file_format: str = "",
    title: str = "",
    description: str = "",
    sensitivity: str = Sensitivity.INTERNAL,
    domain: Domain | None = None,
    owner: AbstractBaseUser | None = None,
    tags: list[str] | None = None,
    profile: bool = True,
) -> Dataset:
    """Register a dataset: validate its source now, save it with its schema, profile after commit.

    A refused registration (bad name, bad path, unreadable file, missing table, failing
    connection) raises ValidationError and leaves nothing behind, including uploaded bytes.
    """
    name = (name or "").strip()
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise _invalid(exc.messages[0], "name") from exc
    if Dataset.objects.filter(name=name).exists():
        raise _invalid(f"A dataset named {name} already exists.", "name")
    if sensitivity not in Sensitivity.values:
        raise _invalid(f"Unknown sensitivity {sensitivity!r}.", "sensitivity")
    stored: Path | None = None
    if source_kind == Dataset.SourceKind.UPLOAD:
        if upload is None:
            raise _invalid("Choose a file to upload.", "upload")
        stored = upload_store(upload=upload)
        path = str(stored)
    elif source_kind not in (Dataset.SourceKind.FILE, Dataset.SourceKind.POSTGRESQL):
        raise _invalid(f"Unknown source kind {source_kind!r}.", "source_kind")
    try:
        source, location = _open_new_source(
            source_kind=source_kind,
            path=path,
            connection=connection,
            table=table,
            file_format=file_format,
        )
        dataset = _dataset_create(
            actor=actor,
            name=name,
            source_kind=source_kind,
            location=location,
            connection=connection if source_kind == Dataset.SourceKind.POSTGRESQL else None,
            file_format=getattr(source, "fmt", ""),
            columns=source.columns(),
            title=title,
            description=description,
            sensitivity=sensitivity,
            domain=domain,
            owner=owner or actor,
            tags=tags or [],
            profile=profile,
        )
    except (ValidationError, sources.SourceError):
        if stored is not None:
            _discard_upload(stored)
        raise
    return dataset


@transaction.atomic
def _dataset_create(*, actor, columns, tags, profile, **fields: Any) -> Dataset:
    dataset = Dataset(created_by=actor if actor and actor.is_authenticated else None, **fields)
    dataset.full_clean(exclude=["current_version", "replaced_by"])
    dataset.save()
    Column.objects.bulk_create(_column_rows(dataset, columns))
    if tags:
        dataset.tags.set(_tags_get_or_create(tags))
    dataset_search_refresh(dataset=dataset)
    ledger_record(
        actor=actor,
        action="dataset.registered",
        target=dataset,
        data={
            "source_kind": dataset.source_kind,
            "location": dataset.location,
            "connection": dataset.connection.name if dataset.connection_id else None,
            "sensitivity": dataset.sensitivity,
            "columns": [c.name for c in columns],
        },
    )
    if profile:
        _enqueue_profile(dataset=dataset, actor=actor, reason="registered")
    return dataset


def _enqueue_profile(*, dataset: Dataset, actor: AbstractBaseUser | None, reason: str) -> None:
    from catalog.tasks import dataset_profile_task

    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    enqueue_on_commit(dataset_profile_task, dataset_id=dataset.pk, actor_id=actor_id, reason=reason)


@transaction.atomic
def dataset_reprofile_request(
    *, dataset: Dataset, actor: AbstractBaseUser | None, reason: str = ""
) -> Dataset:
    """Queue a new profile of the dataset; a new version is recorded if its content changed."""
    if dataset.profile_status == Dataset.ProfileStatus.RUNNING and not _profile_is_stale(dataset):
        return dataset  # already being profiled: a second click adds nothing
    Dataset.objects.filter(pk=dataset.pk).update(
        profile_status=Dataset.ProfileStatus.PENDING, profile_progress=0, profile_error=""
    )
    dataset.profile_status, dataset.profile_progress, dataset.profile_error = (
        Dataset.ProfileStatus.PENDING,
        0,
        "",
    )
    ledger_record(
        actor=actor, action="dataset.reprofile_requested", target=dataset, data={"reason": reason}
    )
    _enqueue_profile(dataset=dataset, actor=actor, reason=reason or "re-profile")
    return dataset


# --- profiling and versions -----------------------------------------------------------------

# A claim older than this is taken to be from a worker that died (Redis redelivers unacked
# tasks after the same hour, CELERY_VISIBILITY_TIMEOUT).
PROFILE_STALE_AFTER = timedelta(hours=1)


def _profile_is_stale(dataset: Dataset) -> bool:
    return dataset.updated_at < timezone.now() - PROFILE_STALE_AFTER


def dataset_profile(
    *,
    dataset_id: int,
    actor_id: int | None = None,
    reason: str = "",
    on_chunk: Callable[[Any], None] | None = None,
) -> Dataset | None:
    """Profile a dataset and record a version when its fingerprint changed (called by the task).

    1. Claim the dataset (pending/failed/ready -> running) so two workers never profile it at once.
    2. Read the source through catalog.profiling (pandas; imported here, off the web path).
    3. In one transaction: sync columns, store the profile, add a version with its diff, log it.
    A source problem marks the profile failed with the message; nothing else changes.
    `on_chunk` sees every chunk the profile reads (an audit runs its checks on them: one parse).
    """
    from catalog import profiling

    stale = timezone.now() - PROFILE_STALE_AFTER
    claimed = Dataset.objects.filter(pk=dataset_id).exclude(
        profile_status=Dataset.ProfileStatus.RUNNING, updated_at__gt=stale
    )
    if not claimed.update(
        profile_status=Dataset.ProfileStatus.RUNNING,
        profile_progress=1,
        profile_error="",
        updated_at=timezone.now(),  # the claim's time: a crashed worker's claim goes stale
    ):
        logger.info("dataset %s vanished or is already being profiled", dataset_id)
        return None
    dataset = Dataset.objects.select_related("connection", "current_version").get(pk=dataset_id)
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    declared = set(dataset.columns.exclude(pii_kind="").values_list("name", flat=True))

    def progress(percent: int) -> None:
        Dataset.objects.filter(pk=dataset_id).update(profile_progress=max(1, min(percent, 99)))

    try:
        result = profiling.profile_source(
            sources.open_source(dataset),
            declared_pii=declared,
            progress=progress,
            on_chunk=on_chunk,
        )
    except sources.SourceError as exc:
        _profile_failed(dataset=dataset, actor=actor, message=str(exc))
        return dataset
    dataset = _profile_store(dataset=dataset, actor=actor, result=result, reason=reason)
    from catalog.versioning import snapshot_after_profile  # issue 7: keep the version's bytes

    snapshot_after_profile(dataset=dataset, actor=actor)
    return dataset


@transaction.atomic
def _profile_failed(*, dataset: Dataset, actor: AbstractBaseUser | None, message: str) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(
        profile_status=Dataset.ProfileStatus.FAILED,
        profile_error=message[:2000],
        profile_progress=0,
    )
    dataset.profile_status, dataset.profile_error = Dataset.ProfileStatus.FAILED, message
    ledger_record(
        actor=actor, action="dataset.profile_failed", target=dataset, data={"error": message[:500]}
    )


@transaction.atomic
def _profile_store(
    *, dataset: Dataset, actor: AbstractBaseUser | None, result: Any, reason: str
) -> Dataset:
    _columns_sync(dataset=dataset, result=result)
    previous = dataset.current_version
    version = previous
    if previous is None or previous.fingerprint != result.fingerprint:
        number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = DatasetVersion.objects.create(
            dataset=dataset,
            number=number,
            fingerprint=result.fingerprint,
            row_count=result.row_count,
            size_bytes=result.size_bytes,
            schema=result.schema,
            profile=result.columns,
            diff=version_diff(
                previous=previous,
                schema=result.schema,
                row_count=result.row_count,
                profile=result.columns,
            )
            if previous
            else {},
            reason=(reason or "profiled")[:300],
            created_by=actor if actor is not None else None,
        )
        ledger_record(
            actor=actor,
            action="dataset.version_created",
            target=dataset,
            data={
                "version": number,
                "fingerprint": result.fingerprint,
                "row_count": result.row_count,
                "previous": previous.number if previous else None,
                "diff": version.diff,
            },
        )
    dataset.current_version = version
    dataset.row_count = result.row_count
    dataset.size_bytes = result.size_bytes
    dataset.profile_status = Dataset.ProfileStatus.READY
    dataset.profile_progress = 100
    dataset.profile_error = ""
    dataset.profiled_at = timezone.now()
    dataset.save(
        update_fields=[
            "current_version",
            "row_count",
            "size_bytes",
            "profile_status",
            "profile_progress",
            "profile_error",
            "profiled_at",
            "updated_at",
        ]
    )
    ledger_record(
        actor=actor,
        action="dataset.profiled",
        target=dataset,
        data={
            "version": version.number,
            "new_version": version != previous,
            "row_count": result.row_count,
        },
    )
    dataset_search_refresh(dataset=dataset)
    return dataset


def _columns_sync(*, dataset: Dataset, result: Any) -> None:
    """Make the dataset's columns match the profiled schema, keeping classifications by name."""
    existing = {c.name: c for c in dataset.columns.all()}
    wanted = [entry["name"] for entry in result.schema]
    dataset.columns.exclude(name__in=wanted).delete()
    create, update = [], []
    for position, entry in enumerate(result.schema):
        column = existing.get(entry["name"]) or Column(dataset=dataset, name=entry["name"][:200])
        column.position = position
        column.data_type = str(entry["type"])[:100]
        column.nullable = bool(entry["nullable"])
        column.profile = result.columns.get(entry["name"], {})
        finding = result.pii.get(entry["name"])
        column.suggested_pii_kind = finding["entity"] if finding else ""
        column.pii_evidence = finding or {}
        (update if column.pk else create).append(column)
    # Positions are unique per name, not per position, so a bulk update cannot collide.
    fields = ["position", "data_type", "nullable", "profile", "suggested_pii_kind", "pii_evidence"]
    Column.objects.bulk_update(update, fields)
    Column.objects.bulk_create(create)


def version_diff(
    *,
    previous: DatasetVersion,
    schema: list[dict[str, Any]],
    row_count: int | None,
    profile: dict[str, Any],
) -> dict[str, Any]:
    """What changed since `previous`: columns added, removed, retyped; row count; profile shifts."""
    before = {c["name"]: c for c in previous.schema}
    after = {c["name"]: c for c in schema}
    retyped = [
        {"column": n, "before": before[n]["type"], "after": after[n]["type"]}
        for n in after
        if n in before and before[n]["type"] != after[n]["type"]
    ]
    changes = []
    for name, now in profile.items():
        then = (previous.profile or {}).get(name)
        if not then:
            continue
        change: dict[str, Any] = {}
        if (
            abs((now.get("null_percent") or 0) - (then.get("null_percent") or 0))
            >= NULL_PERCENT_CHANGE
        ):
            change["null_percent"] = [then.get("null_percent"), now.get("null_percent")]
        if now.get("distinct_count") != then.get("distinct_count"):
            change["distinct_count"] = [then.get("distinct_count"), now.get("distinct_count")]
        old_mean, new_mean = then.get("mean"), now.get("mean")
        if old_mean is not None and new_mean is not None:
            scale = max(abs(old_mean), 1e-9)
            if abs(new_mean - old_mean) / scale >= MEAN_RELATIVE_CHANGE:
                change["mean"] = [old_mean, new_mean]
        if change:
            changes.append({"column": name, **change})
    return {
        "previous_version": previous.number,
        "columns_added": [n for n in after if n not in before],
        "columns_removed": [n for n in before if n not in after],
        "columns_retyped": retyped,
        "row_count": [previous.row_count, row_count],
        "row_count_change": (row_count - previous.row_count)
        if row_count is not None and previous.row_count is not None
        else None,
        "profile_changes": changes,
    }


# --- describe and classify ------------------------------------------------------------------

DATASET_TEXT_FIELDS = ("title", "description", "purpose", "legal_basis", "sensitivity", "status")
DATASET_FIELDS = (
    *DATASET_TEXT_FIELDS,
    "retention_days",
    "owner",
    "domain",
    "stewards",
    "tags",
    "glossary_terms",
)


def _tags_get_or_create(names: list[str]) -> list[Tag]:
    slugs = []
    for raw in names:
        slug = re.sub(r"[^a-z0-9_-]+", "-", raw.strip().lower()).strip("-")[:50]
        if slug and slug not in slugs:
            slugs.append(slug)
    existing = {t.name: t for t in Tag.objects.filter(name__in=slugs)}
    missing = [Tag(name=s) for s in slugs if s not in existing]
    Tag.objects.bulk_create(missing, ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=slugs))


def _terms_get_or_create(names: list[str]) -> list[GlossaryTerm]:
    clean = list(dict.fromkeys(n.strip()[:100] for n in names if n.strip()))
    existing = set(GlossaryTerm.objects.filter(name__in=clean).values_list("name", flat=True))
    GlossaryTerm.objects.bulk_create(
        [GlossaryTerm(name=n) for n in clean if n not in existing], ignore_conflicts=True
    )
    return list(GlossaryTerm.objects.filter(name__in=clean))


def _snapshot(dataset: Dataset) -> dict[str, Any]:
    """The describable state of a dataset as plain values, for before/after in the ledger."""
    return {
        **{f: getattr(dataset, f) for f in DATASET_TEXT_FIELDS},
        "retention_days": dataset.retention_days,
        "owner": dataset.owner.get_username() if dataset.owner_id else None,
        "domain": dataset.domain.name if dataset.domain_id else None,
        "stewards": sorted(dataset.stewards.values_list("username", flat=True)),
        "tags": sorted(dataset.tags.values_list("name", flat=True)),
        "glossary_terms": sorted(dataset.glossary_terms.values_list("name", flat=True)),
    }


@transaction.atomic
def dataset_update(
    *, dataset: Dataset, actor: AbstractBaseUser | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Describe or classify a dataset from the given fields only; log before/after of what changed.

    `data` may hold any of DATASET_FIELDS: text fields as strings, `owner` a user or None,
    `domain` a Domain, a domain name or None, `stewards` users, `tags` and `glossary_terms` names.
    Returns the changes ({field: {"before", "after"}}); no change logs nothing.
    """
    unknown = set(data) - set(DATASET_FIELDS)
    if unknown:
        raise _invalid(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    before = _snapshot(dataset)
    for field in DATASET_TEXT_FIELDS:
        if field in data:
            setattr(
                dataset,
                field,
                (data[field] or "").strip() if isinstance(data[field], str) else data[field],
            )
    if "status" in data and data["status"] == Dataset.Status.ACTIVE:
        dataset.deprecation_reason, dataset.replaced_by = "", None
    if "retention_days" in data:
        dataset.retention_days = data["retention_days"] or None
    if "owner" in data:
        dataset.owner = data["owner"]
    if "domain" in data:
        domain = data["domain"]
        if isinstance(domain, str):
            domain = (
                Domain.objects.get_or_create(name=domain.strip()[:100])[0]
                if domain.strip()
                else None
            )
        dataset.domain = domain
    dataset.full_clean(exclude=["current_version", "replaced_by", "connection"])
    dataset.save()
    if "stewards" in data:
        dataset.stewards.set(data["stewards"])
    if "tags" in data:
        dataset.tags.set(_tags_get_or_create(list(data["tags"])))
    if "glossary_terms" in data:
        dataset.glossary_terms.set(_terms_get_or_create(list(data["glossary_terms"])))
    after = _snapshot(dataset)
    changes = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if changes:
        ledger_record(
            actor=actor, action="dataset.updated", target=dataset, data={"changes": changes}
        )
        dataset_search_refresh(dataset=dataset)
    return changes


@transaction.atomic
def dataset_deprecate(
    *,
    dataset: Dataset,
    actor: AbstractBaseUser | None,
    reason: str,
    replaced_by: Dataset | None = None,
) -> Dataset:
    """Mark a dataset deprecated with a reason and an optional replacement, shown as a banner."""
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("Say why the dataset is deprecated.", "reason")
    if replaced_by is not None and replaced_by.pk == dataset.pk:
        raise _invalid("A dataset cannot replace itself.", "replaced_by")
    if (
        dataset.status == Dataset.Status.DEPRECATED
        and dataset.deprecation_reason == reason
        and dataset.replaced_by_id == (replaced_by.pk if replaced_by else None)
    ):
        return dataset  # idempotent: a second click changes nothing and logs nothing
    before = {"status": dataset.status, "reason": dataset.deprecation_reason}
    dataset.status = Dataset.Status.DEPRECATED
    dataset.deprecation_reason = reason
    dataset.replaced_by = replaced_by
    dataset.save(update_fields=["status", "deprecation_reason", "replaced_by", "updated_at"])
    ledger_record(
        actor=actor,
        action="dataset.deprecated",
        target=dataset,
        data={
            "before": before,
            "after": {"status": dataset.status, "reason": reason},
            "replaced_by": replaced_by.name if replaced_by else None,
        },
    )
    return dataset


@transaction.atomic
def dataset_reactivate(*, dataset: Dataset, actor: AbstractBaseUser | None) -> Dataset:
    """Undo a deprecation."""
    if dataset.status == Dataset.Status.ACTIVE:
        return dataset
    before = {"status": dataset.status, "reason": dataset.deprecation_reason}
    dataset.status, dataset.deprecation_reason, dataset.replaced_by = (
        Dataset.Status.ACTIVE,
        "",
        None,
    )
    dataset.save(update_fields=["status", "deprecation_reason", "replaced_by", "updated_at"])
    ledger_record(
        actor=actor, action="dataset.reactivated", target=dataset, data={"before": before}
    )
    return dataset


COLUMN_FIELDS = ("description", "pii_kind", "protected_attribute", "masking", "pii_reviewed")
_COLUMN_CHOICES = {
    "pii_kind": PiiKind,
    "protected_attribute": ProtectedAttribute,
    "masking": MaskingRule,
}


@transaction.atomic
def column_update(
    *, column: Column, actor: AbstractBaseUser | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Describe or classify one column (description, PII kind, protected attribute, masking).

    Setting a PII kind marks the column reviewed. Returns the changes; no change logs nothing.
    """
    unknown = set(data) - set(COLUMN_FIELDS)
    if unknown:
        raise _invalid(f"Unknown column field(s): {', '.join(sorted(unknown))}.")
    for field, choices in _COLUMN_CHOICES.items():
        if field in data and (data[field] or "") not in choices.values:
            raise _invalid(f"{data[field]!r} is not a valid {field.replace('_', ' ')}.", field)
    before = {f: getattr(column, f) for f in COLUMN_FIELDS}
    for field in COLUMN_FIELDS:
        if field in data:
            value = data[field]
            setattr(
                column, field, bool(value) if field == "pii_reviewed" else (value or "").strip()
            )
    if "pii_kind" in data and "pii_reviewed" not in data:
        column.pii_reviewed = True
    after = {f: getattr(column, f) for f in COLUMN_FIELDS}
    changes = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if not changes:
        return {}
    column.save(update_fields=list(changes))
    ledger_record(
        actor=actor,
        action="column.classified",
        target=column.dataset,
        data={"column": column.name, "changes": changes},
    )
    if "description" in changes:
        dataset_search_refresh(dataset=column.dataset)
    return changes
