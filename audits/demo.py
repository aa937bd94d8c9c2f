"""Demo audits: policies on the catalog's demo datasets, one run each, and an Art. 30 record.

Idempotent: policies and the processing activity are created only when absent, and runs are
made only for a policy that has none. The runs execute here, synchronously (the worker may not
be up yet); their queued messages find them finished and do nothing.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model

from audits import services
from audits.models import AuditPolicy, AuditRun, ProcessingActivity
from catalog.models import Dataset, LegalBasis, Tag

logger = logging.getLogger(__name__)
User = get_user_model()

POLICIES = [
    {
        "name": "loan-applications fairness and quality",
        "dataset": "loan-applications",
        "schedule_kind": "cron",
        "cron": "0 3 * * *",
        "checks": [
            {
                "kind": "fairness",
                "label": "approved",
                "prediction": "predicted",
                "protected": ["sex"],
                "privileged": "M",
            },
            {"kind": "not_null", "column": "credit_score", "mostly": 0.98},
            {"kind": "range", "column": "age", "min_value": 18, "max_value": 100},
            {"kind": "unique", "column": "application_id"},
            {"kind": "allowed_values", "column": "approved", "value_set": [0, 1]},
            {"kind": "distribution_drift", "column": "income"},
            {"kind": "schema_drift"},
        ],
    },
    {
        "name": "customers privacy review",
        "dataset": "customers",
        "schedule_kind": "cron",
        "cron": "30 2 * * 1",
        "checks": [
            {"kind": "pii_scan"},
            {"kind": "retention", "date_column": "signup_date"},
            {"kind": "access_review", "unused_days": 60, "pending_days": 5},
            {"kind": "regex", "column": "email", "regex": r"[^@\s]+@[^@\s]+\.[a-z]{2,}"},
        ],
    },
    {
        "name": "ml-training freshness and volume",
        "tag": "ml-training",
        "schedule_kind": "interval",
        "interval_minutes": 60,
        "checks": [
            {"kind": "row_count", "min_value": 100},
            {"kind": "schema_drift", "reordered": "ignore"},
        ],
    },
]


def _target(spec: dict) -> dict | None:
    if "dataset" in spec:
        dataset = Dataset.objects.filter(name=spec["dataset"]).first()
        return {"dataset": dataset} if dataset else None
    tag = Tag.objects.filter(name=spec["tag"]).first()
    return {"target_tag": tag} if tag else None


def seed_audits_demo() -> list[str]:
    """Create the demo policies (with one finished run each) and a processing activity."""
    steward = User.objects.filter(username="steward").first()
    created = []
    for spec in POLICIES:
        target = _target(spec)
        if target is None or AuditPolicy.objects.filter(name=spec["name"]).exists():
            continue
        values = {k: v for k, v in spec.items() if k not in ("dataset", "tag")}
        policy = services.audit_policy_create(actor=steward, **values, **target)
        created.append(policy.name)
        for run in services.audit_run_request(policy=policy, actor=steward):
            services.audit_run_execute(run_id=run.pk, task_id=f"demo-{run.pk}")
    _activity(steward)
    logger.info("audit runs in the demo: %s", AuditRun.objects.count())
    return created


def _activity(owner) -> None:
    if ProcessingActivity.objects.exists():
        return
    activity = ProcessingActivity.objects.create(
        name="Credit decisioning",
        controller="Charter Demo Bank plc, 1 Example Street, London; privacy@bank.example",
        dpo_contact="Data Protection Officer, dpo@bank.example",
        purposes="Assess loan applications and train the credit approval model.",
        lawful_basis=LegalBasis.CONTRACT,
        data_subject_categories="Loan applicants; customers",
        personal_data_categories="Identity and contact details, age, sex, income, credit history",
        recipient_categories="Credit reference agencies; internal risk and ML teams",
        third_country_transfers="None",
        erasure_time_limits="6 years after the end of the customer relationship",
        retention_rule="Applications kept 6 years; training extracts 2 years",
        security_measures="Role-based access with approvals, masking of PII, encryption at rest, "
        "audit log with hash chain",
        source="Collected from applicants; credit reference agencies",
        owner=owner,
    )
    activity.datasets.set(Dataset.objects.filter(name__in=["loan-applications", "customers"]))
