"""The GDPR Art. 30 record of processing activities: writes go through here, with a ledger entry."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audits.models import ProcessingActivity
from ledger.services import ledger_record

FIELDS = (
    "name",
    "controller",
    "dpo_contact",
    "purposes",
    "lawful_basis",
    "data_subject_categories",
    "personal_data_categories",
    "recipient_categories",
    "third_country_transfers",
    "erasure_time_limits",
    "retention_rule",
    "security_measures",
    "source",
    "owner",
    "last_reviewed_at",
)


@transaction.atomic
def processing_activity_save(*, form: Any, actor: AbstractBaseUser) -> ProcessingActivity:
    """Save a validated ActivityForm (create or edit) and log what changed."""
    creating = form.instance.pk is None
    before = (
        {}
        if creating
        else {
            f: str(getattr(ProcessingActivity.objects.get(pk=form.instance.pk), f)) for f in FIELDS
        }
    )
    activity = form.save()
    after = {f: str(getattr(activity, f)) for f in FIELDS}
    changed = {f: after[f] for f in FIELDS if before.get(f) != after[f]}
    ledger_record(
        actor=actor,
        action="processing_activity.created" if creating else "processing_activity.updated",
        target=activity,
        data={
            "changed": changed,
            "datasets": sorted(activity.datasets.values_list("name", flat=True)),
        },
    )
    return activity
