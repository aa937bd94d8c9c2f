"""Versions you can compare, keep and roll back: snapshots, diffs and rollback of datasets.

- Snapshots: for file datasets under the snapshot policy, a version's bytes are kept in the
  content-addressed store (catalog.snapshots), named by the version's fingerprint. Removing one
  is a ledger event; retention follows the dataset's retention period, but the current version
  and any version a model was trained on are never pruned.
- Diff: schema, row count and per-column profile of two versions; for data under a size cap
  with both snapshots kept, rows added, removed and changed by a key column.
- Rollback: a steward makes an earlier version current again, with a reason. For files, the
  bytes are restored atomically; the replaced bytes are snapshotted first, so nothing is lost.
  Refused with a clear message when the snapshot is missing or the file changed since read.

Catalog may not import lineage or audits: other apps learn of a rollback through
`register_rollback_listener` (lineage notifies downstream owners).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog import sources
from catalog.models import Dataset, DatasetVersion
from catalog.snapshots import SnapshotError, SnapshotStore, file_sha256
from ledger.services import ledger_record

logger = logging.getLogger(__name__)
FILE_KINDS = (Dataset.SourceKind.FILE, Dataset.SourceKind.UPLOAD)
SNAPSHOT_TAG = "snapshots"

RollbackListener = Callable[[int, int, int], None]  # (dataset_id, from_version_id, to_version_id)
_rollback_listeners: list[RollbackListener] = []


def register_rollback_listener(listener: RollbackListener) -> None:
    """Call `listener` after a rollback commits (used by lineage to tell downstream owners)."""
    if listener not in _rollback_listeners:
        _rollback_listeners.append(listener)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- policy -------------------------------------------------------------------------------------


def snapshot_policy_applies(dataset: Dataset) -> bool:
    """Whether `dataset`'s versions are kept: file datasets, all of them (policy "all", the
    default) or only those tagged `snapshots` (policy "tagged"), within the size cap."""
    if dataset.source_kind not in FILE_KINDS:
        return False
    limit = int(_setting("CHARTER_SNAPSHOT_MAX_BYTES", 1024**3))
    if dataset.size_bytes is not None and dataset.size_bytes > limit:
        return False
    if _setting("CHARTER_SNAPSHOT_POLICY", "all") == "tagged":
        return dataset.tags.filter(name=SNAPSHOT_TAG).exists()
    return True


def snapshot_status(versions: Iterable[DatasetVersion]) -> dict[int, bool]:
    """Which versions have their bytes kept (a file check per distinct fingerprint, no query)."""
    store = SnapshotStore()
    cache: dict[str, bool] = {}
    out = {}
    for v in versions:
        if v.fingerprint not in cache:
            cache[v.fingerprint] = store.has(v.fingerprint)
        out[v.pk] = cache[v.fingerprint]
    return out


# --- snapshots ----------------------------------------------------------------------------------


def snapshot_capture(
    *, version: DatasetVersion, actor: AbstractBaseUser | None = None, force: bool = False
) -> bool:
    """Keep `version`'s bytes, read from the dataset's file, if they still hash to its
    fingerprint. Returns whether a snapshot now exists. Safe to call again (deduplicated)."""
    dataset = version.dataset
    store = SnapshotStore()
    if store.has(version.fingerprint):
        return True
    if not force and not snapshot_policy_applies(dataset):
        return False
    if dataset.source_kind not in FILE_KINDS:
        raise ValidationError(f"{dataset.name} is not a file; only files are snapshotted.")
    try:
        path = sources.resolve_data_path(dataset.location)
        store.put_file(path, expected=version.fingerprint)
    except (sources.SourceError, SnapshotError) as exc:
        logger.info("no snapshot of %s v%s: %s", dataset.name, version.number, exc)
        return False
    ledger_record(
        actor=actor,
        action="snapshot.stored",
        target=dataset,
        data={"version": version.number, "fingerprint": version.fingerprint},
    )
    return True


def snapshot_after_profile(*, dataset: Dataset, actor: AbstractBaseUser | None = None) -> bool:
    """Keep the current version's bytes right after profiling recorded them (never fails the
    profile: a snapshot that cannot be taken now is retried by the beat task)."""
    version = dataset.current_version
    if version is None or not snapshot_policy_applies(dataset):
        return False
    try:
        return snapshot_capture(version=version, actor=actor)
    except (OSError, ValidationError) as exc:
        logger.warning("snapshot of %s v%s failed: %s", dataset.name, version.number, exc)
        return False


def snapshots_capture_current() -> list[str]:
    """Snapshot every current file version not yet kept (the beat task's safety net)."""
    store = SnapshotStore()
    done = []
    datasets = Dataset.objects.filter(
        source_kind__in=FILE_KINDS, current_version__isnull=False
    ).select_related("current_version")
    for dataset in datasets:
        if store.has(dataset.current_version.fingerprint):
            continue
        if snapshot_after_profile(dataset=dataset):
            done.append(f"{dataset.name} v{dataset.current_version.number}")
    return done


def _protected_fingerprints() -> set[str]:
    """Fingerprints that must be kept: current versions and versions a model used."""
    current = DatasetVersion.objects.filter(pk__in=Dataset.objects.values("current_version"))
    used = DatasetVersion.objects.filter(model_uses__isnull=False)
    return set(current.values_list("fingerprint", flat=True)) | set(
        used.values_list("fingerprint", flat=True)
    )


@transaction.atomic
def snapshot_remove(
    *, version: DatasetVersion, actor: AbstractBaseUser | None, reason: str
) -> bool:
    """Delete a version's snapshot, with a reason, recorded in the ledger. Refused for the
    current version and for bytes a model version was trained or evaluated on."""
    if not (reason or "").strip():
        raise ValidationError("Say why the snapshot is removed.")
    if version.fingerprint in _protected_fingerprints():
        raise ValidationError(
            f"v{version.number}'s bytes are a current version or training data of a model "
            "version; its snapshot is kept."
        )
    store = SnapshotStore()
    if not store.has(version.fingerprint):
        raise ValidationError(f"No snapshot of v{version.number} is kept.")
    sharing = list(
        DatasetVersion.objects.filter(fingerprint=version.fingerprint).values_list(
            "dataset__name", "number"
        )
    )
    ledger_record(
        actor=actor,
        action="snapshot.removed",
        target=version.dataset,
        data={
            "version": version.number,
            "fingerprint": version.fingerprint,
            "reason": reason.strip()[:300],
            "versions_sharing_bytes": [f"{d} v{n}" for d, n in sharing],
        },
    )
    transaction.on_commit(lambda: store.remove(version.fingerprint))
    return True


def snapshot_prune(*, now: datetime | None = None) -> list[str]:
    """Remove snapshots past their dataset's retention period (not current, not model data)."""
    now = now or timezone.now()
    store = SnapshotStore()
    protected = _protected_fingerprints()
    removed = []
    versions = DatasetVersion.objects.filter(dataset__retention_days__isnull=False).select_related(
        "dataset"
    )
    for v in versions:
        expired = v.created_at + timedelta(days=v.dataset.retention_days) < now
        if not expired or v.fingerprint in protected or not store.has(v.fingerprint):
            continue
        with transaction.atomic():
            ledger_record(
                actor=None,
                action="snapshot.removed",
                target=v.dataset,
                data={
                    "version": v.number,
                    "fingerprint": v.fingerprint,
                    "reason": f"retention period of {v.dataset.retention_days} days passed",
                },
            )
        store.remove(v.fingerprint)
        protected.add(v.fingerprint)  # other versions with these bytes: removed already
        removed.append(f"{v.dataset.name} v{v.number}")
    return removed


def version_source(version: DatasetVersion) -> sources.FileSource:
    """A reader over a past version's exact bytes (its snapshot), with the same interface as the
    live file: re-running an audit on it gives the same findings. Raises SourceError if the
    snapshot is not kept."""
    store = SnapshotStore()
    if version.dataset.source_kind not in FILE_KINDS or not store.has(version.fingerprint):
        raise sources.SourceError(f"No snapshot of v{version.number} is kept.")
    fmt = version.dataset.file_format or sources.file_format_for(Path(version.dataset.location))
    return sources.FileSource(store.path_for(version.fingerprint), fmt)


# --- diff ---------------------------------------------------------------------------------------


def _schema_diff(old: list[dict], new: list[dict]) -> dict[str, Any]:
    old_by = {c["name"]: c for c in old}
    new_by = {c["name"]: c for c in new}
    common = [n for n in (c["name"] for c in old) if n in new_by]
    return {
        "added": [c["name"] for c in new if c["name"] not in old_by],
        "removed": [c["name"] for c in old if c["name"] not in new_by],
        "retyped": [
            {"column": n, "from": old_by[n].get("type"), "to": new_by[n].get("type")}
            for n in common
            if old_by[n].get("type") != new_by[n].get("type")
        ],
        "reordered": [n for n in common] != [c["name"] for c in new if c["name"] in old_by],
    }


PROFILE_KEYS = ("null_percent", "distinct_count", "min", "max", "mean", "std")


def _profile_diff(old: dict, new: dict) -> list[dict[str, Any]]:
    out = []
    for column in sorted(set(old) & set(new)):
        a, b = old.get(column) or {}, new.get(column) or {}
        changes = {
            k: {"from": a.get(k), "to": b.get(k)} for k in PROFILE_KEYS if a.get(k) != b.get(k)
        }
        if changes:
            out.append({"column": column, "changes": changes})
    return out


def _rows_from_bytes(data: bytes, fmt: str) -> tuple[list[str], list[list[Any]]]:
    if fmt == "parquet":
        import pyarrow.parquet as pq  # imported only when a parquet diff is asked for

        table = pq.read_table(io.BytesIO(data))
        columns = table.column_names
        return columns, [list(row.values()) for row in table.to_pylist()]
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    return header, [row for row in reader]


def _row_diff(
    *,
    old: DatasetVersion,
    new: DatasetVersion,
    key: str,
    mask: set[str],
    limit: int,
    masker: Callable[[str, Any], Any] | None = None,
) -> dict[str, Any]:
    store = SnapshotStore()
    fmt = (old.dataset.file_format or "csv").lower()
    old_cols, old_rows = _rows_from_bytes(store.read_bytes(old.fingerprint), fmt)
    new_cols, new_rows = _rows_from_bytes(store.read_bytes(new.fingerprint), fmt)
    if key not in old_cols or key not in new_cols:
        raise ValidationError(f"Key column {key!r} is not in both versions.")
    ko, kn = old_cols.index(key), new_cols.index(key)
    before = {str(r[ko]): r for r in old_rows if len(r) > ko}
    after = {str(r[kn]): r for r in new_rows if len(r) > kn}
    if len(before) != len(old_rows) or len(after) != len(new_rows):
        raise ValidationError(f"{key!r} is not unique in both versions; choose a key column.")
    shown = [c for c in new_cols if c in old_cols]

    def cell(col: str, value: Any) -> Any:
        if col not in mask or value in (None, ""):
            return value
        return masker(col, value) if masker is not None else "•••"

    def as_dict(cols: list[str], row: list[Any]) -> dict[str, Any]:
        return {c: cell(c, row[i]) for i, c in enumerate(cols) if i < len(row)}

    added = [k for k in after if k not in before]
    removed = [k for k in before if k not in after]
    changed = []
    for k in after:
        if k in before:
            a, b = as_dict(old_cols, before[k]), as_dict(new_cols, after[k])
            diffs = {
                c: {"from": a.get(c), "to": b.get(c)}
                for c in shown
                if str(a.get(c)) != str(b.get(c))
            }
            if diffs:
                changed.append({"key": cell(key, k), "changes": diffs})
    return {
        "key": key,
        "masked_columns": sorted(mask),
        "added_count": len(added),
        "removed_count": len(removed),
        "changed_count": len(changed),
        "added": [as_dict(new_cols, after[k]) for k in added[:limit]],
        "removed": [as_dict(old_cols, before[k]) for k in removed[:limit]],
        "changed": changed[:limit],
        "truncated": max(len(added), len(removed), len(changed)) > limit,
    }


def versions_diff(
    *,
    old: DatasetVersion,
    new: DatasetVersion,
    key: str = "",
    include_rows: bool = False,
    mask_columns: set[str] | None = None,
    masker: Callable[[str, Any], Any] | None = None,
    row_limit: int = 200,
) -> dict[str, Any]:
    """Compare two versions of one dataset: schema, row count, profile, and (when asked, the
    data is small enough and both snapshots are kept) rows by `key`. Values of columns in
    `mask_columns` never show raw: `masker(column, value)` masks them (the access app's rules),
    else they show as •••."""
    if old.dataset_id != new.dataset_id:
        raise ValidationError("Both versions must belong to the same dataset.")
    result: dict[str, Any] = {
        "dataset": old.dataset.name,
        "old": {"number": old.number, "fingerprint": old.fingerprint, "row_count": old.row_count},
        "new": {"number": new.number, "fingerprint": new.fingerprint, "row_count": new.row_count},
        "same_content": old.fingerprint == new.fingerprint,
        "schema": _schema_diff(old.schema or [], new.schema or []),
        "row_count_change": (new.row_count - old.row_count)
        if new.row_count is not None and old.row_count is not None
        else None,
        "profile": _profile_diff(old.profile or {}, new.profile or {}),
        "rows": None,
        "rows_unavailable": "",
    }
    if not include_rows:
        return result
    cap = int(_setting("CHARTER_DIFF_MAX_BYTES", 20 * 1024 * 1024))
    snaps = snapshot_status([old, new])
    if not all(snaps.values()):
        result["rows_unavailable"] = (
            "Row-level diff needs both versions' snapshots; one is not kept."
        )
    elif max(old.size_bytes or 0, new.size_bytes or 0) > cap:
        result["rows_unavailable"] = f"Row-level diff is limited to files of {cap} bytes."
    elif not key:
        result["rows_unavailable"] = "Choose a key column to compare rows."
    else:
        result["rows"] = _row_diff(
            old=old, new=new, key=key, mask=mask_columns or set(), limit=row_limit, masker=masker
        )
    return result


# --- rollback -----------------------------------------------------------------------------------


def dataset_rollback(
    *, dataset: Dataset, version: DatasetVersion, actor: AbstractBaseUser, reason: str
) -> Dataset:
    """Make an earlier version current again (steward act, with a reason, in the ledger).

    1. Refuse: no reason, a version of another dataset, the version already current.
    2. Files: refuse when the target's snapshot is missing or the file no longer holds the
       current version's bytes; keep the replaced bytes as a snapshot (they are the current
       version, so nothing is lost); restore the target's bytes atomically.
    3. Point the dataset at the version, record `dataset.rolled_back`, and after commit tell
       listeners (lineage: downstream owners).
    Tables: only the pointer moves (Charter does not own a table's rows); the record says so.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Give a reason for the rollback.")
    if version.dataset_id != dataset.pk:
        raise ValidationError("That version belongs to another dataset.")
    with transaction.atomic():
        locked = (
            Dataset.objects.select_for_update(of=("self",))
            .select_related("current_version")
            .get(pk=dataset.pk)
        )
        current = locked.current_version
        if current is not None and current.pk == version.pk:
            raise ValidationError(f"v{version.number} is already the current version.")
        restored = locked.source_kind in FILE_KINDS
        replaced = current.fingerprint if current else None
        locked.current_version = version
        locked.row_count = version.row_count
        locked.size_bytes = version.size_bytes
        locked.save(update_fields=["current_version", "row_count", "size_bytes", "updated_at"])
        ledger_record(
            actor=actor,
            action="dataset.rolled_back",
            target=locked,
            data={
                "from_version": current.number if current else None,
                "to_version": version.number,
                "to_fingerprint": version.fingerprint,
                "replaced_fingerprint": replaced,
                "file_restored": restored,
                "reason": reason[:300],
            },
        )
        if restored:  # last: any refusal or failure here rolls the database back too
            _restore_file(dataset=locked, current=current, target=version)
            from catalog.services import dataset_reprofile_request

            # columns and profile follow the restored bytes (the fingerprint matches v<n>, so
            # profiling records no new version)
            dataset_reprofile_request(
                dataset=locked, actor=actor, reason=f"rolled back to v{version.number}"
            )
        from_id = current.pk if current else 0
        for listener in list(_rollback_listeners):
            transaction.on_commit(
                lambda listener=listener: listener(locked.pk, from_id, version.pk)
            )
    return locked


def _restore_file(
    *, dataset: Dataset, current: DatasetVersion | None, target: DatasetVersion
) -> None:
    store = SnapshotStore()
    if not store.has(target.fingerprint):
        raise ValidationError(
            f"No snapshot of v{target.number} is kept, so its bytes cannot be restored."
        )
    try:
        path = sources.resolve_data_path(dataset.location)
    except sources.SourceError as exc:
        raise ValidationError(f"The dataset's file cannot be written: {exc}") from exc
    if current is not None:
        if file_sha256(path) != current.fingerprint:
            raise ValidationError(
                "The file changed since Charter last read it; profile it first so the change "
                "is recorded as a version, then roll back."
            )
        try:  # keep the replaced bytes: they are the current version's
            store.put_file(path, expected=current.fingerprint)
        except SnapshotError as exc:
            raise ValidationError(str(exc)) from exc
    try:
        store.restore_to(
            target.fingerprint, path, expected_current=current.fingerprint if current else None
        )
    except SnapshotError as exc:
        raise ValidationError(str(exc)) from exc


# --- as-of reads --------------------------------------------------------------------------------

AS_OF_ACTIONS = (
    "dataset.registered",
    "dataset.updated",
    "column.classified",
    "dataset.version_created",
    "dataset.rolled_back",
    "dataset.deprecated",
    "dataset.reactivated",
)


def dataset_as_of(*, dataset: Dataset, at: datetime) -> dict[str, Any]:
    """The dataset's description, classification and current version as they were at `at`.

    Rebuilt from the governance log: start from today's state and undo, newest first, every
    logged change made after `at` (the ledger keeps before/after of each). Two queries plus the
    current state, whatever the history length.
    """
    from catalog.services.datasets import (  # the same shape the ledger records
        COLUMN_FIELDS,
        _snapshot,
    )
    from ledger.models import Event

    events = list(
        Event.objects.filter(
            target_type="catalog.dataset", target_id=str(dataset.pk), action__in=AS_OF_ACTIONS
        ).order_by("seq")
    )
    registered = next((e for e in events if e.action == "dataset.registered"), None)
    if (registered and registered.created_at > at) or dataset.created_at > at:
        return {"dataset": dataset.name, "at": at.isoformat(), "exists": False}
    fields = _snapshot(dataset)
    fields["status"] = dataset.status
    columns = {
        c.name: {
            "name": c.name,
            "data_type": c.data_type,
            **{f: getattr(c, f) for f in COLUMN_FIELDS},
        }
        for c in dataset.columns.order_by("position")
    }
    later = [e for e in events if e.created_at > at]
    for event in reversed(later):
        changes = (event.data or {}).get("changes") or {}
        if event.action == "dataset.updated":
            for key, change in changes.items():
                fields[key] = change.get("before")
        elif event.action == "column.classified":
            column = columns.get((event.data or {}).get("column"))
            if column is not None:
                for key, change in changes.items():
                    column[key] = change.get("before")
        elif event.action == "dataset.deprecated":
            fields["status"] = Dataset.Status.ACTIVE
        elif event.action == "dataset.reactivated":
            fields["status"] = Dataset.Status.DEPRECATED
    number = None
    for event in events:
        if event.created_at > at:
            break
        data = event.data or {}
        if event.action == "dataset.version_created":
            number = data.get("version")
        elif event.action == "dataset.rolled_back":
            number = data.get("to_version")
    version = dataset.versions.filter(number=number).first() if number else None
    if version is not None and version.schema:
        names = [c.get("name") for c in version.schema]
        cols = [
            columns.get(n) or {"name": n, "data_type": c.get("type", "")}
            for n, c in zip(names, version.schema, strict=True)
        ]
    else:
        cols = list(columns.values())
    return {
        "dataset": dataset.name,
        "at": at.isoformat(),
        "exists": True,
        "fields": fields,
        "version": {
            "number": version.number,
            "fingerprint": version.fingerprint,
            "row_count": version.row_count,
        }
        if version
        else None,
        "columns": cols,
        "changes_since": len(later),
    }
