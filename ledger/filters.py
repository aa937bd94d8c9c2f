import django_filters

from ledger.models import Event


class EventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_username", lookup_expr="iexact", label="Actor"
    )
    action = django_filters.CharFilter(
        field_name="action", lookup_expr="istartswith", label="Action"
    )
    target_type = django_filters.CharFilter(
        field_name="target_type", lookup_expr="iexact", label="Target type"
    )
    target_id = django_filters.CharFilter(field_name="target_id", label="Target id")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Since"
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", label="Until"
    )

    class Meta:
        model = Event
        fields = ["actor", "action", "target_type", "target_id", "since", "until"]
