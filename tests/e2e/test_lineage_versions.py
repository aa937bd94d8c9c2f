"""Browser journey (issue 7): a steward compares two versions, rolls back, sees the banner and the
ledger event."""

from pathlib import Path

import pytest

from catalog.models import Dataset
from catalog.versioning import snapshot_capture
from tests.e2e.conftest import screenshot
from tests.versions.conftest import add_version

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

V1 = b"id,amount\n1,10\n2,20\n3,30\n"
V2 = b"id,amount,currency\n1,10,EUR\n2,25,EUR\n4,40,USD\n"


def test_steward_compares_and_rolls_back(live_server, login, page, steward, tmp_path, settings):
    settings.CHARTER_DATA_ROOTS = [tmp_path]
    settings.CHARTER_SNAPSHOT_ROOT = str(tmp_path / "snapshots")
    dataset = Dataset.objects.create(
        name="payments",
        source_kind="file",
        location=str(tmp_path / "payments.csv"),
        file_format="csv",
        owner=steward,
    )
    schema1 = [{"name": "id", "type": "int64"}, {"name": "amount", "type": "int64"}]
    v1 = add_version(dataset, V1, schema=schema1)
    snapshot_capture(version=v1)
    v2 = add_version(dataset, V2, schema=schema1 + [{"name": "currency", "type": "object"}])
    snapshot_capture(version=v2)

    login(steward)
    page.goto(f"{live_server.url}/catalog/datasets/payments/versions/")
    page.get_by_role("link", name="Compare versions, snapshots and rollback").click()
    page.select_option("#diff-key", "id")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_load_state()
    diff = page.locator("#diff")
    assert "column currency added" in diff.inner_text().replace("\n", " ")
    assert "1 added, 1 removed, 1 changed" in diff.inner_text()
    screenshot(page, "versions-compare")

    page.goto(f"{live_server.url}/catalog/datasets/payments/versions/compare/#rollback-1")
    page.fill("#reason-1", "v2 came from a broken currency export")
    page.get_by_role("button", name="Roll back to v1").click()
    page.wait_for_load_state()
    assert page.locator(".messages").inner_text().startswith("Rolled back payments to v1")
    events = page.locator("#version-events").inner_text()
    assert "dataset.rolled_back" in events and "broken currency export" in events
    screenshot(page, "versions-rolled-back")
    assert Path(dataset.location).read_bytes() == V1
    dataset.refresh_from_db()
    assert dataset.current_version_id == v1.pk
