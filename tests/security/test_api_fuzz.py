"""Schemathesis fuzzing of Charter's own OpenAPI schema, authenticated as each role.

For every operation in `/api/schema/` (fetched through the app as the role, with its token) and
every role, schemathesis generates requests from the schema with a fixed seed and a bounded
number of examples, sends them to the WSGI app in-process and checks each response:

- `not_a_server_error`: no 5xx, ever;
- `response_schema_conformance` / `content_type_conformance`: a documented response has the
  documented shape (drf-spectacular documents the success codes; 400/403/404 bodies are the
  API's uniform error shape, tested in tests/config);
- `ignored_auth`: an operation that declares authentication refuses the same request sent
  without credentials and with made-up ones;
- object authorisation, Charter's way: the restricted marker dataset (see conftest) is requested
  by name as every role, and nothing answered to a role that may not see it contains its marker;
- a response slower than 0.5 s is re-timed once and fails if it is slow again.

A second pass pins path parameters to real objects (a public dataset, the restricted one, the
ids of its issue report, audit policy and run) so the fuzz reaches past the 404s of random ids.
Failures are collected per (role, operation) and reported together.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
)

from tests.security.conftest import PUBLIC_DATASET, ROLES, SECRET, SECRET_DATASET

pytestmark = pytest.mark.django_db

EXAMPLES = 6
SLOW = 0.5
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    ignored_auth,
]
# Roles that may not see the restricted marker dataset (no grant, not owner/steward).
BLIND = {"engineer"}
# Operations whose job is to accept a body the schema cannot describe fully (gzip, raw events).
RAW_BODY = {"/api/v1/lineage"}


@pytest.fixture(autouse=True, scope="module")
def keep_the_test_connection():
    """Requests go straight to the WSGI handler, whose signals would close the connection that
    holds the test's transaction; Django's own test client disconnects them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _schema(world, role: str):
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application(), headers=world.auth(role)
    )


def _pinned(world, operation) -> list[dict]:
    """Path parameters naming real objects for this operation (empty if it takes none)."""
    names = {p.name for p in operation.path_parameters}
    if not names:
        return []
    choices = []
    for dataset in (PUBLIC_DATASET, SECRET_DATASET):
        values: dict = {}
        if "name" in names:
            values["name"] = dataset
        if "id" in names:
            path = operation.path
            if "issues" in path:
                values["id"] = world.ids["secret_issue"]
            elif "audit-policies" in path:
                values["id"] = world.ids["secret_policy"]
            elif "audit-runs" in path:
                values["id"] = world.ids["secret_run"]
            else:
                values["id"] = 1
        for other in names - set(values):
            values[other] = {"column": "email", "number": 1, "fmt": "json", "version": "1"}.get(
                other, "1"
            )
        choices.append(values)
    return choices


def _run(world, role: str, operation, path_parameters: dict | None, failures: list) -> None:
    headers = world.auth(role)
    strategy = (
        operation.as_strategy(path_parameters=path_parameters)
        if path_parameters
        else (operation.as_strategy())
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def fuzz(case):
        response = case.call(headers=headers)
        if response.elapsed > SLOW:
            again = time.perf_counter()
            response = case.call(headers=headers)
            if time.perf_counter() - again > SLOW:
                raise AssertionError(
                    f"{case.method} {case.formatted_path} took {response.elapsed:.2f}s twice"
                )
        checks = CHECKS
        if operation.path in RAW_BODY:
            checks = [not_a_server_error]
        case.validate_response(response, checks=checks, headers=headers)
        if role in BLIND:
            assert SECRET not in response.content.decode(errors="replace").lower(), (
                f"{case.method} {case.formatted_path} showed {SECRET} to {role}: "
                f"{response.status_code} {response.content[:300]!r}"
            )

    try:
        fuzz()
    except BaseException as exc:  # noqa: BLE001  collect every operation's failure
        if isinstance(exc, KeyboardInterrupt):
            raise
        failures.append(f"[{role}] {operation.method.upper()} {operation.path}: {exc}"[:2000])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("role", ROLES)
def test_fuzz_api_as_role(world, role):
    schema = _schema(world, role)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30, "the schema lost its operations"
    for operation in operations:
        _run(world, role, operation, None, failures)
        for pinned in _pinned(world, operation):
            _run(world, role, operation, pinned, failures)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


def test_restricted_dataset_is_404_by_name_for_engineer(world, client):
    """Object authorisation on every `{name}` API path: the restricted dataset does not exist."""
    schema = _schema(world, "engineer")
    seen = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "GET" or "{name}" not in operation.path:
            continue
        if "/models/" in operation.path:
            continue
        path = operation.path.replace("{name}", SECRET_DATASET)
        for param, value in {"{id}": world.ids["secret_issue"], "{column}": "email"}.items():
            path = path.replace(param, str(value))
        path = path.replace("{number}", "1")
        response = client.get(path, headers=world.auth("engineer"))
        seen += 1
        assert response.status_code == 404, (path, response.status_code)
        assert SECRET not in response.content.decode().lower(), path
    assert seen >= 6
