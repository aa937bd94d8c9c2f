"""Audit policies: what to check, on which datasets, when; kept in step with django-celery-beat."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from audits.checks.specs import CheckSpecError, validate_checks
from audits.models import AuditPolicy
from catalog.models import Dataset, Sensitivity
from ledger.services import ledger_record

FIRE_TASK = "audits.tasks.audit_policy_fire_task"
POLICY_FIELDS = (
    "name",
    "description",
    "checks",
    "dataset",
    "target_tag",
    "target_domain",
    "target_tier",
    "schedule_kind",
    "interval_minutes",
    "cron",
    "enabled",
    "notify",
    "time_limit_seconds",
)


def _cron_fields(cron: str) -> list[str]:
    from celery.schedules import crontab

    parts = cron.split()
    if len(parts) != 5:
        raise ValidationError({"cron": "Use five fields: minute hour day month weekday."})
    try:
        crontab(*parts[:2], day_of_month=parts[2], month_of_year=parts[3], day_of_week=parts[4])
    except (ValueError, TypeError) as exc:
        raise ValidationError({"cron": f"Not a valid cron expression: {exc}"}) from exc
    return parts


def _validate_policy(values: dict[str, Any]) -> dict[str, Any]:
    """Check every field's meaning; raise one ValidationError naming all bad fields."""
    errors: dict[str, list[str]] = {}
    name = (values.get("name") or "").strip()
    values["name"] = name
    if not name:
        errors["name"] = ["Give the policy a name."]
    try:
        values["checks"] = validate_checks(values.get("checks"))
    except CheckSpecError as exc:
        errors["checks"] = exc.messages
    targets = [
        values.get("dataset"),
        values.get("target_tag"),
        values.get("target_domain"),
        values.get("target_tier"),
    ]
    if values.get("dataset") and any(targets[1:]):
        errors["dataset"] = ["Target one dataset, or a selection by tag/domain/tier, not both."]
    elif not any(targets):
        errors["dataset"] = ["Choose a dataset, or a tag, domain or tier to select datasets."]
    if values.get("target_tier") and values["target_tier"] not in Sensitivity.values:
        errors["target_tier"] = [f"Unknown tier {values['target_tier']!r}."]
    kind = values.get("schedule_kind") or AuditPolicy.ScheduleKind.MANUAL
    values["schedule_kind"] = kind
    if kind not in AuditPolicy.ScheduleKind.values:
        errors["schedule_kind"] = [f"Unknown schedule kind {kind!r}."]
    if kind == AuditPolicy.ScheduleKind.INTERVAL and not (values.get("interval_minutes") or 0) >= 1:
        errors["interval_minutes"] = ["Give an interval of at least 1 minute."]
    if kind == AuditPolicy.ScheduleKind.CRON:
        try:
            values["cron"] = " ".join(_cron_fields((values.get("cron") or "").strip()))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    limit = values.get("time_limit_seconds") or 900
    if not 10 <= int(limit) <= 86400:
        errors["time_limit_seconds"] = ["The time limit must be between 10 s and 24 h."]
    values["time_limit_seconds"] = int(limit)
    if errors:
        raise ValidationError(errors)
    return values


def audit_policy_schedule_sync(*, policy: AuditPolicy) -> None:
    """Keep the policy's django-celery-beat PeriodicTask in step with its schedule and state."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    task = policy.periodic_task
    if policy.schedule_kind == AuditPolicy.ScheduleKind.MANUAL:
        if task is not None:
            AuditPolicy.objects.filter(pk=policy.pk).update(periodic_task=None)
            policy.periodic_task = None
            task.delete()
        return
    fields: dict[str, Any] = {"interval": None, "crontab": None}
    if policy.schedule_kind == AuditPolicy.ScheduleKind.INTERVAL:
        fields["interval"], _ = IntervalSchedule.objects.get_or_create(
            every=policy.interval_minutes, period=IntervalSchedule.MINUTES
        )
    else:
        minute, hour, dom, month, dow = policy.cron.split()
        fields["crontab"], _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=dom,
            month_of_year=month,
            day_of_week=dow,
            timezone="UTC",
        )
    fields.update(
        name=f"audit policy {policy.pk}: {policy.name}"[:200],
        task=FIRE_TASK,
        kwargs=json.dumps({"policy_id": policy.pk}),
        enabled=policy.enabled,
        description=f"Runs audit policy {policy.name} ({policy.schedule_label}).",
    )
    if task is None:
        task = PeriodicTask.objects.create(**fields)
        AuditPolicy.objects.filter(pk=policy.pk).update(periodic_task=task)
        policy.periodic_task = task
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()


def _policy_snapshot(policy: AuditPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "checks": policy.checks,
        "target": policy.target_label,
        "schedule": policy.schedule_label,
        "enabled": policy.enabled,
        "notify": policy.notify,
        "time_limit_seconds": policy.time_limit_seconds,
    }


@transaction.atomic
def audit_policy_create(*, actor: AbstractBaseUser | None, **values: Any) -> AuditPolicy:
    """Create a policy from validated values, schedule it, and log it."""
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({"detail": [f"Unknown field(s): {', '.join(sorted(unknown))}."]})
    values = _validate_policy({k: values.get(k) for k in POLICY_FIELDS if k in values})
    if AuditPolicy.objects.filter(name=values["name"]).exists():
        raise ValidationError({"name": [f"A policy named {values['name']} already exists."]})
    values.setdefault("target_tier", "")
    values["target_tier"] = values["target_tier"] or ""
    values["cron"] = values.get("cron") or ""
    policy = AuditPolicy.objects.create(created_by=actor, **values)
    audit_policy_schedule_sync(policy=policy)
    ledger_record(
        actor=actor, action="audit_policy.created", target=policy, data=_policy_snapshot(policy)
    )
    return policy


@transaction.atomic
def audit_policy_update(
    *, policy: AuditPolicy, actor: AbstractBaseUser | None, **changes: Any
) -> AuditPolicy:
    """Change a policy's fields (only those named in POLICY_FIELDS); re-sync its schedule."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({"detail": [f"Unknown field(s): {', '.join(sorted(unknown))}."]})
    before = _policy_snapshot(policy)
    values = {k: getattr(policy, k) for k in POLICY_FIELDS}
    values.update(changes)
    values = _validate_policy(values)
    if AuditPolicy.objects.filter(name=values["name"]).exclude(pk=policy.pk).exists():
        raise ValidationError({"name": [f"A policy named {values['name']} already exists."]})
    values["target_tier"] = values.get("target_tier") or ""
    values["cron"] = values.get("cron") or ""
    for key, value in values.items():
        setattr(policy, key, value)
    policy.save()
    audit_policy_schedule_sync(policy=policy)
    after = _policy_snapshot(policy)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if changed:
        ledger_record(actor=actor, action="audit_policy.updated", target=policy, data=changed)
    return policy


@transaction.atomic
def audit_policy_delete(*, policy: AuditPolicy, actor: AbstractBaseUser | None) -> None:
    """Delete a policy and its schedule; its runs go with it, the ledger keeps the record."""
    ledger_record(
        actor=actor, action="audit_policy.deleted", target=policy, data=_policy_snapshot(policy)
    )
    task = policy.periodic_task
    policy.delete()
    if task is not None:
        task.delete()


def audit_policy_datasets(*, policy: AuditPolicy) -> QuerySet[Dataset]:
    """The datasets a policy targets now (active ones only, for a selection)."""
    if policy.dataset_id:
        return Dataset.objects.filter(pk=policy.dataset_id)
    q = Q(status=Dataset.Status.ACTIVE)
    if policy.target_tag_id:
        q &= Q(tags=policy.target_tag_id)
    if policy.target_domain_id:
        q &= Q(domain=policy.target_domain_id)
    if policy.target_tier:
        q &= Q(sensitivity=policy.target_tier)
    return Dataset.objects.filter(q).distinct().order_by("name")
