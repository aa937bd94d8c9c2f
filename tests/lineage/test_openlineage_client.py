"""The real openlineage-python client (HttpTransport, API key, gzip on and off) against the live
server: a pipeline instrumented with the official client records lineage with no adapter."""

import uuid
from datetime import UTC, datetime

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    schema_dataset,
)
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)

from access.services import api_token_create
from catalog.models import Dataset
from lineage import models as lm

pytestmark = pytest.mark.django_db(transaction=True)
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/test"


def _client(url: str, key: str, *, gzip: bool) -> OpenLineageClient:
    config = HttpConfig(
        url=url,
        auth=ApiKeyTokenProvider({"apiKey": key}),
        compression=HttpCompression.GZIP if gzip else None,
        retry={"total": 0},
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_client_run_lifecycle_records_lineage(live_server, engineer, gzip):
    _, key = api_token_create(user=engineer, name="ol")
    client = _client(live_server.url, key, gzip=gzip)
    run = Run(runId=str(uuid.uuid4()))
    job = Job(namespace="airflow", name="orders_daily")
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name="order_id", type="BIGINT"),
            schema_dataset.SchemaDatasetFacetFields(name="amount", type="NUMERIC"),
        ]
    )
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            "order_id": column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace="postgres://db:5432", name="shop.public.orders", field="id"
                    )
                ],
                transformationDescription="identity",
                transformationType="IDENTITY",
            )
        }
    )
    quality = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[
            data_quality_assertions_dataset.Assertion(
                assertion="not_null", success=True, column="id"
            )
        ]
    )
    inputs = [
        InputDataset(
            namespace="postgres://db:5432",
            name="shop.public.orders",
            inputFacets={"dataQualityAssertions": quality},
        )
    ]
    outputs = [
        OutputDataset(
            namespace="postgres://db:5432",
            name="shop.public.orders_daily",
            facets={"schema": schema, "columnLineage": lineage},
        )
    ]
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=_now(),
                run=run,
                job=job,
                producer=PRODUCER,
                inputs=inputs,
                outputs=outputs,
            )
        )
    stored = lm.Run.objects.get(run_id=run.runId)
    assert stored.state == "COMPLETE" and stored.job.name == "orders_daily"
    daily = Dataset.objects.get(location="postgres://db:5432/shop.public.orders_daily")
    assert daily.status == "discovered"
    assert list(daily.columns.values_list("name", flat=True)) == ["order_id", "amount"]
    assert lm.ColumnLineageEdge.objects.get().dst_column == "order_id"
    assert lm.ExternalQualityResult.objects.get().assertion == "not_null"
    assert lm.LineageEdge.objects.filter(valid_to__isnull=True).count() == 2
    assert lm.LineageEvent.objects.count() == 2


def test_client_dataset_and_job_events_and_duplicates(live_server, engineer):
    _, key = api_token_create(user=engineer, name="ol")
    client = _client(live_server.url, key, gzip=True)
    dataset_event = DatasetEvent(
        eventTime="2026-11-20T10:00:00+00:00",
        producer=PRODUCER,
        dataset=StaticDataset(namespace="s3://bucket", name="landing/customers.parquet"),
    )
    client.emit(dataset_event)
    client.emit(dataset_event)  # the client retries: a redelivery changes nothing
    client.emit(
        JobEvent(
            eventTime=_now(),
            producer=PRODUCER,
            job=Job(namespace="dbt", name="stg_customers"),
            inputs=[InputDataset(namespace="s3://bucket", name="landing/customers.parquet")],
            outputs=[OutputDataset(namespace="s3://bucket", name="staging/customers.parquet")],
        )
    )
    assert lm.LineageEvent.objects.count() == 2
    assert Dataset.objects.filter(status="discovered").count() == 2
    assert lm.LineageEdge.objects.count() == 2 and lm.Run.objects.count() == 0


def test_client_with_a_bad_key_is_refused(live_server, engineer):
    client = _client(live_server.url, "not-a-token", gzip=False)
    with pytest.raises(Exception, match="401|403"):
        client.emit(
            RunEvent(
                eventType=RunState.START,
                eventTime=_now(),
                run=Run(runId=str(uuid.uuid4())),
                job=Job(namespace="a", name="b"),
                producer=PRODUCER,
            )
        )
    assert lm.LineageEvent.objects.count() == 0
