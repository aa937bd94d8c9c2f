"""Audit runs and their results: request, claim, execute, finish, recover, notify.

A run is a state machine (queued -> running -> passed / failed / error). Workers claim a run
with a conditional UPDATE and own it by its attempt number: heartbeats and the final write
only succeed for the current owner, so a redelivered or recovered task never doubles a run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from audits.checks.results import error_result, suite_statistics
from audits.checks.specs import check_label
from audits.models import AuditPolicy, AuditRun, CheckResult, PiiProposal
from audits.services.policies import audit_policy_datasets
from audits.services.run_context import (
    DB_CHECKS,
    SharedPass,
    check_context,
    drift_references,
)
from catalog import sources
from catalog.models import Column, Dataset, DatasetVersion
from config.celery import enqueue_on_commit
from ledger.services import ledger_record

logger = logging.getLogger(__name__)


STALE_SECONDS = int(os.environ.get("CHARTER_AUDIT_STALE_SECONDS", "120"))
HEARTBEAT_SECONDS = 2.0
QUEUED_LOST_SECONDS = int(os.environ.get("CHARTER_AUDIT_QUEUED_LOST_SECONDS", "900"))


class RunAborted(Exception):
    """The run was taken over by another worker, or ran past its time limit."""


# --- requesting runs ----------------------------------------------------------------------------


@transaction.atomic
def audit_run_request(
    *,
    policy: AuditPolicy,
    actor: AbstractBaseUser | None,
    trigger: str = AuditRun.Trigger.MANUAL,
    datasets: QuerySet[Dataset] | None = None,
) -> list[AuditRun]:
    """Queue one run per targeted dataset; each is sent to a worker after commit."""
    from audits.tasks import audit_run_task

    targets = list(datasets if datasets is not None else audit_policy_datasets(policy=policy))
    if not targets:
        raise ValidationError({"detail": ["The policy targets no dataset right now."]})
    runs = []
    for dataset in targets:
        run = AuditRun.objects.create(
            policy=policy,
            dataset=dataset,
            trigger=trigger,
            checks=policy.checks,
            requested_by=actor if actor is not None and actor.is_authenticated else None,
        )
        ledger_record(
            actor=actor,
            action="audit_run.queued",
            target=run,
            data={"policy": policy.name, "dataset": dataset.name, "trigger": trigger},
        )
        enqueue_on_commit(audit_run_task, run_id=run.pk)
        runs.append(run)
    return runs


REPRODUCES = "reproduces"


@transaction.atomic
def audit_run_reproduce(*, run: AuditRun, actor: AbstractBaseUser | None) -> AuditRun:
    """Queue a re-run of `run`'s checks on the exact version it read (a file dataset's kept
    snapshot). The new run is bound to that version from the start, reads the snapshot's bytes
    (verified by sha256) and never records a version or touches the live file. Refused with a
    ValidationError when the run has no version, the dataset is not a file, or the snapshot of
    that version is not kept."""
    from audits.tasks import audit_run_task
    from catalog.snapshots import SnapshotStore
    from catalog.versioning import FILE_KINDS

    version = run.version
    if run.state not in AuditRun.FINAL_STATES or version is None:
        raise ValidationError(
            {"detail": ["Only a finished run bound to a data version can be reproduced."]}
        )
    if run.dataset.source_kind not in FILE_KINDS:
        raise ValidationError(
            {"detail": [f"{run.dataset.name} is not a file: only file versions are kept."]}
        )
    if not SnapshotStore().has(version.fingerprint):
        raise ValidationError(
            {
                "detail": [
                    f"No snapshot of {run.dataset.name} v{version.number} is kept, so the run "
                    "cannot be reproduced on it."
                ]
            }
        )
    origin = run.scope.get(REPRODUCES) if isinstance(run.scope, dict) else None
    again = AuditRun.objects.create(
        policy=run.policy,
        dataset=run.dataset,
        version=version,
        trigger=AuditRun.Trigger.MANUAL,
        checks=run.checks,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        scope={REPRODUCES: origin or run.pk, "version": version.number},
    )
    ledger_record(
        actor=actor,
        action="audit.reproduced",
        target=again,
        data={
            REPRODUCES: origin or run.pk,
            "version": version.number,
            "policy": run.policy.name,
            "dataset": run.dataset.name,
        },
    )
    enqueue_on_commit(audit_run_task, run_id=again.pk)
    return again


def _reproduction_source(run: AuditRun) -> sources.FileSource:
    """The read-only reader over the pinned version's snapshot, its bytes verified first."""
    from catalog.snapshots import file_sha256
    from catalog.versioning import version_source

    source = version_source(run.version)
    if file_sha256(source.path) != run.version.fingerprint:
        raise sources.SourceError(
            f"The snapshot of v{run.version.number} is damaged: its bytes no longer match."
        )
    return source


def _schedule_period_seconds(policy: AuditPolicy) -> float:
    """How often beat fires the policy (its PeriodicTask's schedule; a cron fires per minute)."""
    task = policy.periodic_task
    run_every = getattr(task.schedule, "run_every", None) if task is not None else None
    if run_every is not None:
        return run_every.total_seconds()
    return 60.0


@transaction.atomic
def audit_policy_fire(*, policy_id: int) -> list[AuditRun]:
    """What the beat schedule calls: queue runs for an enabled policy (skip a vanished one).

    One firing per schedule slot: the policy row is locked and a scheduled run queued within the
    last half period means this slot already fired (two beat processes started by mistake, or
    a redelivered message), so nothing more is queued.
    """
    policy = (
        AuditPolicy.objects.select_for_update(of=("self",))  # lock the policy row only
        .select_related("periodic_task__interval", "periodic_task__crontab")
        .filter(pk=policy_id, enabled=True)
        .first()
    )
    if policy is None:
        logger.info("audit policy %s vanished or is disabled; nothing to run", policy_id)
        return []
    window = dt.timedelta(seconds=max(_schedule_period_seconds(policy) / 2, 0.5))
    if AuditRun.objects.filter(
        policy=policy, trigger=AuditRun.Trigger.SCHEDULE, queued_at__gt=timezone.now() - window
    ).exists():
        logger.warning("audit policy %s already fired for this slot; skipped", policy_id)
        return []
    try:
        with transaction.atomic():
            return audit_run_request(policy=policy, actor=None, trigger=AuditRun.Trigger.SCHEDULE)
    except ValidationError:
        logger.info("audit policy %s targets no dataset; nothing to run", policy_id)
        return []


# --- executing a run ----------------------------------------------------------------------------


def audit_run_claim(*, run_id: int, task_id: str) -> int | None:
    """Take ownership of a run: queued, or running but abandoned (stale heartbeat or the same
    task redelivered after its worker died). Returns the attempt number that owns it, or None."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=STALE_SECONDS)
    claimable = Q(state=AuditRun.State.QUEUED) | Q(
        Q(state=AuditRun.State.RUNNING)
        & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True) | Q(task_id=task_id))
    )
    with transaction.atomic():
        updated = AuditRun.objects.filter(claimable, pk=run_id).update(
            state=AuditRun.State.RUNNING,
            task_id=task_id[:100],
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            progress=0,
            error_message="",
        )
        if not updated:
            return None
        return AuditRun.objects.values_list("attempts", flat=True).get(pk=run_id)


class _Owner:
    """Heartbeat, progress and deadline for the attempt that owns a run."""

    def __init__(self, run: AuditRun, attempt: int) -> None:
        self.run_id = run.pk
        self.attempt = attempt
        self.deadline = time.monotonic() + run.policy.time_limit_seconds
        self.limit = run.policy.time_limit_seconds
        self.last_beat = 0.0

    def beat(self, percent: int | None = None, *, force: bool = False) -> None:
        if time.monotonic() > self.deadline:
            raise RunAborted(f"The run exceeded its time limit of {self.limit} s.")
        if not force and time.monotonic() - self.last_beat < HEARTBEAT_SECONDS:
            return
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if percent is not None:
            fields["progress"] = max(1, min(int(percent), 99))
        mine = AuditRun.objects.filter(
            pk=self.run_id, state=AuditRun.State.RUNNING, attempts=self.attempt
        )
        if not mine.update(**fields):
            raise RunAborted("Another worker took over this run.")
        self.last_beat = time.monotonic()


def audit_run_execute(*, run_id: int, task_id: str) -> AuditRun | None:
    """Run a queued run once (the task calls this).

    1. Claim the run (conditional UPDATE); a run someone else owns is left alone.
    2. Open the source; a broken source ends the run as `error` with a readable message.
    3. Bind the run to the version it sees: a new fingerprint records a new version first.
    4. Run the data checks (one chunked pass, or pushed-down SQL) and the database checks.
    5. Store results and the final state, log it, and notify on failure, only if still owner.
    """
    attempt = audit_run_claim(run_id=run_id, task_id=task_id)
    if attempt is None:
        logger.info("audit run %s is finished, gone or owned by a live worker", run_id)
        return None
    run = AuditRun.objects.select_related("policy", "dataset", "dataset__connection").get(pk=run_id)
    owner = _Owner(run, attempt)
    try:
        reproduces = run.scope.get(REPRODUCES) if isinstance(run.scope, dict) else None
        if reproduces and run.version_id:  # a past version: its snapshot, never the live file
            source = _reproduction_source(run)
            owner.beat(1, force=True)
            version = previous = run.version
            shared = None
        else:
            source = sources.open_source(run.dataset)
            owner.beat(1, force=True)
            version, previous, shared = _bind_version(run, source, owner)
        owner.beat(5, force=True)
        results, evidence, scope = _run_checks(run, source, version, previous, owner, shared)
        if reproduces:
            scope = {**scope, REPRODUCES: reproduces, "version": run.scope.get("version")}
    except sources.SourceError as exc:
        return audit_run_fail(run_id=run_id, attempt=attempt, message=str(exc))
    except RunAborted as exc:
        if "time limit" in str(exc):
            return audit_run_fail(run_id=run_id, attempt=attempt, message=str(exc))
        logger.info("audit run %s: %s", run_id, exc)
        return None
    except Exception as exc:
        # A bug must not leave the run "running" for the sweeper to retry forever: end it as
        # an error that names the problem, then re-raise so the worker logs the traceback.
        logger.exception("audit run %s failed unexpectedly", run_id)
        audit_run_fail(
            run_id=run_id,
            attempt=attempt,
            message=f"The audit stopped on an internal error ({type(exc).__name__}: "
            f"{str(exc)[:300]}). The administrators can see the details in "
            "the worker log.",
        )
        raise
    return _run_finish(
        run_id=run_id,
        attempt=attempt,
        version=version,
        results=results,
        evidence=evidence,
        scope=scope,
    )


PROFILE_WAIT_SECONDS = 300


def _bind_version(
    run: AuditRun, source: Any, owner: _Owner
) -> tuple[DatasetVersion | None, DatasetVersion | None, SharedPass | None]:
    """Return (version the run reads, the version that was current before it, the checks
    already fed by the profile's parse, or None).

    A new fingerprint records a new version first, through the catalog's profiling; the
    file's data checks ride on the profile's chunks, so the file is parsed once. When
    another worker is already profiling the dataset, wait for it (heartbeating) and bind to
    the version it records; the checks then read the file themselves.
    """
    from catalog.services import dataset_profile

    dataset = run.dataset
    previous = dataset.current_version
    fingerprint = None
    if previous is not None:
        fingerprint = source.fingerprint()
        if previous.fingerprint == fingerprint.sha256:
            return previous, previous, None
    # With no version yet every digest is new: the profile hashes the file beside its parse
    # (and remembers the digest, see FileSource.fingerprint) instead of before it.
    reason = f"audit run {run.pk} saw a new fingerprint"
    shared = SharedPass.start(run, source, previous, owner)
    on_chunk = shared.feed if shared is not None else None
    if dataset_profile(dataset_id=dataset.pk, reason=reason, on_chunk=on_chunk) is None:
        shared = None  # another worker's profile: nothing was fed
        fingerprint = fingerprint or source.fingerprint()  # what the run saw, before waiting
        waited = 0.0
        while Dataset.objects.filter(
            pk=dataset.pk, profile_status=Dataset.ProfileStatus.RUNNING
        ).exists():
            if waited > PROFILE_WAIT_SECONDS:
                raise sources.SourceError(
                    f"{dataset.name} changed and has been profiling for over "
                    f"{PROFILE_WAIT_SECONDS} s; run the audit again once the version is recorded."
                )
            owner.beat(2)
            time.sleep(1.0)
            waited += 1.0
    dataset.refresh_from_db(fields=["current_version", "profile_status", "profile_error"])
    if dataset.profile_status == Dataset.ProfileStatus.FAILED:
        raise sources.SourceError(dataset.profile_error or f"{dataset.name} could not be read.")
    current = DatasetVersion.objects.filter(pk=dataset.current_version_id).first()
    fingerprint = fingerprint or source.fingerprint()  # the profile's digest, remembered
    if current is None or current.fingerprint != fingerprint.sha256:
        raise sources.SourceError(
            "The data changed while it was being read, or it could not be profiled; "
            "the run could not be bound to a version. Try again."
        )
    if shared is not None and shared.failure is not None:
        raise shared.failure  # a check failed (or the run was aborted) during the profile
    return current, previous, shared


def _run_checks(
    run: AuditRun,
    source: Any,
    version: DatasetVersion | None,
    previous: DatasetVersion | None,
    owner: _Owner,
    shared: SharedPass | None = None,
) -> tuple[list, list, dict]:
    from audits.checks.engine import run_on_source
    from audits.checks.sql import run_pushdown
    from audits.governance import access_review_result

    specs = run.checks
    data_specs = [(i, s) for i, s in enumerate(specs) if s["kind"] not in DB_CHECKS]
    found = shared.results_for(run, source, version, previous) if shared is not None else None
    if found is not None:
        ctx = shared.checks.ctx
    else:
        ctx = check_context(
            run, source, version, previous, drift_references(run, version, previous, specs)
        )
    results: dict[int, dict[str, Any]] = {}
    evidence: list[str] = []
    total = version.row_count if version is not None else None

    def progress(percent: int) -> None:  # 0-5 % was opening and binding; checks fill 5-99 %
        owner.beat(5 + percent * 94 // 100)

    if data_specs:
        only = [s for _, s in data_specs]
        if isinstance(source, sources.PostgresSource):
            found, evidence = run_pushdown(source, only, ctx, on_progress=progress)
            scope = {"method": "pushed-down SQL on the whole table", "sample_size": total}
        else:
            if found is None:
                found = run_on_source(source, only, ctx, total_rows=total, on_progress=progress)
            scope = {"method": "one chunked pass over the whole file", "sample_size": total}
        results.update({i: r for (i, _), r in zip(data_specs, found, strict=True)})
    else:
        scope = {"method": "governance records only", "sample_size": None}
    for index, spec in enumerate(specs):
        if spec["kind"] == "access_review":
            results[index] = access_review_result(spec, run.dataset, ctx.now)
    return [results[i] for i in range(len(specs))], evidence, scope


def _result_row(
    run: AuditRun, index: int, spec: dict[str, Any], result: dict[str, Any]
) -> CheckResult:
    observed = result.get("observed_value")
    return CheckResult(
        run=run,
        index=index,
        kind=spec["kind"],
        column=(spec.get("column") or "")[:200],
        label=check_label(spec)[:200],
        success=result["success"],
        severity=result["severity"],
        status=result["status"],
        observed_value=observed,
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        result=result,
    )


@transaction.atomic
def _run_finish(
    *,
    run_id: int,
    attempt: int,
    version: DatasetVersion | None,
    results: list[dict[str, Any]],
    evidence: list[str],
    scope: dict,
) -> AuditRun | None:
    run = (
        # the run's row only: policy and dataset come along for reading, unlocked (every run
        # of a policy shares its row, and two workers must not queue on it)
        AuditRun.objects.select_for_update(of=("self",))
        .select_related("policy", "dataset")
        .filter(pk=run_id, state=AuditRun.State.RUNNING, attempts=attempt)
        .first()
    )
    if run is None:
        logger.info("audit run %s attempt %s lost ownership before finishing", run_id, attempt)
        return None
    CheckResult.objects.filter(run=run).delete()  # none expected; a re-claimed run starts clean
    CheckResult.objects.bulk_create(
        [
            _result_row(run, i, s, r)
            for i, (s, r) in enumerate(zip(run.checks, results, strict=True))
        ]
    )
    stats = suite_statistics(results)
    failed = any(r["status"] in ("fail", "error") for r in results)
    run.state = AuditRun.State.FAILED if failed else AuditRun.State.PASSED
    run.version = version
    run.summary = stats
    run.evidence = evidence
    run.scope = scope
    run.progress = 100
    run.finished_at = timezone.now()
    run.save(
        update_fields=[
            "state",
            "version",
            "summary",
            "evidence",
            "scope",
            "progress",
            "finished_at",
        ]
    )
    _pii_proposals(run, results)
    ledger_record(
        actor=None,
        action="audit_run.finished",
        target=run,
        data={
            "state": run.state,
            "dataset": run.dataset.name,
            "version": version.number if version else None,
            "summary": stats,
        },
    )
    _openlineage_emit(
        run,
        version,
        [
            {
                "assertion": spec.get("name") or spec["kind"],
                "success": bool(result["success"]),
                "column": spec.get("column") or "",
                "severity": result["severity"],
            }
            for spec, result in zip(run.checks, results, strict=True)
            if result["status"] != "not_applicable"
        ],
    )
    if failed and run.policy.notify:
        from audits.tasks import audit_run_notify_task
        from lineage.tasks import downstream_notify_task

        enqueue_on_commit(audit_run_notify_task, run_id=run.pk)
        unsuccessful = [
            check_label(s)
            for s, r in zip(run.checks, results, strict=True)
            if r["status"] in ("fail", "error")
        ]
        enqueue_on_commit(  # impact analysis: owners of what is built from this dataset
            downstream_notify_task,
            dataset_id=run.dataset_id,
            subject=f"Upstream audit failed: {run.dataset.name}",
            message=(
                f"The audit policy {run.policy.name} failed on {run.dataset.name}"
                f"{f' v{version.number}' if version else ''}, which your data depends on. "
                f"Failed checks: {', '.join(unsuccessful)}. Details: "
                f"{run.get_absolute_url()}"
            ),
        )
    return run


def _openlineage_emit(
    run: AuditRun, version: DatasetVersion | None, assertions: list[dict[str, Any]]
) -> None:
    """Report a finished run to CHARTER_OPENLINEAGE_URL after commit (no-op when unset).

    passed and failed runs are COMPLETE events (the job ran; failed checks are assertions with
    success false); a run that ended in error is a FAIL event without assertions.
    """
    from lineage.services import openlineage_emit_quality_run, openlineage_url

    if not openlineage_url():
        return
    openlineage_emit_quality_run(
        dataset=run.dataset,
        dataset_version=version,
        run_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"charter:audit-run:{run.pk}:{run.queued_at}")),
        job_name=f"audit.{run.policy.name}",
        state="FAIL" if run.state == AuditRun.State.ERROR else "COMPLETE",
        started_at=run.started_at or run.queued_at,
        ended_at=run.finished_at,
        assertions=[{k: v for k, v in a.items() if v != ""} for a in assertions],
    )


def _pii_proposals(run: AuditRun, results: list[dict[str, Any]]) -> None:
    rows = [
        row
        for result in results
        if result["kind"] == "pii_scan"
        for row in result["details"].get("columns", [])
        if "proposal" in row
    ]
    if not rows:
        return
    columns = {c.name: c for c in Column.objects.filter(dataset_id=run.dataset_id)}
    # the open proposals on this dataset's columns, in one query (not one per scanned column)
    already_open = set(
        PiiProposal.objects.filter(
            column__dataset_id=run.dataset_id, status=PiiProposal.Status.OPEN
        ).values_list("column_id", "proposed_kind")
    )
    proposals = []
    for row in rows:
        column = columns.get(row["column"])
        if column is None or (column.pk, row["proposal"]) in already_open:
            continue
        evidence = {
            k: row[k] for k in ("score", "match_fraction", "sample_size", "evidence", "validators")
        }
        proposals.append(
            PiiProposal(
                run=run,
                column=column,
                declared_kind=row["declared"],
                proposed_kind=row["proposal"],
                evidence=evidence,
            )
        )
    PiiProposal.objects.bulk_create(proposals)


@transaction.atomic
def audit_run_fail(*, run_id: int, attempt: int | None, message: str) -> AuditRun | None:
    """End a run as `error` with a readable message (broken source, time limit, crash)."""
    runs = (
        AuditRun.objects.select_for_update()
        .filter(pk=run_id)
        .exclude(state__in=AuditRun.FINAL_STATES)
    )
    if attempt is not None:
        runs = runs.filter(attempts=attempt)
    run = runs.select_related("policy", "dataset").first()
    if run is None:
        return None
    run.state = AuditRun.State.ERROR
    run.error_message = message[:2000]
    run.finished_at = timezone.now()
    run.save(update_fields=["state", "error_message", "finished_at"])
    ledger_record(
        actor=None,
        action="audit_run.finished",
        target=run,
        data={"state": run.state, "dataset": run.dataset.name, "error": message[:500]},
    )
    _openlineage_emit(run, run.version, [])  # no check ran to the end: nothing to assert
    if run.policy.notify:
        from audits.tasks import audit_run_notify_task

        enqueue_on_commit(audit_run_notify_task, run_id=run.pk)
    return run


def audit_runs_recover() -> list[int]:
    """Re-queue runs whose worker died (running, heartbeat stale) or whose message was lost."""
    from audits.tasks import audit_run_task

    now = timezone.now()
    stale = now - dt.timedelta(seconds=STALE_SECONDS)
    # A queued run may just be waiting behind others: only a long wait suggests a lost message.
    lost = now - dt.timedelta(seconds=max(STALE_SECONDS * 5, QUEUED_LOST_SECONDS))
    abandoned = Q(state=AuditRun.State.RUNNING, heartbeat_at__lt=stale) | Q(
        state=AuditRun.State.QUEUED, queued_at__lt=lost
    )
    recovered = []
    for run_id in AuditRun.objects.filter(abandoned).values_list("pk", flat=True)[:100]:
        with transaction.atomic():
            if AuditRun.objects.filter(abandoned, pk=run_id).update(
                state=AuditRun.State.QUEUED, heartbeat_at=None, queued_at=timezone.now()
            ):
                enqueue_on_commit(audit_run_task, run_id=run_id)
                recovered.append(run_id)
    return recovered


def audit_run_notify(*, run_id: int) -> int:
    """E-mail the dataset's owner and stewards that a run failed; returns how many were sent."""
    run = AuditRun.objects.select_related("dataset__owner", "policy").filter(pk=run_id).first()
    if run is None or run.state not in (AuditRun.State.FAILED, AuditRun.State.ERROR):
        return 0
    people = [run.dataset.owner] if run.dataset.owner else []
    people += list(run.dataset.stewards.all())
    emails = sorted({p.email for p in people if p.email})
    if not emails:
        return 0
    stats = run.summary or {}
    body = (
        f"The audit policy {run.policy.name} {run.state} on dataset {run.dataset.name}.\n"
        f"Checks evaluated: {stats.get('evaluated', '-')}, unsuccessful: "
        f"{stats.get('unsuccessful', '-')}.\n"
        f"{run.error_message}\n"
        f"Details: {run.get_absolute_url()}\n"
    )
    return send_mail(
        f"[Charter] Audit {run.state}: {run.dataset.name}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        emails,
    )


def error_results_for(specs: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    """Results for a run that could not evaluate anything (used by reports of errored runs)."""
    return [error_result(s, message) for s in specs]
