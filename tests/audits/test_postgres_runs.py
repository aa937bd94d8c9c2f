"""A policy on a PostgreSQL table end to end: version bound, checks pushed down, evidence."""

import pytest

from audits import services
from audits.models import AuditRun
from catalog.services import connection_create, dataset_register
from tests.audits.test_checks_sql import PG_DB, _connect, pg_table  # noqa: F401  (fixture)


@pytest.fixture
def pg_dataset(pg_table, steward):  # noqa: F811
    connection = connection_create(
        actor=steward,
        name="audit-src",
        host="127.0.0.1",
        database=PG_DB,
        username="postgres",
        password="",
        schema="audit_src",
    )
    return dataset_register(
        actor=steward,
        name="quality-table",
        source_kind="postgresql",
        connection=connection,
        table="QualityData",
        owner=steward,
        profile=False,
    )


@pytest.mark.django_db
def test_policy_on_a_table_pushes_checks_down(
    pg_dataset, steward, django_capture_on_commit_callbacks
):
    policy = services.audit_policy_create(
        actor=steward,
        name="table",
        dataset=pg_dataset,
        checks=[
            {"kind": "not_null", "column": "age", "mostly": 0.5},
            {"kind": "range", "column": "age", "min_value": 0, "max_value": 120},
            {"kind": "unique", "column": "id"},
            {"kind": "fairness", "label": "id", "protected": ["code"]},
            {"kind": "schema_drift"},
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    run = AuditRun.objects.get(pk=run.pk)
    assert run.state == AuditRun.State.FAILED, run.error_message
    assert run.version is not None and run.version.row_count == 800
    assert run.scope["method"].startswith("pushed-down SQL")
    assert run.evidence[0].startswith('SELECT COUNT(*) AS "total"')
    assert any("LIMIT 20" in q for q in run.evidence)  # examples of the failed range check
    statuses = [r.status for r in run.results.all()]
    assert statuses[0] == "pass" and statuses[1] == "fail"


@pytest.mark.django_db
def test_a_missing_table_ends_in_error_with_a_message(
    pg_dataset, steward, django_capture_on_commit_callbacks
):
    policy = services.audit_policy_create(
        actor=steward,
        name="gone",
        dataset=pg_dataset,
        checks=[{"kind": "row_count", "min_value": 1}],
    )
    with _connect(PG_DB) as conn:
        conn.execute('ALTER TABLE audit_src."QualityData" RENAME TO "QualityDataGone"')
    try:
        with django_capture_on_commit_callbacks(execute=True):
            [run] = services.audit_run_request(policy=policy, actor=steward)
    finally:
        with _connect(PG_DB) as conn:
            conn.execute('ALTER TABLE audit_src."QualityDataGone" RENAME TO "QualityData"')
    run = AuditRun.objects.get(pk=run.pk)
    assert run.state == AuditRun.State.ERROR
    assert "QualityData" in run.error_message
