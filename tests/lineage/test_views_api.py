"""Lineage pages and API: graph with redaction, impact, registry, training data, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Sensitivity
from lineage import clearance
from lineage.clearance import Finding
from lineage.models import EdgeKind, Job, ModelVersion, NodeKind
from lineage.services import edges_upsert, model_version_register
from tests.lineage.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph(engineer):
    """raw -> clean-job -> clean -> (trained) churn 1.0; secret -> clean-job (restricted)."""
    raw, clean = make_dataset("raw"), make_dataset("clean")
    secret = make_dataset("secret", sensitivity=Sensitivity.RESTRICTED)
    job = Job.objects.create(namespace="airflow", name="clean-job")
    edges_upsert(
        edges=[
            (NodeKind.DATASET, raw.pk, NodeKind.JOB, job.pk, EdgeKind.READ, None),
            (NodeKind.DATASET, secret.pk, NodeKind.JOB, job.pk, EdgeKind.READ, None),
            (NodeKind.JOB, job.pk, NodeKind.DATASET, clean.pk, EdgeKind.WROTE, None),
        ],
        run=None,
        at=timezone.now(),
    )
    mv = model_version_register(
        model_name="churn",
        version="1.0",
        actor=engineer,
        training=[clean.current_version],
        metrics={"auc": 0.8},
    )
    return {"raw": raw, "clean": clean, "secret": secret, "job": job, "mv": mv}


def test_dataset_lineage_page_draws_graph_with_redacted_placeholder(client, engineer, graph):
    client.force_login(engineer)
    response = client.get(f"/lineage/datasets/{graph['clean'].name}/?depth=3")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "clean-job" in html and "churn 1.0" in html
    assert "secret" not in html and "(hidden)" in html
    assert "lineage-graph.js" in html and "<script>" not in html


def test_expand_adds_a_nodes_neighbours(client, engineer, graph):
    client.force_login(engineer)

    def svg(url):
        return client.get(url).content.decode().split("<svg", 1)[1].split("</svg>", 1)[0]

    plain = svg(f"/lineage/datasets/{graph['raw'].name}/?depth=1")
    assert "churn 1.0" not in plain
    assert ">clean<" not in plain
    expanded = svg(f"/lineage/datasets/{graph['raw'].name}/?depth=1&expand=job:{graph['job'].pk}")
    assert ">clean<" in expanded and "churn 1.0" not in expanded
    expanded = svg(
        f"/lineage/datasets/{graph['raw'].name}/?depth=1&expand=job:{graph['job'].pk}"
        f"&expand=dataset:{graph['clean'].pk}"
    )
    assert "churn 1.0" in expanded


def test_invisible_dataset_lineage_page_is_404(client, engineer, graph):
    client.force_login(engineer)
    assert client.get("/lineage/datasets/secret/").status_code == 404
    assert client.get("/api/v1/lineage?node=dataset:secret").status_code == 404


def _fan_out(source, prefix: str, n: int):
    job = Job.objects.create(namespace="airflow", name=f"{prefix}-job")
    extra = [make_dataset(f"{prefix}-{i}") for i in range(n)]
    edges_upsert(
        edges=[(NodeKind.DATASET, source.pk, NodeKind.JOB, job.pk, EdgeKind.READ, None)]
        + [(NodeKind.JOB, job.pk, NodeKind.DATASET, d.pk, EdgeKind.WROTE, None) for d in extra],
        run=None,
        at=timezone.now(),
    )


def test_dataset_page_query_count_is_flat(client, engineer, graph):
    client.force_login(engineer)
    url = f"/lineage/datasets/{graph['clean'].name}/?depth=5"
    _fan_out(graph["clean"], "first", 1)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    _fan_out(graph["clean"], "extra", 15)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert "extra-14" in response.content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)


def test_graph_api_redacts_and_reports_edges(client, engineer, graph):
    client.force_login(engineer)
    data = client.get(f"/api/v1/lineage?node=dataset:{graph['clean'].name}&depth=3").json()
    names = {n["name"] for n in data["nodes"]}
    assert {"raw", "clean", "clean-job", "churn 1.0"} <= names and "secret" not in names
    assert sum(1 for n in data["nodes"] if n["redacted"]) == 1
    assert {e["kind"] for e in data["edges"]} == {"read", "wrote", "trained_on"}
    up = client.get(
        f"/api/v1/lineage?node=dataset:{graph['clean'].name}&direction=upstream&depth=1"
    ).json()
    assert {n["kind"] for n in up["nodes"]} == {"dataset", "job"} and len(up["nodes"]) == 2
    bad = client.get(f"/api/v1/lineage?node=dataset:{graph['clean'].name}&direction=sideways")
    assert bad.status_code == 400


def test_graph_api_default_depth_is_one_hop(client, engineer, graph):
    client.force_login(engineer)
    default = client.get(f"/api/v1/lineage?node=dataset:{graph['clean'].name}").json()
    one = client.get(f"/api/v1/lineage?node=dataset:{graph['clean'].name}&depth=1").json()
    deeper = client.get(f"/api/v1/lineage?node=dataset:{graph['clean'].name}&depth=3").json()
    assert default == one
    assert len(deeper["nodes"]) > len(one["nodes"])


def test_impact_api(client, engineer, graph):
    client.force_login(engineer)
    data = client.get(f"/api/v1/lineage/impact?node=dataset:{graph['raw'].name}").json()
    assert [d["name"] for d in data["datasets"]] == ["clean"]
    assert [m["name"] for m in data["model_versions"]] == ["churn 1.0"]
    assert data["owners"] == ["eddie"] and data["truncated"] is False
    assert data["counts"] == {"datasets": 1, "jobs": 1, "model_versions": 1}


def test_impact_api_pages_each_kind(client, engineer, graph):
    client.force_login(engineer)
    url = f"/api/v1/lineage/impact?node=dataset:{graph['raw'].name}"
    data = client.get(f"{url}&limit=0").json()
    assert data["datasets"] == data["jobs"] == data["model_versions"] == []
    assert data["total"] == 3 and data["counts"]["jobs"] == 1
    assert [j["name"] for j in client.get(f"{url}&offset=0&limit=1").json()["jobs"]] == [
        "clean-job"
    ]
    assert client.get(f"{url}&offset=1").json()["jobs"] == []
    assert client.get(f"{url}&limit=many").status_code == 400


def test_impact_on_the_dataset_page_shows_counts(client, engineer, graph):
    client.force_login(engineer)
    html = client.get(f"/lineage/datasets/{graph['raw'].name}/").content.decode()
    assert "3 downstream nodes" in html and "Jobs (1)" in html and "Datasets (1)" in html


def test_register_model_version_via_api(client, engineer, graph):
    client.force_login(engineer)
    raw = graph["raw"]
    payload = {
        "version": "2.0",
        "metrics": {"auc": 0.85},
        "artefact_uri": "s3://models/churn/2",
        "training": [{"dataset": "clean", "version": 1}],
        "evaluation": [{"dataset": "raw", "fingerprint": raw.current_version.fingerprint}],
    }
    response = client.post(
        "/api/v1/models/churn/versions/", payload, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert {d["role"] for d in response.json()["data"]} == {"training", "evaluation"}
    again = client.post("/api/v1/models/churn/versions/", payload, content_type="application/json")
    assert again.status_code == 400 and "already registered" in again.content.decode()
    unknown = client.post(
        "/api/v1/models/churn/versions/",
        {**payload, "version": "3", "training": [{"dataset": "secret", "version": 1}]},
        content_type="application/json",
    )
    assert unknown.status_code == 400 and "Unknown dataset version" in unknown.content.decode()
    assert not ModelVersion.objects.filter(version="3").exists()


def test_compliance_may_not_register(client, compliance, graph):
    client.force_login(compliance)
    response = client.post(
        "/api/v1/models/churn/versions/",
        {"version": "9", "training": [{"dataset": "clean", "version": 1}]},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_training_data_respects_grants(client, engineer, steward, graph):
    mv = model_version_register(
        model_name="churn",
        version="2.0",
        actor=steward,
        training=[graph["clean"].current_version, graph["secret"].current_version],
    )
    client.force_login(engineer)
    data = client.get(f"/api/v1/models/churn/versions/{mv.version}/training-data").json()["data"]
    shown = [d for d in data if not d.get("redacted")]
    assert len(shown) == 1 and shown[0]["dataset"] == "clean" and shown[0]["readable"] is False
    assert any(d.get("redacted") for d in data)
    page = client.get(f"/lineage/models/churn/versions/{mv.version}/").content.decode()
    assert "secret" not in page and "A dataset you may not see" in page


def test_clearance_uses_registered_providers(client, engineer, graph, monkeypatch):
    client.force_login(engineer)
    dv = graph["clean"].current_version
    before = client.get("/api/v1/lineage/clearance?dataset=clean").json()
    assert before["cleared"] is False
    assert any("No audit evidence" in f["message"] for f in before["findings"])

    def ok(check):
        return lambda versions: {v.pk: Finding(check, True, f"{check} fine") for v in versions}

    # setitem restores whatever was registered before (the audits app's real providers)
    monkeypatch.setitem(clearance._providers, "audits", ok("audits"))
    monkeypatch.setitem(clearance._providers, "issue_reports", ok("issue_reports"))
    after = client.get("/api/v1/lineage/clearance?dataset=clean&version=1").json()
    assert after["cleared"] is True and after["version"] == dv.number


def test_model_pages_and_register_form(client, engineer, graph):
    client.force_login(engineer)
    assert "churn" in client.get("/lineage/").content.decode()
    assert "1.0" in client.get("/lineage/models/churn/").content.decode()
    page = client.get("/lineage/models/churn/versions/1.0/").content.decode()
    assert "auc" in page and "clean" in page
    form = client.get("/lineage/models/register/")
    assert form.status_code == 200
    bad = client.post(
        "/lineage/models/register/",
        {
            "model": "churn",
            "version": "1.0",
            "training": [graph["clean"].current_version.pk],
            "metrics": "[1]",
        },
    )
    assert "Metrics must be a JSON object" in bad.content.decode()
    dup = client.post(
        "/lineage/models/register/",
        {"model": "churn", "version": "1.0", "training": [graph["clean"].current_version.pk]},
    )
    assert "already registered" in dup.content.decode()
    ok = client.post(
        "/lineage/models/register/",
        {"model": "churn", "version": "1.1", "training": [graph["clean"].current_version.pk]},
    )
    assert ok.status_code == 302 and ok["Location"] == "/lineage/models/churn/versions/1.1/"


def test_outsider_cannot_register_model(client, outsider):
    client.force_login(outsider)
    assert client.get("/lineage/models/register/").status_code == 403


def test_column_lineage_api(client, engineer, graph):
    client.force_login(engineer)
    response = client.get("/api/v1/lineage/columns?dataset=clean&column=id&direction=upstream")
    assert response.status_code == 200 and response.json()["edges"] == []
    assert client.get("/api/v1/lineage/columns?dataset=clean").status_code == 400


def test_runs_and_models_lists(client, engineer, graph):
    client.force_login(engineer)
    assert client.get("/api/v1/lineage/runs/").status_code == 200
    assert client.get("/api/v1/models/").json()["results"][0]["name"] == "churn"
    versions = client.get("/api/v1/models/churn/versions/").json()["results"]
    assert versions[0]["data"][0]["dataset"] == "clean"


def test_column_lineage_on_the_dataset_tab(client, engineer, graph):
    from catalog.models import Column
    from lineage.models import ColumnLineageEdge

    Column.objects.create(dataset=graph["clean"], name="cid", position=0)
    now = timezone.now()
    ColumnLineageEdge.objects.create(
        src_dataset=graph["raw"],
        src_column="id",
        dst_dataset=graph["clean"],
        dst_column="cid",
        created_at=now,
    )
    ColumnLineageEdge.objects.create(
        src_dataset=graph["secret"],
        src_column="ssn",
        dst_dataset=graph["clean"],
        dst_column="cid",
        created_at=now,
    )
    client.force_login(engineer)
    page = client.get("/lineage/datasets/clean/?column=cid").content.decode()
    section = page.split('id="column-lineage"', 1)[1]
    assert "raw</a>.<code>id</code>" in section
    assert "ssn" not in section and "a column of a dataset you may not see" in section


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as ctx:
        call()
    return len(ctx.captured_queries)


def test_registry_lists_have_flat_query_counts(client, engineer, graph):
    client.force_login(engineer)
    clean = graph["clean"].current_version
    urls = [
        "/api/v1/models/",
        "/api/v1/models/churn/versions/",
        "/lineage/",
        "/lineage/models/",
        "/lineage/models/churn/",
        "/api/v1/lineage/runs/",
    ]
    for url in urls:
        client.get(url)
    few = {url: _queries(lambda url=url: client.get(url)) for url in urls}
    for i in range(8):
        model_version_register(model_name=f"m{i}", version="1", actor=engineer, training=[clean])
        model_version_register(
            model_name="churn",
            version=f"1.{i + 1}",
            actor=engineer,
            training=[clean, graph["raw"].current_version],
        )
    many = {url: _queries(lambda url=url: client.get(url)) for url in urls}
    assert many == few
    assert client.get("/api/v1/models/churn/").json()["version_count"] == 9
