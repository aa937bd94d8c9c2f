"""The API list's compiled-once statements answer exactly what the ORM querysets answer."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from access.policies import datasets_for
from access.roles import role_names
from access.services import api_token_authenticate, api_token_create
from catalog.api.lists import DatasetList, dataset_url_filler, datetime_writer
from catalog.filters import DatasetFilter
from catalog.models import Dataset, Sensitivity
from catalog.selectors import searchable
from config.prepared import fetch_prepared

pytestmark = pytest.mark.django_db


def orm_window(user, first: int, limit: int) -> list[int]:
    qs = DatasetFilter(None, queryset=searchable(datasets_for(user, "view"))).qs
    return list(qs.values_list("pk", flat=True)[first : first + limit])


@pytest.fixture
def catalog(make_dataset, engineer, engineer2, grant_access):
    tiers = [Sensitivity.PUBLIC, Sensitivity.INTERNAL, Sensitivity.CONFIDENTIAL]
    tiers.append(Sensitivity.RESTRICTED)
    made = [make_dataset(f"d{i:02d}", tiers[i % 4]) for i in range(16)]
    make_dataset("owned-secret", Sensitivity.RESTRICTED, owner=engineer2)
    grant_access(engineer, made[3])  # restricted, granted to the engineer only
    return made


def test_plain_list_windows_equal_the_orm_for_every_role(
    catalog, engineer, engineer2, steward, compliance, admin_user, outsider
):
    for user in (engineer, engineer2, steward, compliance, admin_user, outsider):
        user = type(user).objects.get(pk=user.pk)  # no cached roles
        for first, limit in ((0, 5), (3, 7), (0, 100), (15, 5), (40, 5)):
            plain = DatasetList(user, QueryDict("")).window(first, limit)
            assert plain == orm_window(user, first, limit), (user.username, first, limit)
    # one statement for both engineers, each with their own id: their own grants and datasets
    mine = DatasetList(engineer, QueryDict("")).window(0, 100)
    theirs = DatasetList(engineer2, QueryDict("")).window(0, 100)
    names = dict(Dataset.objects.values_list("pk", "name"))
    assert "d03" in {names[pk] for pk in mine} - {names[pk] for pk in theirs}
    assert "owned-secret" in {names[pk] for pk in theirs} - {names[pk] for pk in mine}


def test_plain_list_drops_a_grant_at_its_expiry(make_dataset, engineer, grant_access):
    import time_machine

    dataset = make_dataset("secret", Sensitivity.RESTRICTED)
    grant_access(engineer, dataset, days=1)
    assert DatasetList(engineer, QueryDict("")).window(0, 10) == [dataset.pk]
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        assert DatasetList(engineer, QueryDict("")).window(0, 10) == []


def test_token_user_and_roles_come_in_one_query(engineer):
    token, raw = api_token_create(user=engineer, name="t")
    api_token_authenticate(raw=raw)  # the first use also notes last_used_at
    with CaptureQueriesContext(connection) as ctx:
        user = api_token_authenticate(raw=raw)
        roles = role_names(user)
    assert len(ctx.captured_queries) == 1 and "access_apitoken" in ctx.captured_queries[0]["sql"]
    fresh = type(engineer).objects.get(pk=engineer.pk)
    assert roles == role_names(fresh) == ["ML engineer"]
    for field in type(engineer)._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(fresh, field.attname), field.name
    assert not user._state.adding and user._state.db == "default"
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_prepared_statements_return_what_a_plain_cursor_returns(catalog):
    sql = 'SELECT "id", "name", "updated_at" FROM "catalog_dataset" WHERE "id" = ANY(%s)'
    ids = [d.pk for d in catalog[:5]]
    with connection.cursor() as cursor:
        cursor.execute(sql + ' ORDER BY "id"', [ids])
        expected = cursor.fetchall()
    for _ in range(7):  # past PostgreSQL's first five plans
        with CaptureQueriesContext(connection) as ctx:
            assert fetch_prepared(sql + ' ORDER BY "id"', [ids]) == expected
    assert str(ids[0]) in ctx.captured_queries[0]["sql"]  # logged as text, values written in


def test_datetime_writer_writes_what_the_drf_field_writes():
    field = serializers.DateTimeField()
    values = [
        datetime(2026, 11, 28, 7, 1, 2, 345678, tzinfo=UTC),
        datetime(2026, 11, 28, 7, 1, 2, tzinfo=UTC),
        datetime(2026, 6, 1, 23, 30, tzinfo=ZoneInfo("America/New_York")),
        datetime(2026, 1, 1, 12, 0),  # noqa: DTZ001  naive: the field makes it aware
        None,
    ]
    for zone in ("UTC", "Europe/Paris"):
        with timezone.override(ZoneInfo(zone)):
            write = datetime_writer()
            assert [write(v) for v in values] == [field.to_representation(v) for v in values]


def test_dataset_urls_are_quoted_as_reverse_quotes_them():
    from django.urls import reverse

    fill = dataset_url_filler()
    for name in ("plain.name-1_x~", "a b", "ünï", "x:z@w,(y)", "q?a=1&b#c", "100%"):
        assert fill(name) == reverse("catalog:dataset-detail", kwargs={"name": name})


def test_list_answers_the_same_with_prepared_statements_turned_off(catalog, engineer, settings):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=engineer, name='list')[1]}"
    )
    prepared = client.get("/api/v1/datasets/?page_size=5&page=2").json()
    settings.CHARTER_PREPARED_STATEMENTS = False
    with CaptureQueriesContext(connection) as ctx:
        plain = client.get("/api/v1/datasets/?page_size=5&page=2").json()
    assert plain == prepared and len(prepared["results"]) == 5
    assert ctx.captured_queries  # the same statements, sent as text


def test_granted_datasets_need_the_read_permission_held_directly_or_by_a_group(
    make_dataset, engineer, grant_access
):
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm, remove_perm

    direct, by_group, full_only, none = (
        make_dataset(name, Sensitivity.RESTRICTED) for name in ("direct", "group", "full", "none")
    )
    for dataset in (direct, by_group, full_only, none):
        grant_access(engineer, dataset)
    group = Group.objects.create(name="readers")
    engineer.groups.add(group)
    for dataset in (by_group, full_only, none):
        remove_perm("catalog.read_dataset_data", engineer, dataset)
    assign_perm("catalog.read_dataset_data", group, by_group)
    assign_perm("catalog.read_dataset_data_full", engineer, full_only)
    expected = [direct.pk, by_group.pk]
    assert sorted(datasets_for(engineer, "view").values_list("pk", flat=True)) == expected
    assert sorted(DatasetList(engineer, QueryDict("")).window(0, 10)) == expected


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_run_on_generic_plans_outside_transactions():
    from django.db import transaction

    connection.close()
    with transaction.atomic():  # a SET here would be undone by a rollback: not done
        assert fetch_prepared("SELECT %s::int", [1]) == [(1,)]
        with connection.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            assert cursor.fetchone() == ("auto",)
    assert fetch_prepared("SELECT %s::int", [2]) == [(2,)]
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)
