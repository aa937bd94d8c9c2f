"""CSV/formula injection: no cell of any CSV Charter serves starts with = + - @ (or tab/CR).

Payloads are planted in every kind of text an export can carry (descriptions, tags, purposes,
policy names, ledger actions, data cells); then every CSV reachable by an admin is collected:
each link crawled from home that answers text/csv, plus the downloads behind forms and the API.
A cell that is a plain number ("-3.5") is not a formula and is allowed. The one exception is a
past version's byte-exact snapshot (`X-Content-SHA256`): it is the registered file itself, served
for reproducibility, and must stay byte for byte (docs/SECURITY.md).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client

from access.models import AccessGrant
from access.services import access_request_approve, access_request_create
from audits.models import AuditPolicy
from catalog.models import Dataset, Tag
from catalog.services import dataset_register
from ledger.services import ledger_record
from tests.security.conftest import SECRET_DATASET, write_csv
from tests.security.crawl import body_of, crawl

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(600)]

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


@pytest.fixture
def planted(world, django_capture_on_commit_callbacks):
    """Formula payloads in every field an export carries."""
    users = world.users
    Dataset.objects.filter(name=SECRET_DATASET).update(description=FORMULAS[0], title=FORMULAS[1])
    tag = Tag.objects.create(name="@evil")
    world.secret.tags.add(tag)
    AuditPolicy.objects.filter(pk=world.ids["secret_policy"]).update(description=FORMULAS[2])
    ledger_record(actor=users["admin"], action="=evil.action", data={"x": FORMULAS[0]})
    path = write_csv(
        world.data_root / "formulas.csv",
        ["id", "note", "amount"],
        [[i, FORMULAS[i % 4], -1.5 * i] for i in range(8)],
    )
    with django_capture_on_commit_callbacks(execute=True):
        formulas = dataset_register(
            actor=users["steward"],
            name="formulas",
            source_kind="file",
            path=str(path),
            description=FORMULAS[3],
        )
    request = access_request_create(
        requester=users["engineer"],
        dataset=formulas,
        level="full",
        purpose=FORMULAS[0] + " training",
    )
    for approver in ("steward", "compliance", "admin"):
        request.refresh_from_db()
        if request.status == "pending":
            access_request_approve(access_request=request, approver=users[approver])
    assert AccessGrant.objects.filter(request=request).exists()
    return formulas


def _bad_cells(text: str) -> list[str]:
    bad = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell.startswith(DANGEROUS) and not NUMBER.match(cell):
                bad.append(cell)
    return bad


def test_every_csv_export_neutralises_formulas(world, planted):
    admin = Client()
    admin.force_login(world.users["admin"])
    engineer = Client()
    engineer.force_login(world.users["engineer"])
    run = world.ids["secret_run"]
    extra = [
        "/catalog/metadata/export.csv",
        "/access/report.csv",
        "/ledger/export.csv",
        f"/audits/runs/{run}/report.csv",
        "/audits/processing/record.csv",
        "/catalog/datasets/formulas/access/download.csv",
        "/catalog/datasets/formulas/access/readers.csv",
        "/api/v1/datasets/formulas/rows/?output=csv",
        f"/api/v1/audit-runs/{run}/report/csv/",
        "/catalog/datasets/formulas/versions/1/download/",
    ]
    found: dict[str, list[str]] = {}
    for client in (admin, engineer):
        for url, response, body in crawl(client, ["/", *extra], limit=250):
            if response.has_header("X-Content-SHA256"):
                continue  # a past version's exact bytes (reproducibility): the file as registered
            if response.status_code == 200 and "csv" in response.get("Content-Type", ""):
                found[url] = _bad_cells(body.decode("utf-8-sig", errors="replace"))
    assert len(found) >= 8, sorted(found)
    leaks = {url: cells[:5] for url, cells in found.items() if cells}
    assert not leaks, f"formula cells served: {leaks}"
    # The payloads did reach the exports, neutralised with a leading quote.
    metadata = body_of(admin.get("/catalog/metadata/export.csv")).decode()
    assert "'=HYPERLINK" in metadata and "'@evil" in metadata
