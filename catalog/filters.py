"""The dataset filters, shared by the catalog page and `GET /api/v1/datasets/`."""

import django_filters
from django.db.models import F, QuerySet

from catalog.models import Dataset, Sensitivity
from catalog.selectors import dataset_search, pii_exists

SORTS = {
    "relevance": "Relevance",
    "name": "Name (A–Z)",
    "-updated_at": "Recently updated",
    "-created_at": "Recently registered",
    "-row_count": "Most rows",
}


class DatasetFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Search")
    domain = django_filters.CharFilter(field_name="domain__name", label="Domain")
    tag = django_filters.CharFilter(field_name="tags__name", label="Tag")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner")
    sensitivity = django_filters.ChoiceFilter(choices=Sensitivity.choices, label="Sensitivity")
    status = django_filters.ChoiceFilter(choices=Dataset.Status.choices, label="Status")
    contains_pii = django_filters.BooleanFilter(method="filter_pii", label="Contains PII")
    sort = django_filters.ChoiceFilter(
        choices=list(SORTS.items()), method="filter_sort", label="Sort", empty_label=None
    )

    class Meta:
        model = Dataset
        fields = [
            "search",
            "domain",
            "tag",
            "owner",
            "sensitivity",
            "status",
            "contains_pii",
            "sort",
        ]

    def filter_search(
        self, queryset: QuerySet[Dataset], name: str, value: str
    ) -> QuerySet[Dataset]:
        return dataset_search(queryset, value)

    def filter_pii(self, queryset: QuerySet[Dataset], name: str, value: bool) -> QuerySet[Dataset]:
        return queryset.filter(pii_exists()) if value else queryset.exclude(pii_exists())

    def filter_sort(self, queryset: QuerySet[Dataset], name: str, value: str) -> QuerySet[Dataset]:
        return queryset  # applied last, in `qs`, once search has annotated relevance

    @property
    def qs(self) -> QuerySet[Dataset]:
        queryset = super().qs
        sort = (
            self.form.cleaned_data.get("sort") if self.is_bound and self.form.is_valid() else ""
        ) or ""
        searching = "relevance" in queryset.query.annotations
        if sort == "relevance" or (not sort and searching):
            if searching:
                return queryset.order_by(F("relevance").desc(nulls_last=True), "name")
            return queryset.order_by("name")
        if sort in SORTS:
            field = sort.lstrip("-")
            expr = F(field).desc(nulls_last=True) if sort.startswith("-") else F(field).asc()
            return queryset.order_by(expr, "name")
        return queryset.order_by("name")
