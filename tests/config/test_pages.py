"""Project-wide pages: everything needs a login but login and /health; error pages; health."""

import re

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter
from django.urls.resolvers import RoutePattern

pytestmark = pytest.mark.django_db

PUBLIC = {"login", "health"}
# Django's admin has its own login page (itself public) and redirects there.
SKIP_NAMESPACES = {"admin"}


def _sample_kwargs(pattern) -> list[dict[str, str]]:
    if isinstance(pattern.pattern, RoutePattern):  # path("...<int:pk>...")
        converters = pattern.pattern.converters
        return [{k: "1" if isinstance(c, IntConverter) else "x" for k, c in converters.items()}]
    groups = list(re.compile(pattern.pattern.regex.pattern).groupindex)
    return [{g: sample for g in groups} for sample in ("csv", "json", "1", "x")]


def _named_urls(resolver=None, namespace=""):
    """Every named URL of the project, reversed with sample arguments: (name, path)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            if ns in SKIP_NAMESPACES:
                continue
            yield from _named_urls(entry, f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}{entry.name}"
            for kwargs in _sample_kwargs(entry):
                try:
                    yield name, reverse(name, kwargs=kwargs or None)
                    break
                except Exception:  # noqa: BLE001, S112  try the next sample
                    continue


def _all_urls():
    # DRF routers also add format-suffix variants; one per name is enough.
    return sorted({name: path for name, path in _named_urls()}.items())


def test_the_sweep_finds_pages_and_api():
    names = dict(_all_urls())
    assert {"home", "ledger", "ledger-export", "access:token-list", "schema"} <= set(names)
    assert any(path.startswith("/api/v1/") for path in names.values())


@pytest.mark.parametrize(("name", "path"), _all_urls())
def test_anonymous_is_sent_to_login_or_refused(client, name, path):
    if name in PUBLIC:
        return
    response = client.get(path)
    if path.startswith("/api/"):
        assert response.status_code in (401, 403), f"{name} {path} answered anonymously"
    else:
        assert response.status_code == 302, f"{name} {path} answered anonymously"
        assert response["Location"].startswith("/login/?next="), response["Location"]


def test_admin_needs_its_own_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_health_is_public_json(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}


def test_health_refuses_post(client):
    assert client.post("/health").status_code == 405


def test_home_shows_each_role(client, steward, engineer, compliance, admin_user):
    for user, role in [
        (steward, "Data steward"),
        (engineer, "ML engineer"),
        (compliance, "Compliance officer"),
        (admin_user, "Admin"),
    ]:
        client.force_login(user)
        response = client.get("/")
        assert response.status_code == 200
        assert f'<span class="role-badge">{role}</span>'.encode() in response.content
        client.logout()


def test_user_without_a_role_is_told_so(client, outsider):
    client.force_login(outsider)
    assert b"ask an administrator" in client.get("/").content


def test_ledger_link_only_for_those_who_may_read_it(client, engineer, compliance):
    client.force_login(engineer)
    assert b'href="/ledger/"' not in client.get("/").content
    client.force_login(compliance)
    assert b'href="/ledger/"' in client.get("/").content


def test_404_uses_the_layout(client, steward):
    client.force_login(steward)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b'class="topbar"' in response.content and b"Not found" in response.content


def test_403_uses_the_layout(client, engineer):
    client.force_login(engineer)
    response = client.get(reverse("ledger"))
    assert response.status_code == 403
    assert b'class="topbar"' in response.content
    assert b"have permission for this" in response.content


@override_settings(ROOT_URLCONF="tests.config.urls_boom")
def test_500_uses_the_layout(client, steward):
    client.raise_request_exception = False
    client.force_login(steward)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"charter.css" in response.content


def test_security_headers_on_pages(client, steward):
    client.force_login(steward)
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if "script-src" in part)
    assert "'unsafe-inline'" not in script_src and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_openapi_schema_and_docs_are_served_from_our_own_assets(client, compliance):
    client.force_login(compliance)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.") and "/api/v1/ledger/events/" in spec["paths"]
    assert "tokenAuth" in spec["components"]["securitySchemes"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert (
        b"cdn" not in docs.content.lower() and b"/static/drf_spectacular_sidecar/" in docs.content
    )
