"""Browser journey: restricted data needs a steward AND a compliance officer, then expires."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from access.models import AccessRequest
from catalog.models import Sensitivity
from tests.access.conftest import data_root, make_dataset  # noqa: F401  fixtures
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PURPOSE = "Train the readmission-risk model; masked identifiers are enough."


@pytest.mark.parametrize("level", ["masked", "full"])
def test_restricted_request_two_approvals_preview_as_granted_then_expiry(
    level,
    live_server,
    page,
    login,
    make_dataset,  # noqa: F811  the access tests' fixture, imported above
    engineer,
    steward,
    compliance,
):
    dataset = make_dataset("patients-2025", Sensitivity.RESTRICTED, rows=40)
    base = live_server.url

    # 1. The engineer cannot see the dataset, but can ask for it by name.
    login(engineer)
    page.goto(f"{base}/access/datasets/{dataset.name}/request/")
    assert "a data steward and a compliance officer must both approve" in page.inner_text("main")
    page.check(f"input[name=level][value={level}]")
    page.fill("#id_purpose", PURPOSE)
    page.fill("#id_duration_days", "7")
    screenshot(page, f"access-{level}-01-request-form")
    page.click("text=Send request")
    assert "Pending" in page.inner_text("#request-status")
    req = AccessRequest.objects.get()
    page.goto(f"{base}/access/")
    assert dataset.name in page.inner_text("#my-requests")
    page.click("form[action='/logout/'] button")

    # 2. A steward approves from the inbox: it is still pending.
    login(steward)
    page.goto(f"{base}/access/inbox/")
    card = page.locator(f"#request-{req.pk}")
    assert PURPOSE in card.inner_text() and "email" in card.inner_text()  # PII columns shown
    screenshot(page, f"access-{level}-02-inbox-steward")
    card.locator("button", has_text="Approve as steward").click()
    page.goto(f"{base}/access/requests/{req.pk}/")
    assert "Pending" in page.inner_text("#request-status")
    assert "Compliance officer" in page.inner_text("#still-needed")
    screenshot(page, f"access-{level}-03-still-pending")
    page.click("form[action='/logout/'] button")

    # 3. A compliance officer approves: granted.
    login(compliance)
    page.goto(f"{base}/access/requests/{req.pk}/")
    page.click("#approve")
    assert "Approved" in page.inner_text("#request-status")
    page.click("form[action='/logout/'] button")

    # 4. The engineer previews the data, masked or full as granted.
    login(engineer)
    page.goto(f"{base}/catalog/datasets/{dataset.name}/access/")
    assert level in page.inner_text("#access-level")
    screenshot(page, f"access-{level}-04-access-tab")
    page.click("#preview-link")
    assert page.inner_text("#preview-level") == level
    table = page.inner_text("table.data-preview")
    if level == "masked":
        assert "person1@example.com" not in table and "Person 1\t" not in table
        assert "************0001" in table  # phone, last 4 digits
    else:
        assert "person1@example.com" in table and "+44 20 7946 0001" in table
    screenshot(page, f"access-{level}-05-preview")

    # 5. After expiry the preview is refused (even before the beat task runs).
    with time_machine.travel(timezone.now() + timedelta(days=8), tick=True):
        login(engineer)  # the session itself has expired by then
        response = page.goto(f"{base}/catalog/datasets/{dataset.name}/access/preview/")
        assert response.status in (403, 404)
        screenshot(page, f"access-{level}-06-after-expiry")
        page.goto(f"{base}/access/")
        assert "You hold no grants right now." in page.inner_text("#current-grants")
