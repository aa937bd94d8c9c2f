"""Search, facets and visibility: the same behaviour on PostgreSQL (FTS + trigram) and SQLite."""

import pytest
from django.urls import reverse

from access.policies import datasets_for
from catalog import selectors, services
from catalog.filters import DatasetFilter
from catalog.models import Dataset, Sensitivity

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(make_dataset, steward):
    customers = make_dataset("customers", sensitivity=Sensitivity.RESTRICTED)
    services.dataset_update(
        dataset=customers,
        actor=steward,
        data={"title": "Customer master data", "tags": ["crm"], "domain": "Customer"},
    )
    loans = make_dataset("loan-applications", sensitivity=Sensitivity.CONFIDENTIAL)
    services.dataset_update(
        dataset=loans,
        actor=steward,
        data={
            "title": "Loan applications",
            "description": "Credit decisions with approval labels",
            "tags": ["credit"],
            "domain": "Lending",
        },
    )
    weather = make_dataset("weather", sensitivity=Sensitivity.PUBLIC)
    services.column_update(
        column=weather.columns.get(name="city"), actor=steward, data={"description": "Station town"}
    )
    return {"customers": customers, "loans": loans, "weather": weather}


def names(user, **params):
    filterset = DatasetFilter(params, queryset=datasets_for(user, "view"))
    assert filterset.is_valid(), filterset.errors
    return [d.name for d in filterset.qs]


def test_search_by_name_title_description_column_and_tag(catalog, steward):
    assert names(steward, search="loan") == ["loan-applications"]
    assert names(steward, search="approval labels") == ["loan-applications"]
    assert names(steward, search="credit") == ["loan-applications"]
    assert names(steward, search="station") == ["weather"]
    assert names(steward, search="customer master") == ["customers"]


def test_search_forgives_typos(catalog, steward):
    assert "customers" in names(steward, search="custmers")
    assert "loan-applications" in names(steward, search="aplications")
    assert names(steward, search="zzzqqq") == []


def test_search_matches_prefixes_while_typing(catalog, steward):
    assert names(steward, search="appl") == ["loan-applications"]


def test_restricted_datasets_never_appear_to_an_engineer(catalog, engineer, steward):
    assert "customers" not in names(engineer)
    assert names(engineer, search="customers") == []
    assert names(engineer, search="custmers") == []
    facets = selectors.dataset_facets(datasets_for(engineer, "view"))
    assert all(f["value"] != "restricted" for f in facets["sensitivity"])
    assert all(f["value"] != "crm" for f in facets["tag"])
    assert sum(f["count"] for f in facets["status"]) == 2
    assert "customers" in names(steward)


def test_facet_filters_and_counts(catalog, steward):
    assert names(steward, sensitivity="public") == ["weather"]
    assert names(steward, tag="credit") == ["loan-applications"]
    assert names(steward, domain="Customer") == ["customers"]
    assert names(steward, owner="stella") == ["customers", "loan-applications", "weather"]
    facets = selectors.dataset_facets(datasets_for(steward, "view"))
    assert {f["value"]: f["count"] for f in facets["sensitivity"]} == {
        "restricted": 1,
        "confidential": 1,
        "public": 1,
    }
    assert {f["value"]: f["count"] for f in facets["domain"]} == {"Customer": 1, "Lending": 1}


def test_contains_pii_facet(make_dataset, steward, data_root):
    from tests.catalog.conftest import CUSTOMER_HEADER, customer_rows, write_csv

    plain = make_dataset("plain")
    path = write_csv(data_root / "people.csv", CUSTOMER_HEADER, customer_rows(10))
    services.dataset_register(actor=steward, name="people", source_kind="file", path=str(path))
    # Not yet profiled: nothing suggested; classify by hand.
    people = Dataset.objects.get(name="people")
    services.column_update(
        column=people.columns.get(name="email"), actor=steward, data={"pii_kind": "email"}
    )
    assert names(steward, contains_pii="true") == ["people"]
    assert names(steward, contains_pii="false") == [plain.name]


def test_sorting(catalog, steward):
    assert names(steward, sort="name") == ["customers", "loan-applications", "weather"]
    assert names(steward, sort="-created_at")[0] == "weather"


def test_count_is_capped(settings, monkeypatch, make_dataset, steward):
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    for i in range(4):
        make_dataset(f"n{i}")
    paginator = selectors.CappedPaginator(Dataset.objects.order_by("name"), 20)
    assert paginator.count == 3 and paginator.capped


def test_list_page_shows_10000_plus(client, steward, make_dataset, monkeypatch):
    import catalog.templatetags.catalog_tags as tags

    monkeypatch.setattr(selectors, "COUNT_CAP", 1)
    monkeypatch.setattr(tags, "COUNT_CAP", 1)
    make_dataset("a1")
    make_dataset("a2")
    client.force_login(steward)
    response = client.get(reverse("catalog:dataset-list"))
    assert b"10,000+ datasets" in response.content


def test_typeahead_partial_respects_visibility(client, catalog, engineer):
    client.force_login(engineer)
    response = client.get(reverse("catalog:dataset-list"), {"search": "cust", "partial": "1"})
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"customers" not in response.content
    response = client.get(reverse("catalog:dataset-list"), {"search": "loan", "partial": "1"})
    assert b"loan-applications" in response.content


def test_partial_brings_the_facets_of_the_same_query(client, catalog, engineer):
    """As the user types, the filters are swapped with the results: same counts and links as
    the full page of that query (links without `partial`)."""
    client.force_login(engineer)
    target = reverse("catalog:dataset-list")
    full = client.get(target, {"search": "loan"}).context["facets"]
    response = client.get(target, {"search": "loan", "partial": "1"})
    html = response.content.decode()
    assert 'id="results-update"' in html and 'id="facets-update"' in html
    assert response.context["facets"] == full
    assert sum(item["count"] for item in full["status"]) == response.context["page"].paginator.count
    assert all("partial" not in item["url"] for items in full.values() for item in items)
    for item in full["sensitivity"]:
        assert f'href="{item["url"]}"'.replace("&", "&amp;") in html


TYPEAHEAD = "/api/v1/typeahead/datasets/"


def typeahead(client, user, text):
    client.force_login(user)
    response = client.get(TYPEAHEAD, {"q": text})
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_typeahead_names_only_and_permission_filtered(
    client, catalog, engineer, steward, compliance
):
    from access.services import access_request_approve, access_request_create

    assert typeahead(client, steward, "cust") == ["customers"]
    assert typeahead(client, engineer, "cust") == []  # restricted, no grant
    assert typeahead(client, engineer, "loan") == ["loan-applications"]
    assert typeahead(client, engineer, "Loan appl") == ["loan-applications"]  # the title
    assert typeahead(client, engineer, "station") == []  # names and titles only, not columns
    assert typeahead(client, engineer, "") == []
    request = access_request_create(
        requester=engineer,
        dataset=catalog["customers"],
        level="masked",
        purpose="Typeahead test",
        duration_days=None,
        columns=None,
    )
    for approver in (steward, compliance):
        request = access_request_approve(access_request=request, approver=approver)
    assert typeahead(client, engineer, "cust") == ["customers"]
    row = client.get(TYPEAHEAD, {"q": "cust"}).json()["results"][0]
    assert row == {
        "name": "customers",
        "title": "Customer master data",
        "url": reverse("catalog:dataset-detail", kwargs={"name": "customers"}),
    }


def test_typeahead_returns_eight_by_name(client, steward):
    for i in range(10):
        Dataset.objects.create(name=f"sales-{9 - i}", source_kind="file", owner=steward)
    assert typeahead(client, steward, "sales") == [f"sales-{i}" for i in range(8)]


def test_facets_stop_at_the_count_cap(catalog, steward, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 1)
    facets = selectors.dataset_facets(datasets_for(steward, "view"))
    assert sum(f["count"] for f in facets["sensitivity"]) == 2  # COUNT_CAP + 1 of 3 matches
    assert sum(f["count"] for f in facets["status"]) == 2


def test_list_flags_pii_per_row(make_dataset, steward, data_root, client):
    from tests.catalog.conftest import CUSTOMER_HEADER, customer_rows, write_csv

    make_dataset("plain")
    path = write_csv(data_root / "people.csv", CUSTOMER_HEADER, customer_rows(10))
    services.dataset_register(actor=steward, name="people", source_kind="file", path=str(path))
    people = Dataset.objects.get(name="people")
    services.column_update(
        column=people.columns.get(name="email"), actor=steward, data={"pii_kind": "email"}
    )
    rows = selectors.dataset_list(datasets_for(steward, "view")).order_by("name")
    assert {d.name: d.has_pii for d in rows} == {"people": True, "plain": False}


def test_search_box_asks_the_typeahead_endpoint(client, steward):
    client.force_login(steward)
    page = client.get(reverse("catalog:dataset-list")).content.decode()
    assert f'data-typeahead-url="{TYPEAHEAD}"' in page
    assert 'list="search-suggestions"' in page and '<datalist id="search-suggestions">' in page


# --- typo path (vocabulary) and bounded ranking -----------------------------------------------


def _vocabulary() -> set[str] | None:
    """The words of `catalog_searchword` (PostgreSQL), None where there is no such table."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT word FROM catalog_searchword")
        return {row[0] for row in cursor.fetchall()}


def test_vocabulary_follows_renames_descriptions_tags_and_columns(catalog, steward):
    """Whatever changes the search document adds its words (the triggers of migration 0007)."""
    weather = catalog["weather"]
    services.dataset_update(
        dataset=weather,
        actor=steward,
        data={"description": "Precipitation gauges", "tags": ["meteorology"]},
    )
    services.column_update(
        column=weather.columns.get(name="city"), actor=steward, data={"description": "Anemometer"}
    )
    words = _vocabulary()
    if words is None:
        pytest.skip("the vocabulary table is PostgreSQL's")
    assert {"precipitation", "gauges", "meteorology", "anemometer", "weather"} <= words
    assert not any(w[0].isdigit() or "-" in w for w in words)
    # ... and a typo of each finds the dataset.
    for typo in ("precipitaton", "meteorolgy", "anemometr"):
        assert names(steward, search=typo) == ["weather"], typo


def test_typo_finds_a_word_from_any_part_of_the_document(catalog, steward):
    assert names(steward, search="aprovals") == ["loan-applications"]  # description
    assert names(steward, search="staton town") == ["weather"]  # column description
    assert names(steward, search="custmer masterr") == ["customers"]  # two typos


def test_typo_never_reveals_a_restricted_dataset(catalog, engineer, steward):
    """The vocabulary holds every document's words; the corrected search is still filtered."""
    services.dataset_update(
        dataset=catalog["customers"], actor=steward, data={"description": "Zanzibar ledger"}
    )
    assert names(steward, search="zanzibr") == ["customers"]
    assert names(engineer, search="zanzibr") == []
    assert names(engineer, search="zanzibar") == []


def test_a_correctly_spelt_word_is_not_widened(catalog, steward, make_dataset):
    """Spelling alternatives are only tried when the words as typed match nothing."""
    make_dataset("loans-archive")
    assert names(steward, search="loan") == ["loan-applications", "loans-archive"]


def test_relevance_ranks_the_first_matches_only_past_the_cap(catalog, steward, monkeypatch):
    """Ranked pages rank a bounded candidate set: the first COUNT_CAP + 1 matches."""
    for i in range(3):
        services.dataset_update(
            dataset=catalog["weather"] if i == 0 else catalog["loans"],
            actor=steward,
            data={"title": "Station report"},
        )
    results = DatasetFilter({"search": "station"}, queryset=datasets_for(steward, "view")).qs
    assert selectors.ranked_by_relevance(results)
    ids, count = selectors.ranked_window(results, 0, 20)
    assert count == 2 and len(ids) == 2
    monkeypatch.setattr(selectors, "COUNT_CAP", 0)
    ids, count = selectors.ranked_window(results, 0, 20)
    assert count == 1 and len(ids) == 1  # one candidate ranked, and counted
    by_name = DatasetFilter({"search": "station", "sort": "name"}, queryset=results).qs
    assert not selectors.ranked_by_relevance(by_name)


def test_ranked_page_matches_the_queryset_order(catalog, steward, client):
    """The one-pass window returns the same page as ordering every match."""
    results = DatasetFilter({"search": "a"}, queryset=datasets_for(steward, "view")).qs
    ids, count = selectors.ranked_window(results, 0, 20)
    assert ids == list(results.values_list("pk", flat=True)) and count == len(ids)
    ids, _count = selectors.ranked_window(results, 1, 1)
    assert ids == list(results.values_list("pk", flat=True)[1:2])


def test_ranked_page_brings_the_same_facets(catalog, steward, engineer, client):
    """One pass for the page, the count and the facets: the same answers as separately."""
    for user in (steward, engineer):
        results = DatasetFilter({"search": "a"}, queryset=datasets_for(user, "view")).qs
        ids, count, facets = selectors.ranked_window_with_facets(results, 0, 20)
        assert (ids, count) == selectors.ranked_window(results, 0, 20)
        assert facets == selectors.dataset_facets(results)
    client.force_login(engineer)
    response = client.get(reverse("catalog:dataset-list"), {"q": "custmers loan"})
    assert [d.name for d in response.context["page"]] == []
    response = client.get(reverse("catalog:dataset-list"), {"q": "loan"})
    assert [d.name for d in response.context["page"]] == ["loan-applications"]
    assert [f["value"] for f in response.context["facets"]["tag"]] == ["credit"]


def test_query_toggler_gives_the_links_of_toggled_query():
    """The facet links encode the other parameters once; each link is what toggled_query gives."""
    import random

    from django.http import QueryDict

    from catalog.templatetags.catalog_tags import query_toggler, toggled_query

    keys = ["q", "tag", "page", "partial", "domain", "ä k", "&x"]
    values = ["", "a", "é", "a b&c", "true", True, 3]
    rng = random.Random(8)
    for _ in range(300):
        query = QueryDict(mutable=True)
        for _ in range(rng.randint(0, 6)):
            query.appendlist(rng.choice(keys), str(rng.choice(values)))
        for key in keys:
            toggled = query_toggler(query, key)
            assert [toggled(v) for v in values] == [toggled_query(query, key, v) for v in values]


@pytest.mark.parametrize(
    "params",
    [
        {"search": "loan"},
        {"search": "  custmers  "},
        {"search": ""},
        {"search": "   "},
        {"search": "?!"},
        {"search": "loan", "page": "2", "partial": "1"},
        {"search": "a\x00b"},
        {"search": "loan", "sort": "name"},
        {"search": "loan", "tag": "credit"},
    ],
)
def test_search_box_alone_skips_the_form_with_the_same_results(catalog, engineer, params):
    """`search` as the only filter is cleaned without building the form; the queryset, its
    SQL and whether it is valid are what the form path gives."""
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(params)
    visible = datasets_for(engineer, "view")

    class FormPath(DatasetFilter):
        def _search_only(self):
            return None

    fast, slow = DatasetFilter(query, queryset=visible), FormPath(query, queryset=visible)
    assert fast.is_valid() == slow.is_valid()
    if slow.is_valid():
        assert str(fast.qs.query) == str(slow.qs.query)
        assert list(fast.qs.values_list("pk", flat=True)) == list(
            slow.qs.values_list("pk", flat=True)
        )
