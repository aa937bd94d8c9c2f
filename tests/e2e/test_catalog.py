"""Browser journeys for the catalog: register and watch the profile appear, find with a typo,
and a restricted dataset that an ML engineer cannot find or open."""

import pytest

from catalog.models import Dataset, Sensitivity
from catalog.services import dataset_register
from tests.catalog.conftest import CUSTOMER_HEADER, customer_rows, write_csv
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def data_root(tmp_path, settings):
    root = (tmp_path / "data").resolve()
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    settings.CHARTER_UPLOAD_ROOT = (tmp_path / "uploads").resolve()
    return root


def _register(name, path, actor, sensitivity):
    dataset = dataset_register(
        actor=actor, name=name, source_kind="file", path=str(path), sensitivity=sensitivity
    )
    return Dataset.objects.get(pk=dataset.pk)


def test_steward_registers_a_csv_and_sees_the_profile(live_server, login, page, steward, data_root):
    write_csv(data_root / "customers.csv", CUSTOMER_HEADER, customer_rows(60))
    login(steward)
    page.goto(f"{live_server.url}/catalog/")
    page.click("text=Register a dataset")
    page.fill("#id_name", "customer-list")
    page.fill("#id_title", "Customer list")
    page.fill("#id_path", "customers.csv")
    page.select_option("#id_sensitivity", "confidential")
    page.fill("#id_tags", "crm, people")
    # Only the chosen source's fields are shown (register-form.js).
    assert not page.is_visible("#id_table")
    screenshot(page, "catalog-register-form")
    page.click("button:has-text('Register and profile')")
    page.wait_for_url("**/catalog/datasets/customer-list/")
    # Profiling runs in the (eager) task; the page shows the result or polls until it is ready.
    page.wait_for_selector("text=At a glance")
    assert page.locator(".stat-value").first.inner_text() == "60"
    assert page.is_visible("text=suggested: E-mail address")
    screenshot(page, "catalog-dataset-overview")
    page.click("nav.tabs >> text=Schema")
    page.wait_for_selector("table.schema")
    assert page.locator("table.schema tbody tr").count() == len(CUSTOMER_HEADER)
    assert "person1@example.org" not in page.content()
    screenshot(page, "catalog-dataset-schema")
    page.click("nav.tabs >> text=Versions")
    assert page.is_visible("text=v1")


def test_engineer_finds_a_dataset_with_a_typo(
    live_server, login, page, steward, engineer, data_root
):
    path = write_csv(data_root / "tx.csv", ["id", "amount", "merchant"], [[1, 9.5, "shop"]])
    _register("transactions", path, steward, Sensitivity.INTERNAL)
    other = write_csv(data_root / "w.csv", ["day", "temp"], [["2024-01-01", 3]])
    _register("weather", other, steward, Sensitivity.PUBLIC)
    login(engineer)
    page.goto(f"{live_server.url}/catalog/")
    page.fill("#search-box", "transactons")  # typo; results arrive as you type
    page.wait_for_selector("#results >> text=matching “transactons”")
    assert page.is_visible("#results >> text=transactions")
    assert not page.is_visible("#results >> text=weather")
    # The filters describe the same results: the public "weather" is no longer counted.
    assert page.is_visible("#facets >> text=Internal")
    assert not page.is_visible("#facets >> text=Public")
    assert page.locator("select[name=sort] option[value='']").inner_text() == "Relevance"
    assert "search=transactons" in page.url
    screenshot(page, "catalog-search-typo")
    page.click("#results >> a:has-text('transactions')")
    page.wait_for_url("**/catalog/datasets/transactions/")


def test_restricted_dataset_is_invisible_to_an_engineer(
    live_server, login, page, steward, engineer, data_root
):
    path = write_csv(data_root / "people.csv", CUSTOMER_HEADER, customer_rows(5))
    _register("vip-customers", path, steward, Sensitivity.RESTRICTED)
    other = write_csv(data_root / "open.csv", ["a"], [[1]])
    _register("open-data", other, steward, Sensitivity.PUBLIC)
    login(engineer)
    page.goto(f"{live_server.url}/catalog/?search=vip")
    assert page.is_visible("text=No datasets found")
    page.goto(f"{live_server.url}/catalog/")
    assert page.is_visible("#results >> text=open-data")
    assert not page.is_visible("text=vip-customers")
    assert not page.is_visible(".facets >> text=Restricted")
    response = page.goto(f"{live_server.url}/catalog/datasets/vip-customers/")
    assert response.status == 404
    screenshot(page, "catalog-restricted-404")
    response = page.goto(f"{live_server.url}/api/v1/datasets/vip-customers/")
    assert response.status == 404
