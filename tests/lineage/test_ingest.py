"""OpenLineage ingestion at POST /api/v1/lineage: spec events, duplicates, errors, gzip."""

import gzip
import json
import uuid

import pytest

from catalog.models import Column, Dataset, Sensitivity
from ledger.models import Event
from lineage.models import (
    ColumnLineageEdge,
    DatasetRef,
    ExternalQualityResult,
    Job,
    LineageEdge,
    LineageEvent,
    Run,
)
from tests.lineage.conftest import SCHEMA, make_dataset, post, run_event

pytestmark = pytest.mark.django_db


def test_run_event_from_spec_example_builds_job_run_and_edges(
    pipeline, django_capture_on_commit_callbacks
):
    event = run_event(event_type="START", inputs=["/data/orders.csv"], outputs=["/data/daily.csv"])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(pipeline, event)
    assert response.status_code == 201, response.content
    job = Job.objects.get(name="etl.orders")
    run = Run.objects.get(job=job)
    assert run.state == "START" and run.started_at is not None
    assert LineageEdge.objects.filter(kind="read", dst_kind="job", dst_id=job.pk).count() == 1
    assert LineageEdge.objects.filter(kind="wrote", src_kind="job", src_id=job.pk).count() == 1
    discovered = Dataset.objects.get(location="file//data/orders.csv")
    assert discovered.status == "discovered" and discovered.source_kind == "external"
    assert Event.objects.filter(action="dataset.discovered", target_id=str(discovered.pk)).exists()
    assert DatasetRef.objects.filter(namespace="file", name="/data/orders.csv").exists()


def test_duplicate_delivery_changes_nothing(pipeline, django_capture_on_commit_callbacks):
    event = run_event(inputs=["/data/a.csv"], outputs=["/data/b.csv"])
    with django_capture_on_commit_callbacks(execute=True):
        first = post(pipeline, event)
    counts = (
        LineageEvent.objects.count(),
        LineageEdge.objects.count(),
        Event.objects.count(),
        Dataset.objects.count(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = post(pipeline, event)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["duplicate"] is True
    assert (
        LineageEvent.objects.count(),
        LineageEdge.objects.count(),
        Event.objects.count(),
        Dataset.objects.count(),
    ) == counts


def test_run_state_follows_event_time_not_arrival_order(
    pipeline, django_capture_on_commit_callbacks
):
    complete = run_event(run_id="3f5e83fa-3480-44ff-99c5-ff943904e5e8", time="2026-11-20T11:00:00Z")
    start = run_event(
        event_type="START",
        run_id="3f5e83fa-3480-44ff-99c5-ff943904e5e8",
        time="2026-11-20T10:00:00Z",
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(pipeline, complete)
        post(pipeline, start)
    run = Run.objects.get()
    assert run.state == "COMPLETE"
    assert run.started_at.hour == 10 and run.ended_at.hour == 11


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (
            json.dumps({**run_event(), "schemaURL": "https://x/OpenLineage.json#/$defs/Nope"}),
            "schemaURL",
        ),
        (json.dumps({k: v for k, v in run_event().items() if k != "run"}), "run is required"),
        (json.dumps({**run_event(), "run": {"runId": "not-a-uuid"}}), "UUID"),
        (json.dumps({**run_event(), "eventType": "DONE"}), "eventType"),
        (json.dumps({**run_event(), "eventTime": "yesterday"}), "eventTime"),
        (json.dumps({**run_event(), "inputs": [{"namespace": "file"}]}), "inputs[0].name"),
        (
            json.dumps({**run_event(), "job": {"namespace": "x", "name": "y", "facets": []}}),
            "job.facets",
        ),
    ],
)
def test_malformed_event_is_400_with_reason_and_stores_nothing(pipeline, body, reason):
    response = post(pipeline, body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert LineageEvent.objects.count() == 0 and Job.objects.count() == 0


def test_gzip_body_is_accepted(pipeline, django_capture_on_commit_callbacks):
    body = gzip.compress(json.dumps(run_event(outputs=["/data/z.csv"])).encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = pipeline.post(
            "/api/v1/lineage",
            data=body,
            content_type="application/json",
            HTTP_CONTENT_ENCODING="gzip",
        )
    assert response.status_code == 201, response.content
    assert Run.objects.count() == 1


def test_gzip_bomb_is_refused(pipeline, settings):
    settings.CHARTER_OPENLINEAGE_MAX_BYTES = 10_000
    bomb = gzip.compress(b" " * 5_000_000)
    response = pipeline.post(
        "/api/v1/lineage", data=bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 400
    assert "larger than 10000 bytes" in response.json()["detail"]
    assert LineageEvent.objects.count() == 0


def test_bad_gzip_is_400(pipeline):
    response = pipeline.post(
        "/api/v1/lineage",
        data=b"nope",
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 400 and "gzip" in response.json()["detail"]


def test_path_has_no_trailing_slash_and_post_is_not_redirected(pipeline):
    response = post(pipeline, run_event())
    assert response.status_code == 201
    assert (
        pipeline.post("/api/v1/lineage/", data="{}", content_type="application/json").status_code
        == 404
    )


def test_anonymous_is_401_and_roleless_user_is_403(api_client, outsider):
    assert post(api_client, run_event()).status_code in (401, 403)
    api_client.force_authenticate(outsider)
    assert post(api_client, run_event()).status_code == 403
    assert LineageEvent.objects.count() == 0


def test_dataset_and_job_events(pipeline, django_capture_on_commit_callbacks):
    dataset_event = {
        "eventTime": "2026-11-20T10:00:00Z",
        "producer": "p",
        "schemaURL": SCHEMA + "DatasetEvent",
        "dataset": {
            "namespace": "postgres://db:5432",
            "name": "shop.public.customers",
            "facets": {
                "schema": {
                    "_producer": "p",
                    "_schemaURL": "s",
                    "fields": [
                        {"name": "id", "type": "integer"},
                        {"name": "email", "type": "text"},
                    ],
                }
            },
        },
    }
    job_event = {
        "eventTime": "2026-11-20T10:00:00Z",
        "producer": "p",
        "schemaURL": SCHEMA + "JobEvent",
        "job": {"namespace": "dbt", "name": "customers_clean"},
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.customers"}],
        "outputs": [{"namespace": "postgres://db:5432", "name": "shop.public.customers_clean"}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert post(pipeline, dataset_event).status_code == 201
        assert post(pipeline, job_event).status_code == 201
    ds = Dataset.objects.get(location="postgres://db:5432/shop.public.customers")
    assert list(ds.columns.values_list("name", "data_type")) == [
        ("id", "integer"),
        ("email", "text"),
    ]
    assert Run.objects.count() == 0
    assert LineageEdge.objects.filter(kind="read").count() == 1


def test_event_type_of_job_event_rejects_event_type(pipeline):
    event = {
        "eventTime": "2026-11-20T10:00:00Z",
        "producer": "p",
        "schemaURL": SCHEMA + "JobEvent",
        "eventType": "START",
        "job": {"namespace": "a", "name": "b"},
    }
    assert post(pipeline, event).status_code == 400


def test_unknown_facets_are_kept(pipeline, django_capture_on_commit_callbacks):
    event = run_event(
        run_facets={"acme_cost": {"_producer": "acme", "_schemaURL": "x", "usd": 3.2}}
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(pipeline, event)
    assert Run.objects.get().facets["acme_cost"]["usd"] == 3.2
    assert LineageEvent.objects.get().payload["run"]["facets"]["acme_cost"]["usd"] == 3.2


def test_column_lineage_and_quality_facets(pipeline, django_capture_on_commit_callbacks):
    source = {
        "namespace": "file",
        "name": "/data/raw.csv",
        "inputFacets": {
            "dataQualityAssertions": {
                "_producer": "gx",
                "_schemaURL": "s",
                "assertions": [
                    {"assertion": "not_null", "success": True, "column": "id"},
                    {"assertion": "is_unique", "success": False, "column": "id"},
                ],
            },
            "dataQualityMetrics": {
                "_producer": "gx",
                "_schemaURL": "s",
                "rowCount": 10,
                "columnMetrics": {"id": {"nullCount": 0}},
            },
        },
    }
    target = {
        "namespace": "file",
        "name": "/data/clean.csv",
        "facets": {
            "columnLineage": {
                "_producer": "p",
                "_schemaURL": "s",
                "fields": {
                    "customer_id": {
                        "inputFields": [
                            {"namespace": "file", "name": "/data/raw.csv", "field": "id"}
                        ]
                    }
                },
            }
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        post(pipeline, run_event(inputs=[source], outputs=[target]))
    raw = Dataset.objects.get(location="file//data/raw.csv")
    clean = Dataset.objects.get(location="file//data/clean.csv")
    edge = ColumnLineageEdge.objects.get()
    assert (edge.src_dataset, edge.src_column, edge.dst_dataset, edge.dst_column) == (
        raw,
        "id",
        clean,
        "customer_id",
    )
    results = ExternalQualityResult.objects.filter(dataset=raw)
    assert results.filter(kind="assertion").count() == 2
    assert results.filter(kind="assertion", success=False).get().assertion == "is_unique"
    assert results.get(kind="metrics").metrics["rowCount"] == 10


def test_existing_dataset_is_matched_by_location(pipeline, django_capture_on_commit_callbacks):
    ds = make_dataset("orders", location="/data/orders.csv")
    with django_capture_on_commit_callbacks(execute=True):
        post(pipeline, run_event(inputs=["/data/orders.csv"]))
    assert DatasetRef.objects.get(name="/data/orders.csv").dataset == ds
    assert Dataset.objects.count() == 1


def test_invisible_dataset_is_neither_linked_nor_revealed(
    pipeline, steward, django_capture_on_commit_callbacks
):
    secret = make_dataset("secret", sensitivity=Sensitivity.RESTRICTED, location="/data/secret.csv")
    event = run_event(
        inputs=[
            {
                "namespace": "file",
                "name": "/data/secret.csv",
                "facets": {
                    "schema": {
                        "_producer": "p",
                        "_schemaURL": "s",
                        "fields": [{"name": "ssn", "type": "text"}],
                    }
                },
            }
        ],
        outputs=["/data/out.csv"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post(pipeline, event)
    assert response.status_code == 201
    assert "secret" not in response.content.decode()
    assert not LineageEdge.objects.filter(src_kind="dataset", src_id=secret.pk).exists()
    assert not Column.objects.filter(dataset=secret).exists()
    assert not DatasetRef.objects.filter(dataset=secret).exists()
    assert "not visible" in LineageEvent.objects.get().notes[0]


def test_schema_facet_does_not_change_an_adopted_dataset_the_poster_does_not_own(
    pipeline, django_capture_on_commit_callbacks
):
    ds = make_dataset("orders", location="/data/orders.csv")
    Column.objects.create(dataset=ds, name="id", position=0, data_type="bigint")
    event = run_event(
        outputs=[
            {
                "namespace": "file",
                "name": "/data/orders.csv",
                "facets": {
                    "schema": {
                        "_producer": "p",
                        "_schemaURL": "s",
                        "fields": [{"name": "id", "type": "text"}],
                    }
                },
            }
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(pipeline, event)
    assert Column.objects.get(dataset=ds).data_type == "bigint"
    assert any("schema facet not applied" in n for n in LineageEvent.objects.get().notes)


def test_complete_closes_edges_the_job_no_longer_has(pipeline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(
            pipeline,
            run_event(
                inputs=["/data/a.csv"], outputs=["/data/out.csv"], time="2026-11-20T10:00:00Z"
            ),
        )
        post(
            pipeline,
            run_event(
                inputs=["/data/b.csv"], outputs=["/data/out.csv"], time="2026-11-21T10:00:00Z"
            ),
        )
    a = Dataset.objects.get(location="file//data/a.csv")
    edge = LineageEdge.objects.get(src_kind="dataset", src_id=a.pk)
    assert edge.valid_to is not None
    assert LineageEdge.objects.filter(valid_to__isnull=True).count() == 2


def test_version_facet_and_model_facet_register_model_version(
    pipeline, django_capture_on_commit_callbacks
):
    ds = make_dataset("train-set", location="/data/train.csv", versions=2)
    v1 = ds.versions.get(number=1)
    event = run_event(
        inputs=[
            {
                "namespace": "file",
                "name": "/data/train.csv",
                "facets": {
                    "version": {
                        "_producer": "p",
                        "_schemaURL": "s",
                        "datasetVersion": v1.fingerprint,
                    }
                },
            }
        ],
        run_facets={
            "charter_modelVersion": {
                "_producer": "p",
                "_schemaURL": "s",
                "model": "churn",
                "version": "1.0",
                "metrics": {"auc": 0.9},
            }
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(pipeline, event)
    from lineage.models import ModelVersion

    mv = ModelVersion.objects.get(model__name="churn", version="1.0")
    assert [d.dataset_version for d in mv.data.all()] == [v1]
    assert mv.metrics == {"auc": 0.9}
    assert LineageEdge.objects.get(kind="trained_on").dataset_version == v1
    assert Event.objects.filter(action="model_version.registered").count() == 1


def test_overlong_names_are_400(pipeline):
    event = run_event(inputs=[{"namespace": "file", "name": "x" * 1001}])
    response = post(pipeline, event)
    assert response.status_code == 400 and "longer than 1000" in response.json()["detail"]


def test_a_processing_failure_marks_the_event_failed(pipeline, monkeypatch):
    from lineage import ingest

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest, "_process_job_event", boom)
    with pytest.raises(RuntimeError):
        from django.db import transaction

        with transaction.atomic():
            event, _ = ingest.lineage_event_receive(
                body=json.dumps(run_event()).encode(), content_encoding="", user=None
            )
        ingest.lineage_event_process(event_id=event.pk)
    stored = LineageEvent.objects.get()
    assert stored.status == "failed" and "disk on fire" in stored.notes[0]


def test_a_failed_event_is_processed_on_retry(pipeline, monkeypatch):
    from django.db import transaction

    from lineage import ingest

    real = ingest._process_job_event
    calls = []

    def flaky(ctx, parsed):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("race lost")
        return real(ctx, parsed)

    monkeypatch.setattr(ingest, "_process_job_event", flaky)
    with transaction.atomic():
        event, _ = ingest.lineage_event_receive(
            body=json.dumps(run_event(outputs=["/data/r.csv"])).encode(),
            content_encoding="",
            user=None,
        )
    with pytest.raises(RuntimeError):
        ingest.lineage_event_process(event_id=event.pk)
    ingest.lineage_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == "processed" and Run.objects.count() == 1
    assert ingest.lineage_event_process(event_id=event.pk) is None  # done: a third call is a no-op


# --- accepting cheaply, applying in batches, the sweeper ---------------------------------------


def _receive(user, event: dict):
    from lineage.ingest import lineage_event_receive

    return lineage_event_receive(body=json.dumps(event).encode(), content_encoding="", user=user)


def test_accepting_takes_the_same_few_queries_whatever_the_event_names(pipeline):
    """Token, roles, one INSERT: no dedupe SELECT, no visibility work on accept."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post(pipeline, run_event())  # the token's first use notes last_used_at: not counted
    counts = []
    for names in (["/data/one.csv"], [f"/data/{n}.csv" for n in range(20)]):
        with CaptureQueriesContext(connection) as ctx:
            response = post(pipeline, run_event(inputs=names))
        assert response.status_code == 201
        counts.append(len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]))
    assert counts[0] == counts[1] <= 3, counts
    assert LineageEvent.objects.filter(status="pending").count() == 3  # applied after commit


def test_applying_an_event_takes_constant_queries_whatever_the_catalog_size(engineer):
    """The poster's rights are asked for the event's datasets only; names are one lookup."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lineage.ingest import lineage_events_drain

    def queries_for_one_event(extra_datasets: int) -> int:
        for _ in range(extra_datasets):
            make_dataset(versions=0)
        _receive(
            engineer, run_event(inputs=["/data/in1.csv", "/data/in2.csv"], outputs=["/data/o.csv"])
        )
        with CaptureQueriesContext(connection) as ctx:
            assert lineage_events_drain() == 1
        return len(ctx.captured_queries)

    queries_for_one_event(0)  # the first event discovers its datasets
    small = queries_for_one_event(0)
    large = queries_for_one_event(200)
    assert small == large <= 16, (small, large)


def test_a_batch_shares_lookups_between_events(engineer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lineage.ingest import lineage_events_drain

    _receive(engineer, run_event(inputs=["/data/a.csv"], outputs=["/data/b.csv"]))
    lineage_events_drain()
    for n in range(20):
        _receive(
            engineer, run_event(inputs=["/data/a.csv"], outputs=["/data/b.csv"], job=f"j{n % 2}")
        )
    with CaptureQueriesContext(connection) as ctx:
        assert lineage_events_drain() == 20
    # per event: INSERT its run, UPDATE its job's edges; the rest is per batch or per job
    assert len(ctx.captured_queries) <= 20 * 2 + 25, len(ctx.captured_queries)
    assert Run.objects.count() == 21
    assert LineageEvent.objects.filter(status="processed", processed_at__isnull=False).count() == 21


def test_one_bad_event_in_a_batch_is_marked_failed_and_the_others_are_applied(
    engineer, monkeypatch
):
    from lineage import ingest

    real = ingest._process_job_event

    def fussy(ctx, parsed):
        if parsed.job[1] == "bad":
            Job.objects.create(namespace="x", name="made-before-the-failure")
            raise RuntimeError("cannot apply")
        return real(ctx, parsed)

    monkeypatch.setattr(ingest, "_process_job_event", fussy)
    good, _ = _receive(engineer, run_event(outputs=["/data/g1.csv"]))
    bad, _ = _receive(engineer, run_event(job="bad", outputs=["/data/g2.csv"]))
    later, _ = _receive(engineer, run_event(outputs=["/data/g2.csv"]))
    assert ingest.lineage_events_drain() == 3
    statuses = dict(LineageEvent.objects.values_list("pk", "status"))
    assert statuses == {good.pk: "processed", bad.pk: "failed", later.pk: "processed"}
    assert "cannot apply" in LineageEvent.objects.get(pk=bad.pk).notes[0]
    assert not Job.objects.filter(name="made-before-the-failure").exists()  # rolled back
    assert Run.objects.count() == 2


def test_event_whose_task_was_never_sent_is_applied_by_the_sweeper_exactly_once(
    engineer, monkeypatch, django_capture_on_commit_callbacks
):
    """Broker down at accept: the event stays pending; the beat sweeper applies it once."""
    from datetime import timedelta

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from lineage.tasks import lineage_events_sweep_task, lineage_ingest_task

    def broker_down(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(lineage_ingest_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event, created = _receive(
            engineer, run_event(inputs=["/data/s.csv"], outputs=["/data/t.csv"])
        )
    assert created and len(callbacks) == 1
    event.refresh_from_db()
    assert event.status == "pending"
    assert lineage_events_sweep_task() == 0  # too young: its own task may still be on the way
    LineageEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(seconds=31)
    )
    ledger_before = Event.objects.count()
    assert lineage_events_sweep_task() == 1
    event.refresh_from_db()
    assert event.status == "processed" and event.processed_at is not None
    assert Run.objects.filter(run_id=event.run_id).count() == 1
    edges = LineageEdge.objects.count()
    assert edges == 2
    assert Event.objects.count() > ledger_before  # the two discovered datasets
    # a late copy of its task, a second sweep: nothing more happens
    monkeypatch.undo()
    assert lineage_ingest_task(event_id=event.pk) == 0
    assert lineage_events_sweep_task() == 0
    assert LineageEdge.objects.count() == edges and Run.objects.count() == 1


def test_the_sweeper_is_scheduled_by_beat():
    """The data migration registers it (called here: a transactional test may flush the rows)."""
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("lineage.migrations.0003_lineage_event_pending_sweep")
    migration.create_schedule(apps, None)
    migration.create_schedule(apps, None)  # re-running keeps one schedule
    task = PeriodicTask.objects.get(task="lineage.tasks.lineage_events_sweep_task")
    assert task.enabled and task.interval.every == 30 and task.interval.period == "seconds"


@pytest.mark.django_db(transaction=True)
def test_workers_and_the_sweeper_draining_at_once_apply_each_event_once(roles, monkeypatch):
    """Claims are row locks taken with SKIP LOCKED: concurrent drains split the backlog."""
    import threading

    from django.db import connection

    from lineage import ingest
    from lineage.tasks import lineage_ingest_task

    monkeypatch.setattr(lineage_ingest_task, "delay", lambda **kwargs: None)  # no eager drain
    monkeypatch.setattr(ingest, "BATCH_SIZE", 4)
    monkeypatch.setattr(ingest, "SWEEP_AFTER_SECONDS", 0)
    for n in range(40):
        _receive(
            None, run_event(job=f"job-{n % 3}", inputs=["/data/x.csv"], outputs=["/data/y.csv"])
        )
    applied, errors = [], []

    def drain(fn) -> None:
        try:
            applied.append(fn())
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=drain, args=(f,))
        for f in (
            ingest.lineage_events_drain,
            ingest.lineage_events_drain,
            ingest.lineage_events_sweep,
        )
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and sum(applied) == 40, (applied, errors)
    assert LineageEvent.objects.filter(status="processed").count() == 40
    assert Run.objects.count() == 40
    assert LineageEdge.objects.filter(valid_to__isnull=True).count() == 6  # 3 jobs x (read, wrote)


def test_in_one_batch_each_poster_gets_only_what_they_may_see(engineer, steward):
    """Rights are kept per poster in a batch: the steward's event links the restricted
    dataset, the engineer's event in the same batch neither links nor reveals it."""
    from lineage.ingest import lineage_events_drain

    secret = make_dataset("vault", sensitivity=Sensitivity.RESTRICTED, location="/data/vault.csv")
    DatasetRef.objects.create(namespace="file", name="/data/vault.csv", dataset=secret)
    by_steward, _ = _receive(
        steward, run_event(job="steward-job", inputs=["/data/vault.csv"], outputs=["/data/s.csv"])
    )
    by_engineer, _ = _receive(
        engineer, run_event(job="eng-job", inputs=["/data/vault.csv"], outputs=["/data/e.csv"])
    )
    assert lineage_events_drain() == 2
    steward_job = Job.objects.get(name="steward-job")
    engineer_job = Job.objects.get(name="eng-job")
    reads = LineageEdge.objects.filter(kind="read", src_kind="dataset", src_id=secret.pk)
    assert list(reads.values_list("dst_id", flat=True)) == [steward_job.pk]
    assert not LineageEdge.objects.filter(src_id=secret.pk, dst_id=engineer_job.pk).exists()
    by_steward.refresh_from_db()
    by_engineer.refresh_from_db()
    assert by_steward.notes == []
    assert by_engineer.notes == ["skipped file//data/vault.csv: not visible to the poster"]


def test_edges_seen_again_keep_latest_time_last_run_and_known_version(
    pipeline, django_capture_on_commit_callbacks
):
    """A job's edges named again: last_seen_at is the latest event time whatever the arrival
    order, last_run the run of the event applied last, dataset_version kept when not named."""
    ds = make_dataset("seen-src", location="/data/seen.csv", versions=2)
    v1 = ds.versions.get(number=1)
    versioned = {
        "namespace": "file",
        "name": "/data/seen.csv",
        "facets": {
            "version": {"_producer": "p", "_schemaURL": "s", "datasetVersion": v1.fingerprint}
        },
    }
    first = run_event(
        inputs=["/data/seen.csv"], outputs=["/data/out.csv"], time="2026-11-20T10:00:00Z"
    )
    later = run_event(inputs=[versioned], outputs=["/data/out.csv"], time="2026-11-20T11:00:00Z")
    older = run_event(
        inputs=["/data/seen.csv"], outputs=["/data/out.csv"], time="2026-11-20T09:00:00Z"
    )
    for event in (first, later, older):
        with django_capture_on_commit_callbacks(execute=True):
            assert post(pipeline, event).status_code == 201
    read = LineageEdge.objects.get(kind="read", valid_to__isnull=True)
    wrote = LineageEdge.objects.get(kind="wrote", valid_to__isnull=True)
    assert LineageEdge.objects.count() == 2  # refreshed, never duplicated
    for edge in (read, wrote):
        assert edge.last_seen_at.hour == 11
        assert edge.last_run.run_id == uuid.UUID(older["run"]["runId"])
    assert read.dataset_version == v1 and wrote.dataset_version is None
