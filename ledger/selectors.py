"""Reads of the governance log."""

from collections.abc import Iterator

from django.db.models import QuerySet

from ledger.models import Event

EXPORT_FIELDS = [
    "seq",
    "created_at",
    "actor_username",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "data",
    "prev_hash",
    "hash",
]


def event_list() -> QuerySet[Event]:
    """Events newest first; every field the list pages show lives on the row itself."""
    return Event.objects.order_by("-seq")


def event_export_rows(queryset: QuerySet[Event]) -> Iterator[tuple]:
    """Rows in chain order (oldest first), streamed in chunks for exports of any size."""
    return queryset.order_by("seq").values_list(*EXPORT_FIELDS).iterator(chunk_size=2000)
