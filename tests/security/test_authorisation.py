"""Authorisation against a seeded world: leaks, IDOR on every id-taking URL, headers everywhere.

The world (conftest) holds a restricted dataset whose every trace carries the marker `zq9vault`.
An ML engineer without a grant must never meet that string: not in pages, search, facets,
lineage, reports, exports, the ledger or the API; and every URL that takes the dataset's name or
the id of something on it answers 404, for GET and for POST, with nothing recorded.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from access.models import AccessGrant
from ledger.models import Event
from tests.config.test_settings import ROOT
from tests.security.conftest import SECRET, SECRET_DATASET
from tests.security.crawl import body_of, crawl

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(600)]
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)

# Pages and API calls an engineer might use to go looking, on top of every link from home.
PROBES = [
    "/catalog/?q=payroll",
    "/catalog/?q=vault",
    "/catalog/?q=salary&facets=1",
    "/catalog/?tag=vault",
    "/catalog/?sensitivity=restricted",
    "/catalog/metadata/export.csv",
    "/lineage/",
    "/lineage/datasets/transactions/",
    "/lineage/datasets/transactions/?direction=upstream&depth=5",
    "/catalog/datasets/transactions/",
    "/catalog/datasets/transactions/schema/",
    "/access/",
    "/access/report/",
    "/access/report.csv",
    "/audits/",
    "/ledger/",
    "/ledger/export.csv",
    "/ledger/export.json",
    "/api/v1/datasets/?search=payroll&facets=true",
    "/api/v1/datasets/?facets=true",
    "/api/v1/datasets/?sensitivity=restricted",
    "/api/v1/lineage/impact?namespace=charter-demo&name=transactions&direction=upstream",
    "/api/v1/lineage/columns?dataset=transactions",
    "/api/v1/lineage/runs/",
    "/api/v1/access/requests/?scope=all",
    "/api/v1/access/grants/?active=false",
    "/api/v1/audit-policies/",
    "/api/v1/audit-runs/",
    "/api/v1/ledger/events/",
    "/api/v1/models/",
]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _served(url: str, response, body: bytes) -> None:
    """No server error; a 503 is allowed only as the explained "source unavailable" answer."""
    if response.status_code == 503:
        assert b"cannot be read" in body, f"{url}: 503 without a reason"
        return
    assert response.status_code < 500, f"{url}: {response.status_code}"


def test_engineer_never_meets_restricted_metadata(world):
    """Crawl everything reachable from home plus the probes; the marker appears nowhere."""
    client = _client(world.users["engineer"])
    pages = 0
    for url, response, body in crawl(client, ["/", *PROBES], limit=500):
        pages += 1
        _served(url, response, body)
        assert SECRET not in body.decode(errors="replace").lower(), f"{url} shows {SECRET}"
    assert pages >= 40


def test_steward_does_see_it(world):
    """The marker is reachable at all: the leak test above would otherwise prove nothing."""
    client = _client(world.users["steward"])
    for url in ("/catalog/?q=payroll", f"/catalog/datasets/{SECRET_DATASET}/", "/ledger/"):
        body = body_of(client.get(url)).decode().lower()
        if url != "/ledger/":
            assert SECRET in body, url
    # two hops upstream (dataset -> job -> transactions): past the graph's default depth of 1
    url = "/lineage/datasets/transactions/?direction=upstream&depth=2"
    lineage = body_of(client.get(url)).decode()
    assert SECRET in lineage.lower()


def test_every_page_has_security_headers_and_no_inline_script(world):
    """Every HTML page an admin can reach, with real objects behind it, not just sample URLs."""
    client = _client(world.users["admin"])
    checked = 0
    for url, response, body in crawl(client, ["/"], limit=300):
        _served(url, response, body)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        csp = response["Content-Security-Policy"]
        script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src, url
        assert "'unsafe-eval'" not in script_src, url
        assert "frame-ancestors 'none'" in csp, url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert not INLINE_SCRIPT.search(body), f"{url} has an inline <script>"
        checked += 1
    assert checked >= 40


# --- IDOR: every URL pattern that takes a name or an id ------------------------------------------


def _patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield entry.name or "?", prefix + str(entry.pattern)


PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


NOT_ABOUT_DATASETS = ("models/", "discovered/", "connections/")
# Asking for access by name works even for a restricted dataset (access.policies.
# get_dataset_for_request): an engineer told the name can ask. The form shows the name they typed
# and the tier, nothing else; that is checked separately below.
REQUEST_BY_NAME = "access/datasets/<str:name>/request/"


def _fill(route: str, world) -> str | None:
    """The route with its parameters pointing at the restricted dataset and its objects."""
    if not PARAM.search(route):
        return None
    ids = world.ids
    values = {
        "name": SECRET_DATASET,
        "column": "email",
        "number": "1",
        "fmt": "csv",
        "index": "0",
    }
    if "issues" in route:
        values["pk"] = ids["secret_issue"]
    elif "policies" in route:
        values["pk"] = ids["secret_policy"]
    elif "runs" in route:
        values["pk"] = ids["secret_run"]
    elif "access/requests" in route:
        values["pk"] = ids["secret_request"]
    elif "grants" in route:
        values["pk"] = ids["secret_grant"]

    missing = []

    def repl(match):
        key = match.group(1) or match.group(2)
        if key not in values:
            missing.append(key)
            return "x"
        return str(values[key])

    keys = {m.group(1) or m.group(2) for m in PARAM.finditer(route)}
    path = PARAM.sub(repl, route)
    if missing or keys <= {"fmt"} or any(part in route for part in NOT_ABOUT_DATASETS):
        return None  # not about the restricted dataset (models, jobs, tokens, activities)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path


@pytest.fixture
def secret_request(world):
    """An access request and grant on the restricted dataset, held by the admin."""
    from access.services import access_request_approve, access_request_create

    request = access_request_create(
        requester=world.users["admin"],
        dataset=world.secret,
        level="masked",
        purpose=f"Quarterly {SECRET} review of salaries",
    )
    world.ids["secret_request"] = request.pk
    for approver in ("steward", "compliance"):
        request.refresh_from_db()
        if request.status == "pending":
            access_request_approve(access_request=request, approver=world.users[approver])
    grant = AccessGrant.objects.get(request=request)
    world.ids["secret_grant"] = grant.pk
    return request


def test_every_url_about_the_restricted_dataset_is_404_for_an_engineer(world, secret_request):
    client = Client()  # no CSRF enforcement: the POST reaches the view and its permission check
    client.force_login(world.users["engineer"])
    before = Event.objects.count()
    checked, wrong = 0, []
    for name, route in _patterns():
        path = _fill(route, world)
        if path is None or route == REQUEST_BY_NAME:
            continue
        checked += 1
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            body = body_of(response).decode(errors="replace").lower()
            if SECRET in body:
                wrong.append(f"{method.upper()} {path} ({name}) shows {SECRET}")
            if response.status_code == 405:
                continue  # the method is refused before any lookup: reveals nothing
            if response.status_code != 404:
                wrong.append(f"{method.upper()} {path} ({name}): {response.status_code}")
    assert checked >= 40, checked
    assert not wrong, "\n".join(wrong)
    assert Event.objects.count() == before  # nothing was done on the engineer's behalf


def test_request_by_name_shows_only_the_name_and_tier(world):
    client = _client(world.users["engineer"])
    page = client.get(f"/access/datasets/{SECRET_DATASET}/request/")
    assert page.status_code == 200
    body = page.content.decode().lower()
    for hidden in ("marker description", f"{SECRET}_salary", f"{SECRET}-tag", f"{SECRET} nulls"):
        assert hidden not in body
    assert client.get("/access/datasets/no-such-dataset/request/").status_code == 404


def test_check_deploy_passes_with_production_settings(tmp_path):
    """`manage.py check --deploy --fail-level WARNING` with a production environment."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 64 + "production-like-secret-key-for-the-deploy-check",
        "ALLOWED_HOSTS": "charter.example.org",
        "CHARTER_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
