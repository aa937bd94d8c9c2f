"""As-of reads: metadata, classification and version at a past time, rebuilt from the ledger."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from catalog import versioning
from catalog.models import Column
from catalog.services import column_update, dataset_update
from tests.versions.conftest import add_version

pytestmark = pytest.mark.django_db


def test_as_of_undoes_later_changes(file_dataset, steward):
    start = timezone.now()
    with time_machine.travel(start):
        column = Column.objects.create(dataset=file_dataset, name="email", position=0)
        add_version(file_dataset, b"email\na@x.com\n", schema=[{"name": "email", "type": "object"}])
        from ledger.services import ledger_record

        ledger_record(
            actor=steward,
            action="dataset.version_created",
            target=file_dataset,
            data={"version": 1},
        )
        dataset_update(dataset=file_dataset, actor=steward, data={"description": "first"})
    with time_machine.travel(start + timedelta(days=2)):
        dataset_update(
            dataset=file_dataset,
            actor=steward,
            data={"description": "second", "sensitivity": "restricted"},
        )
        column_update(column=column, actor=steward, data={"pii_kind": "email"})
        add_version(
            file_dataset,
            b"email,x\na@x.com,1\n",
            schema=[{"name": "email", "type": "object"}, {"name": "x", "type": "int64"}],
        )
        ledger_record(
            actor=steward,
            action="dataset.version_created",
            target=file_dataset,
            data={"version": 2},
        )
    past = versioning.dataset_as_of(dataset=file_dataset, at=start + timedelta(days=1))
    assert past["exists"] and past["fields"]["description"] == "first"
    assert past["fields"]["sensitivity"] == "internal"
    assert past["version"]["number"] == 1
    assert [c["name"] for c in past["columns"]] == ["email"]
    assert past["columns"][0]["pii_kind"] == "" and past["changes_since"] == 3
    now = versioning.dataset_as_of(dataset=file_dataset, at=start + timedelta(days=3))
    assert now["fields"]["description"] == "second" and now["version"]["number"] == 2
    before = versioning.dataset_as_of(dataset=file_dataset, at=start - timedelta(days=400))
    assert before["exists"] is False


def test_as_of_page_and_api(client, file_dataset, steward):
    dataset_update(dataset=file_dataset, actor=steward, data={"description": "now"})
    client.force_login(steward)
    at = (timezone.now() + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page = client.get(f"/catalog/datasets/{file_dataset.name}/as-of/?at={at}").content.decode()
    assert "Showing customers as of" in page and "now" in page
    api = client.get(f"/api/v1/datasets/{file_dataset.name}/as-of?at={at}Z").json()
    assert api["fields"]["description"] == "now"
    assert client.get(f"/api/v1/datasets/{file_dataset.name}/as-of").status_code == 400
    assert client.get(f"/api/v1/datasets/{file_dataset.name}/as-of?at=yesterday").status_code == 400
