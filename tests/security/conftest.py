"""Security fixtures: one seeded world per module, with a restricted dataset that must never leak.

`world` seeds the demo (every app's demo data) plus a restricted dataset whose name, title,
description, columns, tag, issue report, audit policy and lineage edges all carry the marker
`SECRET`. Tests that act as a role without a grant assert the marker never appears in anything
they can reach. The world is built once per module inside an outer transaction that is rolled
back at the end; each test still runs in its own savepoint (`db`), so writes don't leak between
tests.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase, override_settings

SECRET = "zq9vault"
SECRET_DATASET = f"{SECRET}-payroll"
PUBLIC_DATASET = "country-reference"
ROLES = ("steward", "engineer", "compliance", "admin")


@dataclass
class World:
    users: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    secret: object = None
    data_root: Path | None = None
    ids: dict = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _lineage_event(inputs: list[str], outputs: list[str], job: str) -> bytes:
    from lineage.demo import NS, PRODUCER, SCHEMA

    return json.dumps(
        {
            "eventType": "COMPLETE",
            "eventTime": datetime(2026, 11, 2, 3, 0, tzinfo=UTC).isoformat(),
            "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"secrel/{job}"))},
            "job": {"namespace": "airflow", "name": job},
            "inputs": [{"namespace": NS, "name": n, "facets": {}} for n in inputs],
            "outputs": [{"namespace": NS, "name": n, "facets": {}} for n in outputs],
            "producer": PRODUCER,
            "schemaURL": SCHEMA,
        }
    ).encode()


def seed_world(data_root: Path) -> World:
    """Seed the demo and the restricted marker dataset with everything that can point at it."""
    from access.services import api_token_create
    from audits.services import audit_policy_create, audit_run_execute, audit_run_request
    from catalog.models import Sensitivity
    from catalog.services import dataset_register, issue_comment_add, issue_report_create
    from lineage.demo import NS
    from lineage.ingest import lineage_event_process, lineage_event_receive
    from lineage.models import DatasetRef

    world = World(data_root=data_root)
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123
    users = get_user_model().objects.in_bulk(ROLES, field_name="username")
    world.users = users
    for role in ROLES:
        world.tokens[role] = api_token_create(user=users[role], name=f"fuzz-{role}")[1]
    path = write_csv(
        data_root / f"{SECRET_DATASET}.csv",
        ["employee_id", f"{SECRET}_salary", "email"],
        [[i, 1000 + i, f"p{i}@example.com"] for i in range(30)],
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        secret = dataset_register(
            actor=users["steward"],
            name=SECRET_DATASET,
            source_kind="file",
            path=str(path),
            title=f"{SECRET.upper()} payroll",
            description=f"Salaries, {SECRET} marker description.",
            sensitivity=Sensitivity.RESTRICTED,
            tags=[f"{SECRET}-tag"],
        )
    world.secret = secret
    report = issue_report_create(
        dataset=secret, reporter=users["steward"], kind="quality", title=f"{SECRET} nulls"
    )
    issue_comment_add(report=report, author=users["steward"], body=f"{SECRET} comment")
    world.ids["secret_issue"] = report.pk
    policy = audit_policy_create(
        actor=users["steward"],
        name=f"{SECRET} payroll checks",
        dataset=secret,
        schedule_kind="manual",
        checks=[{"kind": "row_count", "min_value": 1}],
    )
    world.ids["secret_policy"] = policy.pk
    runs = audit_run_request(policy=policy, actor=users["steward"])
    for run in runs:
        audit_run_execute(run_id=run.pk, task_id=f"secrel-{run.pk}")
    world.ids["secret_run"] = runs[0].pk
    DatasetRef.objects.get_or_create(namespace=NS, name=secret.name, defaults={"dataset": secret})
    with TestCase.captureOnCommitCallbacks(execute=True):
        event, _ = lineage_event_receive(
            body=_lineage_event([SECRET_DATASET], ["transactions"], "payroll_to_transactions"),
            content_encoding="",
            user=users["steward"],
        )
    lineage_event_process(event_id=event.pk)
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The seeded world, rolled back when the module ends."""
    data_root = Path(tempfile.mkdtemp(prefix="secrel-data-")).resolve()
    roots = [*settings.CHARTER_DATA_ROOTS, data_root]
    override = override_settings(
        CHARTER_DATA_ROOTS=roots, CHARTER_UPLOAD_ROOT=data_root / "uploads"
    )
    override.enable()
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield seed_world(data_root)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            override.disable()
            shutil.rmtree(data_root, ignore_errors=True)


@pytest.fixture
def data_root(tmp_path, settings):
    """A private data root (and upload root) for one test."""
    root = (tmp_path / "data").resolve()
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    settings.CHARTER_UPLOAD_ROOT = (tmp_path / "uploads").resolve()
    return root
