import pytest
from django.urls import reverse

from catalog.models import Dataset, IssueReport, Sensitivity
from tests.catalog.conftest import CUSTOMER_HEADER, customer_rows, write_csv

pytestmark = pytest.mark.django_db


def test_steward_registers_csv_through_the_form(client, steward, data_root):
    path = write_csv(data_root / "customers.csv", CUSTOMER_HEADER, customer_rows())
    client.force_login(steward)
    response = client.post(
        reverse("catalog:dataset-register"),
        {
            "name": "customers",
            "source_kind": "file",
            "path": str(path),
            "sensitivity": "confidential",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    dataset = Dataset.objects.get(name="customers")
    assert dataset.owner == steward
    page = client.get(dataset.get_absolute_url())
    assert page.status_code == 200
    assert b"customers" in page.content


def test_every_dataset_page_renders(client, steward, make_dataset):
    dataset = make_dataset("sales", description="**Bold** <script>alert(1)</script>")
    client.force_login(steward)
    for name in [
        "dataset-detail",
        "dataset-schema",
        "dataset-versions",
        "dataset-issues",
        "issue-create",
        "dataset-edit",
        "dataset-deprecate",
    ]:
        response = client.get(reverse(f"catalog:{name}", kwargs={"name": dataset.name}))
        assert response.status_code == 200, name
        assert b"<script>alert(1)" not in response.content
    response = client.get(
        reverse("catalog:column-edit", kwargs={"name": dataset.name, "column": "city"})
    )
    assert response.status_code == 200
    for name in [
        "dataset-list",
        "dataset-register",
        "connection-list",
        "metadata-import",
        "metadata-export",
    ]:
        assert client.get(reverse(f"catalog:{name}")).status_code == 200, name
    assert client.get(reverse("catalog:dataset-list") + "?search=sales").status_code == 200
    assert (
        client.get(reverse("catalog:dataset-list") + "?search=sales&partial=1").status_code == 200
    )
