"""A reusable permission matrix: every endpoint x every persona -> the expected status.

Personas (a fixed cast, built once per test by `access_world`):

    anonymous      not logged in                       HTML -> 302 to /login/, API -> 401
    no_access      an ML engineer with no grant
    masked_grant   an ML engineer with a masked grant on both datasets
    full_grant     an ML engineer with a full grant on both datasets
    owner          the datasets' owner (an ML engineer)
    steward        a data steward
    compliance     a compliance officer
    admin          an administrator

The world has a restricted dataset (`vault`, invisible to no_access -> 404) and an internal one
(`ledgerbook`, visible to everyone, data readable only by grant holders -> 403), a pending
request by no_access on each, and the personas' grants.

Other apps extend the matrix by writing `Endpoint`s (url is a callable on the world) and
calling `check_endpoint(client, endpoint, persona, world)` from a parametrized test:

    ENDPOINTS = [Endpoint("my page", "get", lambda w: "/x/", {"anonymous": 302, ...})]
    @pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
    @pytest.mark.parametrize("persona", PERSONAS)
    def test_matrix(client, api_client, access_world, endpoint, persona):
        check_endpoint(client if not endpoint.api else api_client, endpoint, persona, access_world)
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from access.roles import ENGINEER
from access.services import access_request_approve, access_request_create
from catalog.models import Sensitivity
from tests.conftest import make_user

PERSONAS = (
    "anonymous",
    "no_access",
    "masked_grant",
    "full_grant",
    "owner",
    "steward",
    "compliance",
    "admin",
)
PURPOSE = "Matrix test: train and evaluate the churn model."


@dataclass
class World:
    users: dict[str, Any]
    restricted: Any
    internal: Any
    pending_restricted: Any  # request by no_access on the restricted dataset
    pending_internal: Any  # request by no_access on the internal dataset
    masked_grant: Any  # masked_grant's grant on the internal dataset
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Endpoint:
    name: str
    method: str  # "get" or "post"
    url: Callable[[World], str]
    expect: dict[str, int]  # persona -> status; personas left out are not checked
    data: Callable[[World], dict] | dict | None = None
    api: bool = False

    def __str__(self) -> str:
        return self.name


def check_endpoint(client, endpoint: Endpoint, persona: str, world: World):
    """Call `endpoint` as `persona` and assert the expected status (skipping unlisted personas)."""
    if persona not in endpoint.expect:
        pytest.skip(f"{endpoint.name}: no expectation for {persona}")
    user = world.users.get(persona)
    if user is not None:
        if endpoint.api:
            client.force_authenticate(user)
        else:
            client.force_login(user)
    url = endpoint.url(world)
    data = endpoint.data(world) if callable(endpoint.data) else endpoint.data
    call = getattr(client, endpoint.method)
    response = call(url, data or {}, format="json") if endpoint.api and data else call(url, data)
    expected = endpoint.expect[persona]
    assert response.status_code == expected, (
        f"{endpoint.name} as {persona}: {response.status_code}, expected {expected}"
    )
    if persona == "anonymous" and not endpoint.api and expected == 302:
        assert response["Location"].startswith("/login/")
    return response


def build_world(make_dataset, steward, steward2, compliance, admin_user) -> World:
    owner = make_user("owen", ENGINEER, first_name="Owen")
    users = {
        "anonymous": None,
        "no_access": make_user("nina", ENGINEER),
        "masked_grant": make_user("mick", ENGINEER),
        "full_grant": make_user("fran", ENGINEER),
        "owner": owner,
        "steward": steward,
        "compliance": compliance,
        "admin": admin_user,
    }
    restricted = make_dataset("vault", Sensitivity.RESTRICTED, owner=owner)
    internal = make_dataset("ledgerbook", Sensitivity.INTERNAL, owner=owner)
    grants = {}
    for persona, level in (("masked_grant", "masked"), ("full_grant", "full")):
        for dataset in (restricted, internal):
            req = access_request_create(
                requester=users[persona], dataset=dataset, level=level, purpose=PURPOSE
            )
            approvers = [steward2, compliance] if dataset == restricted else [steward2]
            for approver in approvers:
                req = access_request_approve(access_request=req, approver=approver)
            grants[(persona, dataset.name)] = req.grant
    pending = {
        dataset.name: access_request_create(
            requester=users["no_access"], dataset=dataset, level="masked", purpose=PURPOSE
        )
        for dataset in (restricted, internal)
    }
    return World(
        users=users,
        restricted=restricted,
        internal=internal,
        pending_restricted=pending["vault"],
        pending_internal=pending["ledgerbook"],
        masked_grant=grants[("masked_grant", "ledgerbook")],
        extra={"grants": grants},
    )


@pytest.fixture
def access_world(make_dataset, steward, steward2, compliance, admin_user) -> World:
    return build_world(make_dataset, steward, steward2, compliance, admin_user)


def expect(anonymous, no_access, masked_grant, full_grant, owner, steward, compliance, admin):
    """Positional shorthand in PERSONAS order, so a matrix row reads like a table row."""
    values = (anonymous, no_access, masked_grant, full_grant, owner, steward, compliance, admin)
    return {p: v for p, v in zip(PERSONAS, values, strict=True) if v is not None}
