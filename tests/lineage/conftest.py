"""Lineage fixtures: catalog rows built plainly, tokens through the access service."""

import hashlib
import itertools
import json
import uuid

import pytest

from access.services import api_token_create
from catalog.models import Dataset, DatasetVersion, Sensitivity

_counter = itertools.count(1)


def make_dataset(
    name: str | None = None,
    *,
    sensitivity: str = Sensitivity.INTERNAL,
    owner=None,
    location: str = "",
    versions: int = 1,
) -> Dataset:
    name = name or f"ds-{next(_counter)}"
    ds = Dataset.objects.create(
        name=name,
        source_kind=Dataset.SourceKind.FILE,
        location=location or f"/data/{name}.csv",
        sensitivity=sensitivity,
        owner=owner,
    )
    for n in range(1, versions + 1):
        dv = DatasetVersion.objects.create(
            dataset=ds,
            number=n,
            fingerprint=hashlib.sha256(f"{name}-{n}".encode()).hexdigest(),
            row_count=100 * n,
        )
        ds.current_version = dv
    ds.save(update_fields=["current_version"])
    return ds


SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/0.0.1/client"


def run_event(
    *,
    event_type: str = "COMPLETE",
    run_id: str | None = None,
    job: str = "etl.orders",
    inputs=(),
    outputs=(),
    time: str = "2026-11-20T10:00:00.000Z",
    run_facets=None,
) -> dict:
    """A RunEvent shaped like the spec's own example."""
    return {
        "eventType": event_type,
        "eventTime": time,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": "my-scheduler-namespace", "name": job, "facets": {}},
        "inputs": [
            ds if isinstance(ds, dict) else {"namespace": "file", "name": ds} for ds in inputs
        ],
        "outputs": [
            ds if isinstance(ds, dict) else {"namespace": "file", "name": ds} for ds in outputs
        ],
        "producer": PRODUCER,
        "schemaURL": SCHEMA + "RunEvent",
    }


def post(client, event, **extra):
    body = event if isinstance(event, (bytes, str)) else json.dumps(event)
    return client.post("/api/v1/lineage", data=body, content_type="application/json", **extra)


@pytest.fixture
def token(engineer):
    _, raw = api_token_create(user=engineer, name="pipeline")
    return raw


@pytest.fixture
def pipeline(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client
