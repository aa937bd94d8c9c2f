"""Browser journey: a pipeline posts OpenLineage events; a steward opens a dataset, sees its
upstream and downstream, expands a node and opens the model version trained on it."""

import uuid

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from access.services import api_token_create
from tests.e2e.conftest import screenshot
from tests.lineage.conftest import make_dataset

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow"


def _emit(client, job: str, inputs, outputs, run_facets=None):
    run = Run(runId=str(uuid.uuid4()), facets=run_facets or {})
    client.emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime="2026-11-20T10:00:00+00:00",
            run=run,
            job=Job(namespace="airflow", name=job),
            producer=PRODUCER,
            inputs=inputs,
            outputs=outputs,
        )
    )


def test_steward_explores_lineage_to_the_model_version(live_server, login, page, steward, engineer):
    orders = make_dataset("orders", location="/data/orders.csv")
    features = make_dataset("order-features", location="/data/order_features.csv")
    _, key = api_token_create(user=engineer, name="airflow")
    client = OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(
                url=live_server.url, auth=ApiKeyTokenProvider({"apiKey": key}), retry={"total": 0}
            )
        )
    )
    _emit(
        client,
        "ingest.orders",
        [InputDataset(namespace="s3://landing", name="orders.json")],
        [OutputDataset(namespace="file", name="/data/orders.csv")],
    )
    _emit(
        client,
        "features.orders",
        [InputDataset(namespace="file", name="/data/orders.csv")],
        [OutputDataset(namespace="file", name="/data/order_features.csv")],
    )
    version = features.current_version
    from openlineage.client.facet_v2 import dataset_version_dataset

    _emit(
        client,
        "train.churn",
        [
            InputDataset(
                namespace="file",
                name="/data/order_features.csv",
                facets={
                    "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                        datasetVersion=version.fingerprint
                    )
                },
            )
        ],
        [],
        run_facets={
            "charter_modelVersion": {
                "_producer": PRODUCER,
                "_schemaURL": "urn:charter",
                "model": "churn",
                "version": "2.1",
            }
        },
    )

    login(steward)
    page.goto(f"{live_server.url}/catalog/datasets/{orders.name}/")
    page.locator(f"a[href='/lineage/datasets/{orders.name}/']").first.click()
    page.wait_for_load_state()
    graph = page.locator("svg.lineage-svg")
    assert graph.locator("text", has_text="ingest.orders").count() == 1  # 1 hop: default depth
    assert graph.locator("text", has_text="order-features").count() == 0  # 2 hops
    assert page.locator("#lg-depth option").all_inner_texts() == ["1", "2", "3"]  # UI max 3
    page.locator("#lg-depth").select_option("2")
    page.locator("#graph form button[type=submit]").click()
    page.wait_for_load_state()
    assert "depth=2" in page.url
    assert graph.locator("text", has_text="ingest.orders").count() == 1  # upstream job
    assert graph.locator("text", has_text="orders.json").count() == 1  # upstream (discovered)
    assert graph.locator("text", has_text="features.orders").count() == 1  # downstream job
    assert graph.locator("text", has_text="order-features").count() == 1  # downstream dataset
    assert graph.locator("text", has_text="churn 2.1").count() == 0  # 4 hops away at depth 2
    screenshot(page, "lineage-dataset")

    page.locator("g.lg-node", has_text="order-features").locator("a.lg-expand").click()
    page.wait_for_load_state()
    assert "expand=dataset" in page.url
    assert page.locator("svg.lineage-svg text", has_text="train.churn").count() == 1
    page.locator("g.lg-node", has_text="train.churn").locator("a.lg-expand").click()
    page.wait_for_load_state()
    model_node = page.locator("g.lg-node", has_text="churn 2.1")
    assert model_node.count() == 1
    screenshot(page, "lineage-expanded")

    model_node.locator("a.lg-open").click()
    page.wait_for_load_state()
    assert page.url.endswith("/lineage/models/churn/versions/2.1/")
    assert page.get_by_role("heading", name="churn").is_visible()
    row = page.locator("#training-data tr", has_text="order-features")
    assert row.count() == 1 and f"v{version.number}" in row.inner_text()
    screenshot(page, "lineage-model-version")
