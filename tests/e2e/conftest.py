"""Real-browser journeys: Python playwright driving Debian's Chromium against a live server.

Without Chromium these tests are skipped, unless CHARTER_REQUIRE_BROWSER=1 (CI sets it), where
a missing browser is a failure rather than a silent skip.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright runs an event loop

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("CHARTER_SCREENSHOTS", "/tmp/charter-screenshots"))  # noqa: S108
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    if os.environ.get("CHARTER_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"CHARTER_REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM}")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(skip)


# Package scope: the browser closes when tests/e2e is done, so tests elsewhere (e.g.
# tests/security) can start their own playwright; two sync_playwright() at once cannot run.
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # Generous: CI machines are small and busy; a real failure still fails, just later.
    page.set_default_timeout(30000)
    yield page
    context.close()


@pytest.fixture
def login(page, live_server):
    """Log in through the real form and return the page."""

    def _login(user, password: str = PASSWORD):
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        # Wait for the POST's own navigation: wait_for_load_state() alone can return at once,
        # on the login page that is still loaded, before the browser has left it.
        with page.expect_navigation():
            page.click("button[type=submit]")
        return page

    return _login


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
