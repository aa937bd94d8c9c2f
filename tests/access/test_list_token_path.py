"""A token GET of the plain dataset list, answered without DRF, equals the DRF view's answer."""

import pytest
from django.test import RequestFactory

from access.services import api_token_create
from catalog.api.lists import plain_token_list
from catalog.api.views import DatasetListCreateApi
from catalog.models import Sensitivity

pytestmark = pytest.mark.django_db
API = "/api/v1/datasets/"


@pytest.fixture
def token(make_dataset, engineer, grant_access):
    tiers = [Sensitivity.PUBLIC, Sensitivity.INTERNAL, Sensitivity.RESTRICTED]
    made = [make_dataset(f"d{i:02d}", tiers[i % 3]) for i in range(12)]
    grant_access(engineer, made[2])
    return api_token_create(user=engineer, name="t")[1]


def test_token_list_answers_as_the_drf_view(token):
    factory = RequestFactory()
    drf_view = DatasetListCreateApi.as_view()
    for query in ("", "?page=2&page_size=3", "?page_size=5", "?page=3&page_size=4", "?page=last"):
        for accept in ({}, {"HTTP_ACCEPT": "application/json"}, {"HTTP_ACCEPT": "*/*"}):
            get = lambda: factory.get(API + query, HTTP_AUTHORIZATION=f"Token {token}", **accept)  # noqa: B023, E731
            fast = plain_token_list(get())
            drf = drf_view(get()).render()
            assert fast is not None, query
            assert (fast.status_code, fast.content) == (drf.status_code, drf.content), query
            for header in ("Content-Type", "Vary", "Allow"):
                assert fast[header] == drf[header], (query, header)


def test_anything_else_goes_to_the_drf_view(api_client, token):
    factory = RequestFactory()
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    for url, headers in (
        (API, {}),
        (API, {"HTTP_AUTHORIZATION": "Token chr_not-a-token"}),
        (API, {"HTTP_AUTHORIZATION": "Basic abc"}),
        (API, {**auth, "HTTP_ACCEPT": "text/html"}),
        (API + "?search=d0", auth),
        (API + "?count=true", auth),
        (API + "?facets=1", auth),
        (API + "?format=json", auth),
        (API + "?page=99", auth),
    ):
        assert plain_token_list(factory.get(url, **headers)) is None, (url, headers)
    assert api_client.get(API, HTTP_AUTHORIZATION="Token chr_nope").status_code == 401
    assert api_client.get(API + "?page=99", HTTP_AUTHORIZATION=f"Token {token}").status_code == 404
    response = api_client.get(API + "?page_size=2", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200 and len(response.json()["results"]) == 2
