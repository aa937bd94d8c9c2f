"""`GET /api/v1/datasets/` without DRF's per-row machinery: the hot list path of the API.

A page is the ids of one window of the filtered, ordered queryset (one narrow query), then
the rows of those ids as `.values()` (one query) and their tags (one query), written straight
into dicts with the URL pattern reversed once. DatasetListOutputSerializer still documents
the row shape in the OpenAPI schema; a test holds these rows equal to what it produces.
The capped count is a pass over up to 10,001 visible rows, so it is sent only when asked
(`?count=true`); docs/decisions.md says why.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import RFC3986_SUBDELIMS
from rest_framework import ISO_8601, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param

from access.authentication import answered_first, token_user
from access.policies import datasets_for, statement_for
from catalog import selectors
from catalog.filters import DatasetFilter
from catalog.models import Dataset
from catalog.selectors import CappedPaginator, pii_flag
from config.api import Pagination
from config.prepared import fetch_prepared

TRUE_VALUES = ("1", "true")
_URL_MARKER = "charter-dataset-name-marker"
# Columns of a list row, read as they are (the related ones under names of their own).
_ROW_VALUES = (
    "name",
    "title",
    "description",
    "sensitivity",
    "status",
    "row_count",
    "size_bytes",
    "profile_status",
    "updated_at",
)
_ROW_RENAMED = {
    "owner_name": F("owner__username"),
    "domain_name": F("domain__name"),
    "version_number": F("current_version__number"),
}


class DatasetListPagination(Pagination):
    """Page numbers (`?page=`, `?page_size=` up to 200) with `next`/`previous` links.

    One id more than the page is fetched to know whether there is a next page, so no count
    is needed. `?count=true` adds the capped `count` and `count_capped`, computed in the same
    round trip as the page's ids. As before, pages start at most at the 10,001st match.
    """

    count_query_param = "count"

    def paginate_ids(self, datasets: DatasetList, request) -> list[int]:
        """The ids of the requested page, in order; NotFound for a page that does not exist."""
        self.request = request
        self.page_size = self.get_page_size(request)
        self.count: int | None = None
        self.wants_count = request.query_params.get(self.count_query_param) in TRUE_VALUES
        raw = request.query_params.get(self.page_query_param) or 1
        if raw in self.last_page_strings:
            # the only page number that needs the count
            raw = CappedPaginator(datasets.queryset, self.page_size).num_pages
        try:
            self.number = int(raw)
        except (TypeError, ValueError):
            raise NotFound(self.invalid_page_message) from None
        first = (self.number - 1) * self.page_size
        if self.number < 1 or first > selectors.COUNT_CAP:
            raise NotFound(self.invalid_page_message)
        if self.wants_count:
            paginator = CappedPaginator(datasets.queryset, self.page_size)
            ids, self.count = paginator._window(first, self.page_size + 1)
        else:
            ids = datasets.window(first, self.page_size + 1)
        if not ids and self.number > 1:
            raise NotFound(self.invalid_page_message)
        # Past the cap there is no next page, as the capped count's last page had none.
        self.has_next = len(ids) > self.page_size and first + self.page_size <= selectors.COUNT_CAP
        return ids[: self.page_size]

    def get_paginated_response(self, data: list[dict[str, Any]]) -> Response:
        body: dict[str, Any] = {}
        if self.wants_count:
            body["count"] = min(self.count, selectors.COUNT_CAP + 1)
            body["count_capped"] = self.count > selectors.COUNT_CAP
        body["next"] = self.get_next_link()
        body["previous"] = self.get_previous_link()
        body["results"] = data
        return Response(body)

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        schema = super().get_paginated_response_schema(schema)
        schema["required"] = ["results"]
        schema["properties"]["count"]["description"] = (
            "Only with `count=true`: matches, counted up to 10,001."
        )
        schema["properties"]["count_capped"] = {
            "type": "boolean",
            "description": "Only with `count=true`: true when there are more than 10,000.",
        }
        return schema

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "description": "Add `count` (capped at 10,001) and `count_capped` to the page.",
                "schema": {"type": "boolean"},
            },
        ]


class DatasetList:
    """The datasets a list request asks for: those `user` may see, filtered by `params`.

    With no filter parameter at all (a plain list: visible datasets by name) a page's ids come
    from a statement compiled once per set of roles (`access.policies.statement_for`); the
    filtered queryset is built only when something needs it (a count, facets, the last page).
    Building the policy predicate and a filterset, then compiling them, cost ~3 ms of Python
    per request, about what PostgreSQL needs to answer.
    """

    def __init__(self, user, params) -> None:
        self.user = user
        self.params = params
        self.plain = not (params.keys() & DatasetFilter.base_filters.keys())
        if not self.plain:
            self.queryset  # noqa: B018  an invalid filter is a 400 before anything else

    @functools.cached_property
    def queryset(self) -> QuerySet[Dataset]:
        """Visible datasets, filtered and sorted as asked (sorted by name when not filtered)."""
        visible = selectors.searchable(datasets_for(self.user, "view"))
        filterset = DatasetFilter(None if self.plain else self.params, queryset=visible)
        if filterset.is_bound and not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return filterset.qs

    def window(self, first: int, limit: int) -> list[int]:
        """Ids of up to `limit` datasets from the `first` (0-based), in order."""
        if not self.plain:
            if selectors.ranked_by_relevance(self.queryset):  # a search: the narrow rows
                return selectors.ranked_ids(self.queryset, first, limit)
            return list(self.queryset.values_list("pk", flat=True)[first : first + limit])
        try:
            sql, params = statement_for(_plain_list_ids, self.user)
        except EmptyResultSet:
            return []
        # LIMIT and OFFSET are written in (integers): with them as parameters PostgreSQL
        # cannot cost a generic plan for the page and plans the statement every time.
        paged = f"{sql} LIMIT {int(limit)} OFFSET {int(first)}"  # after Django's ORDER BY
        return [row[0] for row in fetch_prepared(paged, params)]


def _plain_list_ids(user, now) -> QuerySet[Dataset]:
    """A plain list's ids: what an unbound DatasetFilter gives (visible datasets by name)."""
    visible = selectors.searchable(datasets_for(user, "view", now=now))
    return DatasetFilter(None, queryset=visible).qs.values_list("pk", flat=True)


def dataset_url_filler():
    """`reverse()` the dataset page once; fill each name in, quoted as reverse() quotes it."""
    prefix, suffix = reverse("catalog:dataset-detail", kwargs={"name": _URL_MARKER}).split(
        _URL_MARKER
    )
    safe = RFC3986_SUBDELIMS + "/~:@"
    # Exactly the names quote() leaves as they are (its always-safe characters and `safe`).
    as_is = re.compile(f"[A-Za-z0-9_.~{re.escape(safe)}-]*").fullmatch

    def fill(name: str) -> str:
        return prefix + (name if as_is(name) else quote(name, safe=safe)) + suffix

    return fill


def datetime_writer() -> Callable[[datetime | None], str | None]:
    """DRF's DateTimeField.to_representation with its settings read once, not once per value.

    For aware datetimes in the ISO 8601 format (what PostgreSQL gives with USE_TZ) it writes
    what the field writes: the value in the current time zone, "+00:00" written "Z". Anything
    else goes to the field itself.
    """
    field = serializers.DateTimeField()
    zone = field.default_timezone()
    if zone is None or (api_settings.DATETIME_FORMAT or "").lower() != ISO_8601:
        return field.to_representation

    def write(value: datetime | None) -> str | None:
        if not value or value.tzinfo is None:
            return field.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return write


def _rows_queryset(condition) -> QuerySet[Dataset]:
    return (
        Dataset.objects.filter(condition)
        .order_by()
        .values("id", *_ROW_VALUES, **_ROW_RENAMED, has_pii=pii_flag())
    )


@functools.cache
def _postgres_rows_statement() -> selectors.RowsByIds:
    return selectors.RowsByIds.compile(_rows_queryset)


def _postgres_rows(ids: list[int]) -> dict[int, dict[str, Any]]:
    statement = _postgres_rows_statement()
    return statement.by_id(fetch_prepared(statement.sql, statement.params_for(ids)))


def _orm_rows(ids: list[int]) -> dict[int, dict[str, Any]]:
    found = {row["id"]: row for row in _rows_queryset(Q(pk__in=ids))}
    for row in found.values():
        row["tag_names"] = []
    tagged = Dataset.tags.through.objects.filter(dataset_id__in=ids)
    for dataset_id, tag in tagged.order_by("tag__name").values_list("dataset_id", "tag__name"):
        found[dataset_id]["tag_names"].append(tag)
    return found


def dataset_list_rows(ids: list[int]) -> list[dict[str, Any]]:
    """The API list rows of these datasets, in the order of `ids`: one query on PostgreSQL
    (tags as an array), two elsewhere; no model instances, no serializer fields."""
    if not ids:
        return []
    found = _postgres_rows(ids) if connection.vendor == "postgresql" else _orm_rows(ids)
    url = dataset_url_filler()
    when = datetime_writer()
    rows = []
    for pk in ids:
        row = found.get(pk)
        if row is None:  # deleted between the two queries
            continue
        rows.append(
            {
                "name": row["name"],
                "title": row["title"],
                "description": row["description"],
                "sensitivity": row["sensitivity"],
                "status": row["status"],
                "owner": row["owner_name"],
                "domain": row["domain_name"],
                "tags": row["tag_names"],
                "has_pii": bool(row["has_pii"]),
                "row_count": row["row_count"],
                "size_bytes": row["size_bytes"],
                "current_version": row["version_number"],
                "profile_status": row["profile_status"],
                "updated_at": when(row["updated_at"]),
                "url": url(row["name"]),
            }
        )
    return rows


# --- a token GET of the plain list without DRF's per-request machinery ---------------------
# As lineage/api/intake.py does for OpenLineage posts: the hot request (a token, a plain list,
# JSON wanted) is answered here with the same rows, links, JSON and headers as the DRF view;
# anything else (no or bad token, filters, `count`, `facets`, `format`, another Accept, a page
# that does not exist) goes to the DRF view, which answers as before.

_PLAIN_PARAMS = {"page", "page_size"}
_JSON_ACCEPTS = {"", "*/*", "application/json"}


def plain_token_list(request: HttpRequest) -> HttpResponse | None:
    """The DRF view's answer to a plain list GET with a token, or None to let it answer."""
    if request.GET.keys() - _PLAIN_PARAMS or request.headers.get("Accept", "") not in _JSON_ACCEPTS:
        return None
    user = token_user(request)
    if user is None:
        return None
    drf_request = Request(request)  # query_params and absolute URIs for the paginator
    paginator = DatasetListPagination()
    try:
        rows = paginator.paginate_ids(DatasetList(user, drf_request.query_params), drf_request)
    except NotFound:
        return None
    body = paginator.get_paginated_response(dataset_list_rows(rows)).data
    response = HttpResponse(_JSON.render(body), content_type=_JSON.media_type)
    response["Vary"] = "Accept"
    response["Allow"] = _ALLOW
    return response


_JSON = JSONRenderer()
_ALLOW = "GET, POST, HEAD, OPTIONS"


with_token_list = answered_first("GET", plain_token_list)
