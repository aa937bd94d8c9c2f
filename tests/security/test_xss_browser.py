"""Stored XSS in a real browser: injected markup in every free-text field never runs.

The browser context bypasses the Content-Security-Policy on purpose, so what is proved is the
escaping and sanitising of the pages, not only the CSP (which would block inline script anyway).
Each payload would set `window.__xss`; after every page load it must still be undefined, and
the DOM must hold no element carrying an injected event handler.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.services import dataset_register, issue_comment_add, issue_report_create
from tests.conftest import PASSWORD
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.security.conftest import write_csv

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    "<script>window.__xss='script'</script>",
    "<img src=x onerror=\"window.__xss='img'\">",
    '"><svg onload="window.__xss=\'svg\'">',
    "[link](javascript:window.__xss='md')",
    "<a href=\"javascript:window.__xss='a'\">click</a>",
    "';window.__xss='quote';//",
]
HANDLERS = "[onerror],[onload],[onclick],[onmouseover],[onfocus]"


@pytest.fixture
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        browser.close()


def test_no_injected_script_runs_in_the_browser(
    chromium, live_server, steward, engineer, tmp_path, settings, django_capture_on_commit_callbacks
):
    root = (tmp_path / "data").resolve()
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    payload = " ".join(PAYLOADS)
    path = write_csv(root / "xss.csv", ["id", "note"], [[1, PAYLOADS[0]], [2, PAYLOADS[1]]])
    with django_capture_on_commit_callbacks(execute=True):
        dataset = dataset_register(
            actor=steward,
            name="xss",
            source_kind="file",
            path=str(path),
            title=PAYLOADS[1],
            description=payload,
            tags=["<b onmouseover=x>t</b>", "javascript:alert(1)"],
        )
    column = dataset.columns.get(name="note")
    column.description = payload
    column.save()
    report = issue_report_create(dataset=dataset, reporter=engineer, kind="quality", title=payload)
    issue_comment_add(report=report, author=engineer, body=payload)

    page = chromium
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", steward.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    pages = [
        "/",
        "/catalog/",
        "/catalog/?q=xss",
        "/catalog/datasets/xss/",
        "/catalog/datasets/xss/schema/",
        "/catalog/datasets/xss/issues/",
        f"/catalog/datasets/xss/issues/{report.pk}/",
        "/catalog/datasets/xss/versions/",
        "/catalog/datasets/xss/access/",
        "/lineage/datasets/xss/",
        "/access/datasets/xss/request/",
    ]
    visited = 0
    for url in pages:
        response = page.goto(f"{live_server.url}{url}")
        if response is None or response.status == 404:
            continue
        page.wait_for_load_state("load")
        for link in page.locator("a[href^='javascript:']").all():
            pytest.fail(f"{url}: a javascript: link survived: {link.get_attribute('href')}")
        assert page.evaluate("() => window.__xss") is None, f"{url}: injected script ran"
        assert page.locator(HANDLERS).count() == 0, f"{url}: an injected event handler"
        visited += 1
    assert visited >= 8
