"""Demo lineage: a small warehouse pipeline posted as OpenLineage events, and a model version.

`seed_lineage_demo()` is idempotent: events are deduplicated by content, and the model version
is registered only once. It uses the catalog demo datasets when they exist (loan-applications,
customers, transactions, country-reference) and discovers the pipeline's outputs.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model

from catalog.models import Dataset
from lineage.ingest import lineage_event_process, lineage_event_receive
from lineage.models import ModelVersion
from lineage.services import model_version_register

SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://github.com/apache/airflow/tree/2.10.0"
NS = "charter-demo"


def _ds(name: str, facets: dict | None = None) -> dict:
    return {"namespace": NS, "name": name, "facets": facets or {}}


def _event(job: str, inputs: list[dict], outputs: list[dict], when: datetime, seq: int) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": when.isoformat(),
        "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"charter-demo/{job}/{seq}"))},
        "job": {"namespace": "airflow", "name": job},
        "inputs": inputs,
        "outputs": outputs,
        "producer": PRODUCER,
        "schemaURL": SCHEMA,
    }


def _map_catalog(names: list[str]) -> None:
    """Name the demo catalog datasets in the demo namespace so events find them."""
    from lineage.models import DatasetRef

    for dataset in Dataset.objects.filter(name__in=names):
        DatasetRef.objects.get_or_create(
            namespace=NS, name=dataset.name, defaults={"dataset": dataset}
        )


def seed_lineage_demo() -> list[str]:
    """Post the demo pipeline's events and register a model version; returns what was created."""
    user = get_user_model().objects.filter(username="engineer").first()
    names = ["loan-applications", "customers", "transactions", "country-reference"]
    _map_catalog(names)
    base = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    schema = {
        "fields": [
            {"name": "customer_id", "type": "BIGINT"},
            {"name": "spend_30d", "type": "NUMERIC"},
            {"name": "country", "type": "TEXT"},
        ]
    }
    column_lineage = {
        "fields": {
            "customer_id": {
                "inputFields": [{"namespace": NS, "name": "transactions", "field": "customer_id"}]
            },
            "country": {
                "inputFields": [{"namespace": NS, "name": "country-reference", "field": "code"}]
            },
        }
    }
    quality = {
        "assertions": [
            {"assertion": "not_null", "success": True, "column": "customer_id"},
            {"assertion": "freshness < 1d", "success": True},
        ]
    }
    events = [
        _event(
            "features.customer_spend",
            [_ds("transactions"), _ds("customers"), _ds("country-reference")],
            [
                _ds(
                    "customer-spend-features",
                    {
                        "schema": schema,
                        "columnLineage": column_lineage,
                        "dataQualityAssertions": quality,
                    },
                )
            ],
            base,
            1,
        ),
        _event(
            "features.loan_training_set",
            [_ds("loan-applications"), _ds("customer-spend-features")],
            [_ds("loan-training-set")],
            base + timedelta(hours=1),
            1,
        ),
        _event(
            "reporting.fraud_daily",
            [_ds("transactions")],
            [_ds("fraud-daily-report")],
            base + timedelta(hours=2),
            1,
        ),
        _event(
            "reporting.exec_dashboard",
            [_ds("fraud-daily-report"), _ds("customer-spend-features")],
            [_ds("exec-dashboard-extract")],
            base + timedelta(hours=3),
            1,
        ),
    ]
    created = []
    for event in events:
        stored, new = lineage_event_receive(
            body=json.dumps(event).encode(), content_encoding="", user=user
        )
        lineage_event_process(event_id=stored.pk)  # synchronous: the worker may not be up yet
        if new:
            created.append(event["job"]["name"])
    loans = (
        Dataset.objects.filter(name="loan-applications").select_related("current_version").first()
    )
    if (
        loans
        and loans.current_version
        and not ModelVersion.objects.filter(model__name="loan-approval").exists()
    ):
        model_version_register(
            model_name="loan-approval",
            version="1.0",
            actor=user,
            description="Gradient-boosted approval model (demo).",
            metrics={"auc": 0.87, "demographic_parity_ratio": 0.71},
            artefact_uri="s3://models/loan-approval/1.0/model.pkl",
            training=[loans.current_version],
        )
        created.append("loan-approval 1.0")
    return created
