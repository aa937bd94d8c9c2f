"""Catalog reads: search, facets, lists and pages. Callers pass the policy queryset in.

Search runs PostgreSQL full-text search (GIN index on the search document) plus trigram word
similarity for typos; on SQLite it falls back to substring matching with typo correction
from the visible vocabulary (difflib), so the portal works the same with no database server.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import Col, Expression
from django.db.models.functions import Greatest

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


def pii_dataset_ids() -> QuerySet[Column]:
    """Ids of datasets with PII (as `pii_exists`), as one uncorrelated subquery for counting."""
    return Column.objects.filter(_pii_column_q()).values("dataset_id")


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
        return queryset.annotate(relevance=Value(0.0, output_field=FloatField()))
    if connection.vendor == "postgresql":
        return _search_postgres(queryset, terms)
    return _search_fallback(queryset, terms)


def _search_postgres(queryset: QuerySet[Dataset], terms: list[str]) -> QuerySet[Dataset]:
    """Full-text first (stored tsvector, GIN); when nothing matches, trigram similarity on names.

    Both paths are served by an index (migrations 0003/0004), so search stays fast at 100k rows.
    """
    from django.contrib.postgres.lookups import TrigramWordSimilar
    from django.contrib.postgres.search import (
        SearchQuery,
        SearchRank,
        SearchVectorField,
        TrigramWordSimilarity,
    )

    # Prefix match on every word, so results appear while the user is still typing.
    tsquery = SearchQuery(" & ".join(f"{t}:*" for t in terms), search_type="raw", config="english")
    vector = _StoredSearchVector(output_field=SearchVectorField())
    name_bonus = Case(
        When(name__istartswith=terms[0], then=Value(1.0)),
        default=Value(0.0),
        output_field=FloatField(),
    )
    full_text = queryset.annotate(_vector=vector).filter(_vector=tsquery)
    if full_text.exists():
        return full_text.annotate(relevance=SearchRank(vector, tsquery) + name_bonus)
    # Typo tolerance on names and titles: short strings, each with a GIN trigram index. The
    # operator's threshold is a session setting; pg_trgm's 0.6 misses one-letter typos in
    # short words ("custmers" scores 0.58 against "customers").
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)",
            [str(TRIGRAM_THRESHOLD)],
        )
    text = " ".join(terms)
    similar = Q(TrigramWordSimilar(F("name"), Value(text))) | Q(
        TrigramWordSimilar(F("title"), Value(text))
    )
    similarity = Greatest(
        TrigramWordSimilarity(Value(text), "name"), TrigramWordSimilarity(Value(text), "title")
    )
    return queryset.filter(similar).annotate(relevance=similarity + name_bonus)


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


def dataset_list(queryset: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """What a list row shows: owner, domain, version, tags, whether it holds PII (2 queries)."""
    return (
        queryset.select_related("owner", "domain", "current_version")
        .prefetch_related(Prefetch("tags", to_attr="tag_list"))
        .annotate(has_pii=pii_exists())
    )


class CappedPaginator(Paginator):
    """A paginator that never counts past COUNT_CAP (+1): big result sets show '10,000+'."""

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


FACETS = ("domain", "tag", "owner", "sensitivity", "contains_pii", "status")


def dataset_facets(results: QuerySet[Dataset]) -> dict[str, list[dict[str, Any]]]:
    """Counts per facet value over `results` (already limited to what the user may see).

    The matching ids are an uncorrelated subquery, computed once per facet query (never per
    row); counts are grouped aggregates. `base` has no joins, so each grouped relation adds at
    most one row per (dataset, value) and plain COUNT is exact (no COUNT DISTINCT sort).
    Sensitivity, status and "contains PII" come from one conditional aggregate.
    """
    ids = results.order_by().values("pk")
    base = Dataset.objects.filter(pk__in=ids).order_by()

    def counted(field: str, label_field: str | None = None) -> list[dict[str, Any]]:
        rows = (
            base.exclude(**{f"{field}__isnull": True})
            .values(field, *([label_field] if label_field else []))
            .annotate(count=Count("pk"))
            .order_by("-count", field)[:20]
        )
        return [
            {
                "value": r[field],
                "label": r[label_field] if label_field else r[field],
                "count": r["count"],
            }
            for r in rows
        ]

    sensitivity_labels = dict(Dataset._meta.get_field("sensitivity").choices)
    status_labels = dict(Dataset.Status.choices)
    sums = {f"sensitivity:{v}": Count("pk", filter=Q(sensitivity=v)) for v in sensitivity_labels}
    sums |= {f"status:{v}": Count("pk", filter=Q(status=v)) for v in status_labels}
    sums["pii"] = Count("pk", filter=Q(pk__in=pii_dataset_ids()))
    sums["all"] = Count("pk")
    totals = base.aggregate(**sums)

    def small(prefix: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        rows = [(v, totals[f"{prefix}:{v}"]) for v in labels if totals[f"{prefix}:{v}"]]
        rows.sort(key=lambda r: (-r[1], r[0]))
        return [{"value": v, "label": labels[v], "count": n} for v, n in rows]

    pii = [(True, totals["pii"]), (False, totals["all"] - totals["pii"])]
    return {
        "domain": counted("domain__name"),
        "tag": counted("tags__name"),
        "owner": counted("owner__username", "owner__first_name"),
        "sensitivity": small("sensitivity", sensitivity_labels),
        "contains_pii": [
            {"value": "true" if has else "false", "label": "Yes" if has else "No", "count": n}
            for has, n in pii
            if n
        ],
        "status": small("status", status_labels),
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
