"""First journeys in a real browser: log in as each role, and anonymous visits land on login."""

import pytest

from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROLES = [
    ("steward", "Data steward"),
    ("engineer", "ML engineer"),
    ("compliance", "Compliance officer"),
    ("admin_user", "Admin"),
]


@pytest.mark.parametrize(("persona", "role"), ROLES)
def test_each_role_logs_in_through_the_form_and_sees_home(
    request, login, live_server, persona, role
):
    user = request.getfixturevalue(persona)
    page = login(user)
    assert page.url == f"{live_server.url}/"
    assert page.locator(".userbox .role-badge").first.inner_text() == role
    assert page.locator("h1").inner_text().startswith("Welcome")
    nav = page.locator("nav.mainnav").inner_text()
    assert ("Ledger" in nav) == (role in ("Compliance officer", "Admin"))
    screenshot(page, f"home-{persona}")


def test_anonymous_visit_lands_on_login_and_returns_after(page, live_server, steward):
    from tests.conftest import PASSWORD

    page.goto(f"{live_server.url}/account/tokens/")
    assert page.url.startswith(f"{live_server.url}/login/?next=")
    assert page.locator("button[type=submit]").inner_text() == "Log in"
    screenshot(page, "login")
    page.fill("#id_username", steward.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/account/tokens/")
    assert page.locator("h1").inner_text() == "API tokens"


def test_wrong_password_shows_an_error_and_logout_works(page, login, live_server, compliance):
    login(compliance, password="not-it")
    assert "/login/" in page.url
    assert "correct username and password" in page.locator(".form-errors").inner_text()
    screenshot(page, "login-error")
    login(compliance)
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url


def test_compliance_reads_the_ledger_and_creates_a_token(login, live_server, compliance):
    page = login(compliance)
    page.click("nav.mainnav >> text=Ledger")
    page.wait_for_url(f"{live_server.url}/ledger/")
    assert "auth.login" in page.locator("table.table").inner_text()
    screenshot(page, "ledger")
    page.goto(f"{live_server.url}/account/tokens/")
    page.fill("#id_name", "nightly export")
    page.click("text=Create token")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("chr_")
    screenshot(page, "tokens")
    page.reload()
    assert page.locator("#new-token").count() == 0
    assert page.locator("text=nightly export").count() == 1  # the reload made no second token
