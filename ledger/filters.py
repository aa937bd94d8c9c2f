from datetime import UTC

import django_filters
from django import forms

from ledger.models import Event


def _text(placeholder: str) -> forms.TextInput:
    return forms.TextInput(attrs={"placeholder": placeholder})


# The browser's date-time picker sends "2026-01-31T09:30", which the ISO field reads as UTC.
_WHEN = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """Compare in UTC: ISO 8601 allows offsets (+21:21) that PostgreSQL refuses with an error."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:  # year 1 minus an offset: before any event
                return qs.none()
        return super().filter(qs, value)


class EventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_username", lookup_expr="iexact", label="Actor", widget=_text("username")
    )
    action = django_filters.CharFilter(
        field_name="action",
        lookup_expr="istartswith",
        label="Action",
        widget=_text("e.g. auth. or access.granted"),
    )
    target_type = django_filters.CharFilter(
        field_name="target_type",
        lookup_expr="iexact",
        label="Target type",
        widget=_text("e.g. catalog.dataset"),
    )
    target_id = django_filters.CharFilter(
        field_name="target_id", label="Target id", widget=_text("id")
    )
    since = _UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Since (UTC)", widget=_WHEN
    )
    until = _UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lte", label="Until (UTC)", widget=_WHEN
    )

    class Meta:
        model = Event
        fields = ["actor", "action", "target_type", "target_id", "since", "until"]
