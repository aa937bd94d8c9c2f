"""Catalog reads: search, facets, lists and pages. Callers pass the policy queryset in.

Search runs PostgreSQL full-text search (GIN index on the search document) plus trigram word
similarity for typos; on SQLite it falls back to substring matching with typo correction
from the visible vocabulary (difflib), so the portal works the same with no database server.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connection, connections
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    Lookup,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import Col, Expression
from django.db.models.functions import Coalesce

from catalog.models import (
    Column,
    Connection,
    Dataset,
    DatasetVersion,
    IssueComment,
    IssueReport,
)

COUNT_CAP = 10_000
TRIGRAM_THRESHOLD = 0.45
_TERM = re.compile(r"\w+", re.UNICODE)


def search_terms(query: str) -> list[str]:
    """Words of a search query (letters, digits, '_'), lowercased, at most ten."""
    return [t.lower() for t in _TERM.findall(query or "")][:10]


def _pii_column_q() -> Q:
    """A declared PII column, or a suggested one nobody has reviewed (the partial index's rule)."""
    return ~Q(pii_kind="") | (~Q(suggested_pii_kind="") & Q(pii_reviewed=False))


def pii_exists() -> Exists:
    """True for a dataset with a declared PII column, or a suggested one nobody has reviewed."""
    return Exists(Column.objects.filter(dataset=OuterRef("pk")).filter(_pii_column_q()))


def pii_flag() -> Coalesce:
    """`has_pii` for the rows of one page: per row, a LIMIT 1 probe of the partial PII index.

    The same test as `pii_exists`, written as a scalar subquery because PostgreSQL turns an
    EXISTS in the select list into a hashed subplan that reads every PII column of the
    catalog (~50k rows at 100k datasets) before the first row of a 50-row page.
    """
    first = Column.objects.filter(dataset=OuterRef("pk")).filter(_pii_column_q()).order_by()[:1]
    return Coalesce(
        Subquery(first.values(flag=Value(True)), output_field=BooleanField()), Value(False)
    )


def pii_dataset_ids() -> QuerySet[Column]:
    """Ids of datasets with PII (as `pii_exists`), as one uncorrelated subquery for counting."""
    return Column.objects.filter(_pii_column_q()).order_by().values("dataset_id")


def searchable(visible: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """The policy queryset as row predicates: no DISTINCT over wide rows, indexes stay usable.

    `datasets_for` already answers with per-row conditions (no joins, no DISTINCT); anything
    else is wrapped as a plain id filter.
    """
    query = visible.query
    joined = [a for a, n in query.alias_refcount.items() if n and a != query.get_initial_alias()]
    if not query.distinct and not joined:
        return visible
    return Dataset.objects.filter(pk__in=visible.values("pk"))


class _StoredSearchVector(Expression):
    """`search_vector` (a generated column outside the model) of the query's own base table.

    Resolved to a real column reference, so when the queryset becomes a subquery the alias is
    relabelled with it: the condition stays on the inner row (a raw "catalog_dataset" reference
    pointed at the outer row and made facet subqueries correlated, i.e. quadratic).
    """

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        from django.contrib.postgres.search import SearchVectorField

        field = SearchVectorField()
        field.set_attributes_from_name("search_vector")
        field.model = Dataset  # identity for GROUP BY / ORDER BY de-duplication
        return Col(query.get_initial_alias(), field)


def dataset_search(queryset: QuerySet[Dataset], query: str) -> QuerySet[Dataset]:
    """Filter `queryset` to datasets matching `query`, annotated with a `relevance` score."""
    terms = search_terms(query)
    if not terms:
        # No words (e.g. only punctuation): no filter and no relevance, so results sort by
        # name. A constant relevance would be ORDER BY 0.0 in the paginator's id query.
        return queryset
    if connection.vendor == "postgresql":
        return _search_postgres(queryset, terms)
    return _search_fallback(queryset, terms)


def _search_postgres(queryset: QuerySet[Dataset], terms: list[str]) -> QuerySet[Dataset]:
    """Full-text (stored tsvector, GIN); when nothing matches, again with corrected spellings.

    Every word is a prefix, so results appear while the user is still typing. A misspelt word
    is replaced by the closest words of the catalog's vocabulary (migration 0007), so the typo
    path is one small trigram lookup and then the same indexed full-text search. The same
    lookup tells whether every term is a known word; only otherwise is "does anything match?"
    asked (a GIN bitmap, ~7 ms for a common prefix).
    """
    full_text = _full_text(queryset, [[t] for t in terms], terms[0])
    alternatives = _spelling_alternatives(terms)
    # A term that is a word of some document is spelt right: no probe, no correction.
    if all(group[0] in group[1:] for group in alternatives) or _any(full_text):
        return full_text
    return _full_text(queryset, [list(dict.fromkeys(group)) for group in alternatives], terms[0])


def _full_text(queryset: QuerySet[Dataset], words: list[list[str]], first: str):
    """Datasets whose document has, for every term, one of its words (as a prefix), ranked."""
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField

    raw = " & ".join("(" + " | ".join(f"{w}:*" for w in group) + ")" for group in words)
    tsquery = SearchQuery(raw, search_type="raw", config="english")
    vector = _StoredSearchVector(output_field=SearchVectorField())
    name_bonus = Case(
        When(name__istartswith=first, then=Value(1.0)),
        default=Value(0.0),
        output_field=FloatField(),
    )
    return (
        queryset.annotate(_vector=vector)
        .filter(_vector=tsquery)
        .annotate(relevance=SearchRank(vector, tsquery) + name_bonus)
    )


def _any(queryset: QuerySet[Dataset]) -> bool:
    """`queryset.exists()`, planned for the whole match set and stopped at the first row.

    PostgreSQL estimates ~2% of the catalog for any prefix tsquery; under `LIMIT 1` that made
    a sequential scan of every wide row look cheapest (~200 ms for a typo that matches
    nothing). A materialised CTE is planned as the GIN bitmap scan and read only to its
    first row.
    """
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return False
    with connections[queryset.db].cursor() as cursor:
        # Django's compiled query; every value in it is a bound parameter.
        cursor.execute(f"WITH m AS MATERIALIZED ({sql}) SELECT 1 FROM m LIMIT 1", params)  # noqa: S608
        return cursor.fetchone() is not None


SPELLING_ALTERNATIVES = 3


def _spelling_alternatives(terms: list[str]) -> list[list[str]]:
    """Per term: itself, then up to 3 vocabulary words at least TRIGRAM_THRESHOLD similar
    (the term again among them when it is a word of some document).

    One query over `catalog_searchword` (distinct words, trigram GIN index). pg_trgm's `%`
    (similarity >= 0.3) selects candidates by index; "custmers" scores 0.5 against
    "customers". The vocabulary is every document's words, but the corrected search that
    follows is filtered by visibility like any other.
    """
    sql = """
        SELECT t.n, s.word FROM unnest(%s::text[]) WITH ORDINALITY AS t (term, n)
        CROSS JOIN LATERAL (
            SELECT w.word FROM catalog_searchword w
            WHERE w.word %% t.term AND similarity(w.word, t.term) >= %s
            ORDER BY similarity(w.word, t.term) DESC, w.word LIMIT %s
        ) s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [terms, TRIGRAM_THRESHOLD, SPELLING_ALTERNATIVES])
        found = cursor.fetchall()
    alternatives = [[term] for term in terms]
    for n, word in found:
        alternatives[n - 1].append(word)  # the term itself too, when it is a known word
    return alternatives


def _vocabulary(queryset: QuerySet[Dataset]) -> set[str]:
    words: set[str] = set()
    for document in queryset.order_by().values_list("search_document", flat=True)[:5000]:
        words.update(w.lower() for w in _TERM.findall(document or "") if len(w) > 2)
    return words


def _search_fallback(queryset: QuerySet[Dataset], terms: list[str]) -> QuerySet[Dataset]:
    """SQLite: every term must appear (as typed, or as its closest visible word when misspelt)."""
    vocabulary: set[str] | None = None
    condition = Q()
    for term in terms:
        alternatives = Q(search_document__icontains=term)
        if not queryset.filter(alternatives).exists():
            if vocabulary is None:
                vocabulary = _vocabulary(queryset)
            for word in difflib.get_close_matches(term, vocabulary, n=3, cutoff=0.75):
                alternatives |= Q(search_document__icontains=word)
        condition &= alternatives
    text = " ".join(terms)
    relevance = Case(
        When(name__iexact=text.replace(" ", "-"), then=Value(4)),
        When(name__icontains=terms[0], then=Value(3)),
        When(title__icontains=terms[0], then=Value(2)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return queryset.filter(condition).annotate(relevance=relevance)


TYPEAHEAD_LIMIT = 8
TYPEAHEAD_MAX_CHARS = 100


class _ILike(Lookup):
    """`lhs ILIKE rhs`: the form PostgreSQL's trigram indexes serve (`icontains` is UPPER LIKE)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def _contains(field: str, text: str) -> Q:
    """Case-insensitive substring match on `field`, indexable by trigrams on PostgreSQL."""
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__icontains": text})
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Q(_ILike(F(field), Value(f"%{escaped}%")))


def dataset_typeahead(visible: QuerySet[Dataset], text: str) -> list[dict[str, str]]:
    """Up to 8 visible datasets whose name or title contains `text`, by name (as-you-type).

    Names and titles only, one query. Written as ILIKE, PostgreSQL estimates the matches
    from the column statistics and can use the trigram indexes: for common text it walks
    the name index and stops at the eighth hit; for rare text it reads the trigram indexes
    and sorts a few rows. (With `icontains`, UPPER(name) LIKE, it always walked the name
    index: ~350 ms for a rare word at 100k datasets.)
    """
    text = (text or "").strip()[:TYPEAHEAD_MAX_CHARS]
    if not text:
        return []
    matching = _contains("name", text) | _contains("title", text)
    rows = visible.filter(matching).order_by("name").values("name", "title")[:TYPEAHEAD_LIMIT]
    url = _dataset_url_filler()  # one reverse(), not a model instance and a reverse() per row
    return [{"name": r["name"], "title": r["title"], "url": url(r["name"])} for r in rows]


def dataset_list(queryset: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """What a list row shows: owner, domain, version, tags, whether it holds PII (2 queries)."""
    return (
        queryset.select_related("owner", "domain", "current_version")
        .prefetch_related(Prefetch("tags", to_attr="tag_list"))
        .annotate(has_pii=pii_flag())
    )


def dataset_rows(ids: list[int]) -> list[Dataset]:
    """The list rows (as `dataset_list`) of these datasets, in the order of `ids`."""
    found = {d.pk: d for d in dataset_list(Dataset.objects.filter(pk__in=ids))}
    return [found[pk] for pk in ids if pk in found]


@dataclass(slots=True)
class ResultRow:
    """One result of the catalog page, with what its template shows already worked out.

    Model instances with three joined models, prefetched tags and a Markdown summary
    rendered in the template cost more CPU than the rest of the request (~40 ms of template
    work for a page of 20 under load); these rows come from one `.values()` query.
    """

    name: str
    title: str
    description: str
    sensitivity: str
    status: str
    profile_status: str
    row_count: int | None
    updated_at: Any
    domain_name: str | None  # None: no domain
    owner_label: str | None  # full name, else username; None: no owner
    version_number: int | None
    has_pii: bool
    tag_list: list[str]  # tag names, by name
    url: str
    summary: str  # the description as one line of plain text, truncated

    @property
    def display_title(self) -> str:
        return self.title or self.name


_RESULT_VALUES = (
    "id",
    "name",
    "title",
    "description",
    "sensitivity",
    "status",
    "profile_status",
    "row_count",
    "updated_at",
)


def _result_values(condition: Q | Expression) -> QuerySet[Dataset]:
    return (
        Dataset.objects.filter(condition)
        .order_by()
        .values(
            *_RESULT_VALUES,
            domain_name=F("domain__name"),
            owner_pk=F("owner_id"),
            owner_first=F("owner__first_name"),
            owner_last=F("owner__last_name"),
            owner_username=F("owner__username"),
            version_number=F("current_version__number"),
            has_pii=pii_flag(),
        )
    )


class _IdsMarker:
    """Stands in the compiled statement's parameters where each request's ids go."""


@dataclass(frozen=True)
class RowsByIds:
    """A `.values()` query of datasets `id = ANY(ids)` with their tag names as an array,
    compiled by the ORM once (its joins, PII probe and tag subquery cost more Python per
    request than PostgreSQL takes to answer). Only the id array changes per request."""

    sql: str
    params: tuple
    ids_at: int
    columns: list[str]

    @classmethod
    def compile(cls, values: Callable[[Expression], QuerySet[Dataset]]) -> RowsByIds:
        from django.contrib.postgres.expressions import ArraySubquery
        from django.db.models import ExpressionWrapper
        from django.db.models.expressions import RawSQL

        marker = _IdsMarker()
        table = connection.ops.quote_name(Dataset._meta.db_table)
        # Quoted identifiers only; the ids are a bound parameter.
        in_ids = RawSQL(f"{table}.{connection.ops.quote_name('id')} = ANY(%s)", (marker,))  # noqa: S611
        tag_names = (
            Dataset.tags.through.objects.filter(dataset_id=OuterRef("pk"))
            .order_by("tag__name")
            .values("tag__name")
        )
        query = values(ExpressionWrapper(in_ids, output_field=BooleanField()))
        query = query.annotate(tag_names=ArraySubquery(tag_names))
        sql, params = query.query.sql_with_params()
        columns = [*query.query.values_select, *query.query.annotation_select]
        at = next(i for i, p in enumerate(params) if p is marker)
        return cls(sql, params, at, columns)

    def params_for(self, ids: list[int]) -> tuple:
        return (*self.params[: self.ids_at], ids, *self.params[self.ids_at + 1 :])

    def by_id(self, rows: list[tuple]) -> dict[int, dict[str, Any]]:
        return {row[0]: dict(zip(self.columns, row, strict=True)) for row in rows}


@functools.cache
def _postgres_result_statement() -> RowsByIds:
    return RowsByIds.compile(_result_values)


def _result_values_by_id(ids: list[int]) -> dict[int, dict[str, Any]]:
    if connection.vendor == "postgresql":
        statement = _postgres_result_statement()
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, statement.params_for(ids))
            return statement.by_id(cursor.fetchall())
    found = {row["id"]: {**row, "tag_names": []} for row in _result_values(Q(pk__in=ids))}
    tagged = Dataset.tags.through.objects.filter(dataset_id__in=ids)
    for dataset_id, tag in tagged.order_by("tag__name").values_list("dataset_id", "tag__name"):
        found[dataset_id]["tag_names"].append(tag)
    return found


def _dataset_url_filler():
    """`reverse()` the dataset page once; fill each name in, quoted as reverse() quotes it."""
    from urllib.parse import quote

    from django.urls import reverse
    from django.utils.http import RFC3986_SUBDELIMS

    marker = "charter-dataset-name-marker"
    prefix, suffix = reverse("catalog:dataset-detail", kwargs={"name": marker}).split(marker)
    return lambda name: prefix + quote(name, safe=RFC3986_SUBDELIMS + "/~:@") + suffix


SUMMARY_CHARS = 220


def _summary(description: str) -> str:
    """The description as one line of plain text, `truncatechars` to SUMMARY_CHARS. Short ASCII
    text is returned as it is without Truncator's per-character walk (what it would return:
    NFC changes no ASCII text, and it has no combining characters)."""
    from django.template.defaultfilters import truncatechars

    from catalog.templatetags.catalog_tags import markdown_text

    text = markdown_text(description)
    if text.isascii() and len(text) <= SUMMARY_CHARS:
        return text
    return truncatechars(text, SUMMARY_CHARS)


def result_rows(ids: list[int]) -> list[ResultRow]:
    """The catalog page's results for these ids, in the order of `ids`: one query on
    PostgreSQL (two elsewhere), no model instances; a row deleted meanwhile is left out."""
    if not ids:
        return []
    found = _result_values_by_id(ids)
    url = _dataset_url_filler()
    rows = []
    for pk in ids:
        row = found.get(pk)
        if row is None:
            continue
        owner = None
        if row["owner_pk"] is not None:
            full_name = f"{row['owner_first']} {row['owner_last']}".strip()
            owner = full_name or row["owner_username"]  # as get_full_name|default:username
        description = row["description"]
        rows.append(
            ResultRow(
                name=row["name"],
                title=row["title"],
                description=description,
                sensitivity=row["sensitivity"],
                status=row["status"],
                profile_status=row["profile_status"],
                row_count=row["row_count"],
                updated_at=row["updated_at"],
                domain_name=row["domain_name"],
                owner_label=owner,
                version_number=row["version_number"],
                has_pii=bool(row["has_pii"]),
                tag_list=list(row["tag_names"]),
                url=url(row["name"]),
                summary=_summary(description) if description else "",
            )
        )
    return rows


class CappedPaginator(Paginator):
    """A paginator that never counts past COUNT_CAP (+1): big result sets show '10,000+'.

    Given `rows` (ids -> objects, e.g. `dataset_rows`), a page is fetched limit-first: one
    query returns the capped count and the page's ids (narrow rows: the sort key and the
    id), then `rows` loads only those rows with their joins and annotations. Sorting every
    match as a wide joined row cost ~100 ms for a ranked search at 100k datasets.
    """

    def __init__(
        self,
        object_list,
        per_page,
        orphans=0,
        allow_empty_first_page=True,
        rows=None,
        with_facets=False,
    ):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.rows = rows
        # Ranked pages can bring the facets from the same pass (`ranked_window_with_facets`);
        # `facets` stays None when they were not computed with the page.
        self.with_facets = with_facets
        self.facets: dict[str, list[dict[str, Any]]] | None = None

    @property
    def count(self) -> int:  # type: ignore[override]
        if not hasattr(self, "_capped_count"):
            # Count ids only: no ordering, no annotations in the select list, stop at the cap.
            ids = self.object_list.order_by().values("pk")[: COUNT_CAP + 1]
            self._capped_count = ids.count()
        return self._capped_count

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    def page(self, number):
        if self.rows is None or not isinstance(self.object_list, QuerySet):
            return super().page(number)
        try:
            first = (int(number) - 1) * self.per_page
        except (TypeError, ValueError):
            return super().page(number)  # raises PageNotAnInteger
        if first < 0 or first > COUNT_CAP:
            return super().page(number)  # no rows past the cap: EmptyPage, as Django's
        ids, self._capped_count = self._window(first, self.per_page)
        number = self.validate_number(number)  # past the end: EmptyPage, as Django's
        return self._get_page(self.rows(ids), number, self)

    def _window(self, offset: int, limit: int) -> tuple[list[int], int]:
        """Ids of one page, in order, and the capped count: one round trip, two plans.

        UNION ALL lets PostgreSQL plan each part alone: the count reads the matches in any
        order (a bitmap scan) and stops at the cap; the page walks the ordering's index and
        stops at the page when it can. One ordered pass doing both walked every name for a
        rare search term.
        """
        if ranked_by_relevance(self.object_list):
            if not self.with_facets:
                return ranked_window(self.object_list, offset, limit)
            ids, count, self.facets = ranked_window_with_facets(self.object_list, offset, limit)
            return ids, count
        counted = self.object_list.order_by().values_list("pk")[: COUNT_CAP + 1]
        ordered = self.object_list.values_list("pk")[offset : offset + limit]
        try:
            count_sql, count_params = counted.query.sql_with_params()
            page_sql, page_params = ordered.query.sql_with_params()
        except EmptyResultSet:  # e.g. `.none()`: nothing to ask the database
            return [], 0
        # Both parts are Django's compiled queries; every value in them is a bound parameter.
        sql = (
            f"SELECT COUNT(*), NULL FROM ({count_sql}) _capped "  # noqa: S608
            f"UNION ALL SELECT NULL, _page.* FROM ({page_sql}) _page"
        )
        return _count_and_ids(self.object_list.db, sql, (*count_params, *page_params))


def ranked_by_relevance(queryset: QuerySet[Dataset]) -> bool:
    """True for search results in relevance order (as `DatasetFilter.qs` sorts them)."""
    order = queryset.query.order_by
    first = order[0] if order else None
    expression = getattr(first, "expression", None)
    return (
        "relevance" in queryset.query.annotations
        and isinstance(expression, F)
        and expression.name == "relevance"
        and list(order[1:]) == ["name"]
    )


def ranked_window(queryset: QuerySet[Dataset], offset: int, limit: int) -> tuple[list[int], int]:
    """One page of relevance-ordered results and the capped count, from one pass.

    Only the first COUNT_CAP + 1 matches (in whatever order the index yields them) are ranked:
    a bounded candidate set, read once and shared by the count and the page. Ranking every
    match needed a second pass over the matches' heap pages (~6k pages of wide rows for a
    common word at 100k datasets). Like the count and the facets, past 10,000 matches the
    order describes those matches. The pass reads `catalog_datasetsearch` when it can.
    """
    candidates = queryset.order_by().values_list("pk", "relevance", "name")[: COUNT_CAP + 1]
    try:
        sql, params = candidates.query.sql_with_params()
    except EmptyResultSet:
        return [], 0
    sql = _on_search_rows(sql, extra=()) or sql  # the narrow rows when they suffice
    # Django's compiled query; every value in it is a bound parameter.
    sql = (
        f"WITH c (id, relevance, name) AS MATERIALIZED ({sql}) "  # noqa: S608
        "SELECT COUNT(*), NULL FROM c UNION ALL SELECT NULL, _page.id FROM (SELECT id FROM c "
        "ORDER BY relevance DESC NULLS LAST, name LIMIT %s OFFSET %s) _page"
    )
    return _count_and_ids(queryset.db, sql, (*params, limit, offset))


def ranked_ids(queryset: QuerySet[Dataset], offset: int, limit: int) -> list[int]:
    """Ids of one page of relevance-ordered results, every match ranked (no count): the API's
    search without `count=true`. The statement of `queryset`'s page, reading
    `catalog_datasetsearch` when it can (as the catalog page's pass does).

    Not a prepared statement: on a generic plan `to_tsquery(config, text)` is a function of
    parameters, evaluated for every match (ranking 5.7k matches took ~2x the CPU)."""
    ordered = queryset.values_list("pk", flat=True)[offset : offset + limit]
    try:
        sql, params = ordered.query.sql_with_params()
    except EmptyResultSet:
        return []
    sql = _on_search_rows(sql, extra=()) or sql
    with connections[queryset.db].cursor() as cursor:
        # Django's compiled query; every value in it is a bound parameter.
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _count_and_ids(db: str, sql: str, params: tuple) -> tuple[list[int], int]:
    """Run a (count, NULL) + (NULL, id) query: the page's ids in order and the capped count."""
    with connections[db].cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    total = next(row[0] for row in found if row[0] is not None)
    return [row[1] for row in found if row[0] is None], total


FACET_TOP = 20


def _facet_groups(search_rows: bool = False) -> tuple[str, tuple]:
    """Every facet as a grouped count over the CTE `m` (id, domain_id, owner_id, sensitivity,
    status, ...): one UNION ALL of rows (facet, value, label, count), and its parameters.

    Each facet used to be a query of its own that semi-joined the match ids to a scan of the
    whole table (~200 ms each at 100k datasets). With `search_rows`, `m` also has the
    `tag_ids` and `has_pii` of `catalog_datasetsearch` (migration 0008), and the tag and PII
    counts read them instead of probing two indexes once per match.
    """
    from django.contrib.auth import get_user_model

    from catalog.models import Domain, Tag

    quote = connection.ops.quote_name
    domain, tag = quote(Domain._meta.db_table), quote(Tag._meta.db_table)
    tagged = quote(Dataset.tags.through._meta.db_table)
    user = quote(get_user_model()._meta.db_table)
    if search_rows:
        # unnest in the select list (a ProjectSet): as a LATERAL function scan it built a
        # tuplestore per match (~10x the time for 5.7k matches).
        tags_of_m = "(SELECT unnest(m.tag_ids) AS tag_id FROM m) dt"
        pii, pii_params = "m.has_pii", ()
    else:
        tags_of_m = f"m JOIN {tagged} dt ON dt.dataset_id = m.id"
        pii_sql, pii_params = pii_dataset_ids().query.sql_with_params()
        pii = f"m.id IN ({pii_sql})"
    # Counted by id, then labelled (names are unique): the joins read a few dozen groups, not
    # one row per match. Every value below is a bound parameter of Django's compiled queries;
    # names are quoted.
    sql = f"""
        SELECT 'domain', d.name, d.name, g.n
            FROM (SELECT m.domain_id, COUNT(*) n FROM m GROUP BY m.domain_id) g
            JOIN {domain} d ON d.id = g.domain_id
        UNION ALL SELECT 'tag', t.name, t.name, g.n
            FROM (SELECT dt.tag_id, COUNT(*) n FROM {tags_of_m} GROUP BY dt.tag_id) g
            JOIN {tag} t ON t.id = g.tag_id
        UNION ALL SELECT 'owner', u.username, u.first_name, g.n
            FROM (SELECT m.owner_id, COUNT(*) n FROM m GROUP BY m.owner_id) g
            JOIN {user} u ON u.id = g.owner_id
        UNION ALL SELECT 'sensitivity', m.sensitivity, NULL, COUNT(*) FROM m GROUP BY m.sensitivity
        UNION ALL SELECT 'status', m.status, NULL, COUNT(*) FROM m GROUP BY m.status
        UNION ALL SELECT 'pii', 'true', NULL, COUNT(*) FROM m WHERE {pii}
        UNION ALL SELECT 'all', NULL, NULL, COUNT(*) FROM m
    """  # noqa: S608
    return sql, tuple(pii_params)


SEARCH_ROWS_TABLE = "catalog_datasetsearch"
# What catalog_datasetsearch copies of catalog_dataset (migration 0008), and adds.
SEARCH_ROWS_COLUMNS = frozenset(
    {"id", "search_vector", "sensitivity", "status", "owner_id", "domain_id", "name"}
)
SEARCH_ROWS_EXTRA = ("tag_ids", "has_pii")


def _on_search_rows(sql: str, extra: tuple[str, ...] = SEARCH_ROWS_EXTRA) -> str | None:
    """The compiled `catalog_dataset` query `sql`, reading `catalog_datasetsearch` instead and
    selecting its `tag_ids` and `has_pii` too; None when it cannot (it uses another column).

    The narrow table keeps the alias "catalog_dataset", so the visibility and search
    conditions Django compiled apply to it unchanged; only a query whose every reference to
    the outer table is a column the narrow table copies qualifies. Subqueries of other
    tables, and of catalog_dataset under their own alias (U0...), are left as they are.
    """
    if connection.vendor != "postgresql":
        return None
    return _narrowed(sql, extra)


@functools.lru_cache(maxsize=256)
def _narrowed(sql: str, extra: tuple[str, ...]) -> str | None:
    """`_on_search_rows` on PostgreSQL, remembered per text: a search's statement text repeats
    (values are parameters) and the regular expressions over it cost ~0.5 ms a request."""
    table = connection.ops.quote_name(Dataset._meta.db_table)
    used = set(re.findall(rf'{re.escape(table)}\."(\w+)"', sql))
    follows = "(?= WHERE| INNER JOIN| LEFT OUTER JOIN| LIMIT| ORDER|$)"
    outer = list(re.finditer(rf"FROM {re.escape(table)}{follows}", sql))
    if not used <= SEARCH_ROWS_COLUMNS or len(outer) != 1:
        return None
    at = outer[0].start()
    selected = "".join(f", {table}.{connection.ops.quote_name(c)}" for c in extra)
    narrow = f"FROM {connection.ops.quote_name(SEARCH_ROWS_TABLE)} {table}"
    return f"{sql[:at].rstrip()}{selected} {narrow}{sql[outer[0].end() :]}"


FACET_COLUMNS = ("pk", "domain_id", "owner_id", "sensitivity", "status")


def _facet_sql(results: QuerySet[Dataset]) -> tuple[str, tuple]:
    """One query for every facet: the first COUNT_CAP + 1 matches once (a CTE), grouped 7 ways."""
    matches = results.order_by().values_list(*FACET_COLUMNS)
    m_sql, m_params = matches[: COUNT_CAP + 1].query.sql_with_params()
    groups, group_params = _facet_groups()
    sql = f"WITH m (id, domain_id, owner_id, sensitivity, status) AS ({m_sql}) {groups}"  # noqa: S608
    return sql, (*m_params, *group_params)


def ranked_window_with_facets(
    queryset: QuerySet[Dataset], offset: int, limit: int
) -> tuple[list[int], int, dict[str, list[dict[str, Any]]]]:
    """`ranked_window` and `dataset_facets` from the same single pass over the matches.

    The catalog page of a ranked search shows the count, the page and the facets of the same
    first COUNT_CAP + 1 matches; reading them once instead of twice saves a pass over the
    matches' heap pages (~6k pages of wide rows for a common word at 100k datasets).
    """
    columns = (*FACET_COLUMNS, "relevance", "name")
    candidates = queryset.order_by().values_list(*columns)[: COUNT_CAP + 1]
    try:
        m_sql, m_params = candidates.query.sql_with_params()
    except EmptyResultSet:
        return [], 0, _facets_from_rows([])
    narrow = _on_search_rows(m_sql)
    m_columns = "id, domain_id, owner_id, sensitivity, status, relevance, name"
    if narrow is not None:
        m_sql, m_columns = narrow, f"{m_columns}, {', '.join(SEARCH_ROWS_EXTRA)}"
    groups, group_params = _facet_groups(search_rows=narrow is not None)
    # Django's compiled queries and quoted names; every value is a bound parameter.
    # The count is the facets' 'all' row (COUNT(*) FROM m): one scan of m fewer.
    sql = (
        f"WITH m ({m_columns}) "  # noqa: S608
        f"AS MATERIALIZED ({m_sql}) SELECT 'page', NULL, NULL, _page.id FROM (SELECT id FROM m "
        "ORDER BY relevance DESC NULLS LAST, name LIMIT %s OFFSET %s) _page "
        f"UNION ALL {groups}"
    )
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, (*m_params, limit, offset, *group_params))
        rows = cursor.fetchall()
    count = next(n for kind, _v, _l, n in rows if kind == "all")
    ids = [n for kind, _v, _l, n in rows if kind == "page"]
    facets = _facets_from_rows([r for r in rows if r[0] != "page"])
    return ids, count, facets


def dataset_facets(results: QuerySet[Dataset]) -> dict[str, list[dict[str, Any]]]:
    """Counts per facet value over `results` (already limited to what the user may see).

    Like the count, facets never look past the first COUNT_CAP + 1 matches: past that the
    page says "10,000+" and the counts describe those matches (an unbounded facet is a pass
    over every visible dataset: ~90k rows for an engineer's unfiltered catalog page).
    """
    try:
        sql, params = _facet_sql(results)
    except EmptyResultSet:
        rows = []
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    return _facets_from_rows(rows)


def _facets_from_rows(rows: list[tuple]) -> dict[str, list[dict[str, Any]]]:
    """The facets' rows (facet, value, label, count) as the lists the page and API show."""
    grouped: dict[str, list[tuple[Any, Any, int]]] = {}
    for facet, value, label, count in rows:
        grouped.setdefault(facet, []).append((value, label, count))

    def top(facet: str) -> list[dict[str, Any]]:
        found = sorted(grouped.get(facet, []), key=lambda r: (-r[2], r[0]))[:FACET_TOP]
        return [{"value": v, "label": label, "count": n} for v, label, n in found]

    def labelled(facet: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        counts = {v: n for v, _label, n in grouped.get(facet, []) if v in labels and n}
        found = sorted(counts.items(), key=lambda r: (-r[1], r[0]))
        return [{"value": v, "label": labels[v], "count": n} for v, n in found]

    sensitivity_labels = dict(Dataset._meta.get_field("sensitivity").choices)
    with_pii = sum(n for _v, _l, n in grouped.get("pii", []))
    everything = sum(n for _v, _l, n in grouped.get("all", []))
    pii = [(True, with_pii), (False, everything - with_pii)]
    return {
        "domain": top("domain"),
        "tag": top("tag"),
        "owner": top("owner"),
        "sensitivity": labelled("sensitivity", sensitivity_labels),
        "contains_pii": [
            {"value": "true" if has else "false", "label": "Yes" if has else "No", "count": n}
            for has, n in pii
            if n
        ],
        "status": labelled("status", dict(Dataset.Status.choices)),
    }


def dataset_page(dataset: Dataset) -> Dataset:
    """Attach what every dataset page header needs (replacement, stewards, tags, terms)."""
    dataset.steward_list = list(dataset.stewards.all())
    dataset.tag_list = list(dataset.tags.all())
    dataset.term_list = list(dataset.glossary_terms.all())
    if dataset.replaced_by_id:
        dataset.replacement = (
            Dataset.objects.filter(pk=dataset.replaced_by_id).only("name", "title").first()
        )
    dataset.open_issue_count = dataset.issue_reports.filter(
        status__in=IssueReport.OPEN_STATUSES
    ).count()
    return dataset


def column_list(dataset: Dataset) -> QuerySet[Column]:
    return dataset.columns.order_by("position")


def version_list(dataset: Dataset) -> QuerySet[DatasetVersion]:
    return dataset.versions.select_related("created_by").order_by("-number")


def issue_report_list(queryset: QuerySet[IssueReport]) -> QuerySet[IssueReport]:
    return queryset.select_related("dataset", "reporter").annotate(comment_count=Count("comments"))


def issue_comments(report: IssueReport) -> QuerySet[IssueComment]:
    return report.comments.select_related("author").order_by("created_at")


def open_reports_for_owner(
    user: Any, visible: QuerySet[Dataset], limit: int = 8
) -> list[IssueReport]:
    """Open reports on datasets `user` owns or stewards (for their home page)."""
    mine = visible.filter(Q(owner=user) | Q(stewards=user)).values("pk")
    return list(
        IssueReport.objects.filter(dataset__in=mine, status__in=IssueReport.OPEN_STATUSES)
        .select_related("dataset", "reporter")
        .order_by("-created_at")[:limit]
    )


def connection_list() -> QuerySet[Connection]:
    """Connections with who created them and how many datasets read through each."""
    return (
        Connection.objects.select_related("created_by")
        .annotate(dataset_count=Count("datasets"))
        .order_by("name")
    )
