"""catalog_datasetsearch (migration 0008): the narrow copy the ranked page reads stays exact."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.policies import datasets_for
from catalog import selectors, services
from catalog.filters import DatasetFilter
from catalog.models import Dataset, Sensitivity

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]

COPIED = ("sensitivity", "status", "owner_id", "domain_id", "name")


def _copies() -> dict[int, tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, sensitivity, status, owner_id, domain_id, name, search_vector::text, "
            "tag_ids, has_pii FROM catalog_datasetsearch"
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _expected() -> dict[int, tuple]:
    """The same values computed from the catalog tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.id, {", ".join(f"d.{c}" for c in COPIED)}, d.search_vector::text,
                COALESCE((SELECT array_agg(t.tag_id ORDER BY t.tag_id)
                          FROM catalog_dataset_tags t WHERE t.dataset_id = d.id), '{{}}'),
                EXISTS (SELECT 1 FROM catalog_column c WHERE c.dataset_id = d.id
                        AND (c.pii_kind <> '' OR (c.suggested_pii_kind <> ''
                             AND NOT c.pii_reviewed)))
            FROM catalog_dataset d
            """  # noqa: S608
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def test_copies_follow_every_change(make_dataset, steward):
    weather = make_dataset("weather", sensitivity=Sensitivity.PUBLIC)
    loans = make_dataset("loans", sensitivity=Sensitivity.CONFIDENTIAL)
    assert _copies() == _expected() and len(_copies()) == 2
    services.dataset_update(
        dataset=loans,
        actor=steward,
        data={"title": "Loan book", "tags": ["credit", "risk"], "domain": "Lending"},
    )
    assert _copies() == _expected()
    assert len(_copies()[loans.pk][6]) == 2  # two tags
    services.dataset_update(dataset=loans, actor=steward, data={"tags": ["risk"]})
    Dataset.objects.filter(pk=loans.pk).update(sensitivity=Sensitivity.RESTRICTED)
    assert _copies() == _expected()
    city = weather.columns.get(name="city")
    services.column_update(column=city, actor=steward, data={"pii_kind": "address"})
    assert _copies()[weather.pk][7] is True and _copies() == _expected()
    services.column_update(column=city, actor=steward, data={"pii_kind": ""})
    assert _copies()[weather.pk][7] is False and _copies() == _expected()
    weather.columns.all().delete()
    loans.tags.clear()
    assert _copies() == _expected()
    Dataset.objects.filter(pk=weather.pk).delete()
    assert set(_copies()) == {loans.pk} and _copies() == _expected()


def test_page_reads_the_narrow_rows_and_gives_the_same_answers(make_dataset, steward, engineer):
    hidden = make_dataset("customers-secret", sensitivity=Sensitivity.RESTRICTED)
    services.dataset_update(dataset=hidden, actor=steward, data={"tags": ["crm"]})
    shown = make_dataset("customers-open", sensitivity=Sensitivity.INTERNAL)
    services.dataset_update(dataset=shown, actor=steward, data={"tags": ["sales"]})
    for user in (steward, engineer):
        for params in ({"search": "customers"}, {"search": "customers", "tag": "crm"}):
            results = DatasetFilter(params, queryset=datasets_for(user, "view")).qs
            sql, _ = (
                results.order_by().values_list("pk", "relevance", "name").query.sql_with_params()
            )
            assert selectors._on_search_rows(sql) is not None
            narrow = selectors.ranked_window_with_facets(results, 0, 20)
            ordered = list(results.values_list("pk", flat=True))  # the wide table, every match
            facets = selectors.dataset_facets(results)  # the wide table too
            assert narrow == (ordered[:20], len(ordered), facets)
            assert selectors.ranked_window(results, 0, 20) == (ordered[:20], len(ordered))
    engineer_results = DatasetFilter(
        {"search": "customers"}, queryset=datasets_for(engineer, "view")
    )
    ids, count, facets = selectors.ranked_window_with_facets(engineer_results.qs, 0, 20)
    assert ids == [shown.pk] and count == 1  # the restricted one: not even in the counts
    assert [f["value"] for f in facets["tag"]] == ["sales"]


def test_other_columns_keep_the_dataset_table(make_dataset, steward):
    make_dataset("weather")
    results = DatasetFilter({"search": "weather"}, queryset=datasets_for(steward, "view")).qs
    sql, _ = results.filter(title="x").order_by().values_list("pk").query.sql_with_params()
    assert selectors._on_search_rows(sql) is None


def test_catalog_page_uses_result_rows(client, make_dataset, steward):
    ds = make_dataset("weather", sensitivity=Sensitivity.PUBLIC)
    services.dataset_update(
        dataset=ds, actor=steward, data={"description": "Hourly **readings**", "tags": ["b", "a"]}
    )
    client.force_login(steward)
    page = client.get(reverse("catalog:dataset-list"), {"q": "weather"})
    (row,) = page.context["page"]
    assert (row.name, row.tag_list, row.summary) == ("weather", ["a", "b"], "Hourly readings")
    assert row.url == ds.get_absolute_url() and row.owner_label == "Stella"
    assert '<span class="chip">#a</span><span class="chip">#b</span>' in page.content.decode()


def test_api_search_pages_read_the_narrow_rows(api_client, make_dataset, steward, engineer):
    """The API's relevance pages come from catalog_datasetsearch, in the wide table's order
    (every match ranked; ties broken by name)."""
    for i in range(7):
        sensitivity = Sensitivity.RESTRICTED if i % 3 == 0 else Sensitivity.INTERNAL
        ds = make_dataset(f"orders-{i}", sensitivity=sensitivity)
        words = "orders " * (i % 4)  # ranks differ, and some tie (name breaks the tie)
        services.dataset_update(dataset=ds, actor=steward, data={"description": words})
    for user in (steward, engineer):
        results = DatasetFilter({"search": "orders"}, queryset=datasets_for(user, "view")).qs
        ordered = list(results.values_list("pk", flat=True))  # the wide table, every match
        assert selectors.ranked_ids(results, 0, 100) == ordered
        assert selectors.ranked_ids(results, 2, 3) == ordered[2:5]
        names = list(results.values_list("name", flat=True))
        api_client.force_authenticate(user)
        with CaptureQueriesContext(connection) as ctx:
            body = api_client.get("/api/v1/datasets/", {"search": "orders", "page_size": 4})
        assert [d["name"] for d in body.json()["results"]] == names[:4]
        assert any('FROM "catalog_datasetsearch"' in q["sql"] for q in ctx.captured_queries)
    assert len(names) == 4  # the engineer: restricted ones left out


def test_facets_count_by_id_and_label_after(make_dataset, steward):
    """Facet values are labelled after counting by id: the same counts per name as before,
    datasets without an owner or domain left out of those facets."""
    a = make_dataset("sales-a", sensitivity=Sensitivity.PUBLIC)
    b = make_dataset("sales-b", sensitivity=Sensitivity.INTERNAL)
    make_dataset("sales-c", sensitivity=Sensitivity.INTERNAL)
    services.dataset_update(dataset=a, actor=steward, data={"tags": ["x", "y"], "domain": "Ops"})
    services.dataset_update(dataset=b, actor=steward, data={"tags": ["x"], "domain": "Ops"})
    Dataset.objects.filter(pk=b.pk).update(owner=None)
    results = DatasetFilter({"search": "sales"}, queryset=datasets_for(steward, "view")).qs
    _ids, count, facets = selectors.ranked_window_with_facets(results, 0, 20)
    assert count == 3 and facets == selectors.dataset_facets(results)
    assert [(f["value"], f["count"]) for f in facets["tag"]] == [("x", 2), ("y", 1)]
    assert [(f["value"], f["count"]) for f in facets["domain"]] == [("Ops", 2)]
    assert sum(f["count"] for f in facets["owner"]) == 2
