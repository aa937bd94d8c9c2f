"""The permission matrix over every app's dataset-scoped pages and API reads.

Visibility is the tier table's: a restricted dataset is invisible (404) to people without a grant
and without a steward, compliance or admin role; everyone else sees its metadata. Editing is for
its owner, stewards and admins (403 for others who can see it).
"""

import pytest

from tests.access.matrix import PERSONAS, Endpoint, check_endpoint, expect

pytestmark = pytest.mark.django_db

SEE_RESTRICTED = expect(302, 404, 200, 200, 200, 200, 200, 200)
SEE_INTERNAL = expect(302, 200, 200, 200, 200, 200, 200, 200)
API_SEE_RESTRICTED = expect(401, 404, 200, 200, 200, 200, 200, 200)
API_SEE_INTERNAL = expect(401, 200, 200, 200, 200, 200, 200, 200)
EDIT_RESTRICTED = expect(302, 404, 403, 403, 200, 200, 403, 200)
EDIT_INTERNAL = expect(302, 403, 403, 403, 200, 200, 403, 200)

PAGES = [
    ("overview", "/catalog/datasets/{}/"),
    ("schema", "/catalog/datasets/{}/schema/"),
    ("versions", "/catalog/datasets/{}/versions/"),
    ("issues", "/catalog/datasets/{}/issues/"),
    ("report issue form", "/catalog/datasets/{}/issues/new/"),
    ("access tab", "/catalog/datasets/{}/access/"),
    ("audits tab", "/catalog/datasets/{}/audits/"),
    ("lineage tab", "/lineage/datasets/{}/"),
]
API_READS = [
    ("api detail", "/api/v1/datasets/{}/"),
    ("api versions", "/api/v1/datasets/{}/versions/"),
    ("api issues", "/api/v1/datasets/{}/issues/"),
]


def _url(template, attr):
    return lambda w: template.format(getattr(w, attr).name)


ENDPOINTS = []
for tier, see, api_see, edit in (
    ("restricted", SEE_RESTRICTED, API_SEE_RESTRICTED, EDIT_RESTRICTED),
    ("internal", SEE_INTERNAL, API_SEE_INTERNAL, EDIT_INTERNAL),
):
    ENDPOINTS += [Endpoint(f"{name} {tier}", "get", _url(t, tier), see) for name, t in PAGES]
    ENDPOINTS += [
        Endpoint(f"{name} {tier}", "get", _url(t, tier), api_see, api=True) for name, t in API_READS
    ]
    ENDPOINTS.append(
        Endpoint(f"edit form {tier}", "get", _url("/catalog/datasets/{}/edit/", tier), edit)
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("persona", PERSONAS)
def test_dataset_pages_matrix(client, api_client, access_world, endpoint, persona):
    check_endpoint(api_client if endpoint.api else client, endpoint, persona, access_world)
