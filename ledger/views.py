"""The ledger page and its CSV/JSON exports (compliance officers and admins)."""

import itertools
import json

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render

from access.policies import can_view_ledger
from config.exports import csv_response
from ledger.filters import EventFilter
from ledger.hashing import canonical_json
from ledger.selectors import EXPORT_FIELDS, event_export_rows, event_list
from ledger.services import ledger_head, ledger_record


def _filtered(request: HttpRequest) -> EventFilter:
    if not can_view_ledger(request.user):
        raise PermissionDenied
    return EventFilter(request.GET or None, queryset=event_list())


def event_list_view(request: HttpRequest) -> HttpResponse:
    event_filter = _filtered(request)
    page = Paginator(event_filter.qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filter": event_filter,
        "page": page,
        "query": query.urlencode(),
        "head": ledger_head(),
    }
    return render(request, "ledger/event_list.html", context)


def event_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """Download the (filtered) log as a consistent cut ending at the export's own event.

    The export is itself a governance act, so it is logged first; that event is the head the
    file names, and no event appended while the file streams can slip into it.
    """
    event_filter = _filtered(request)
    if event_filter.is_bound and not event_filter.is_valid():
        return HttpResponseBadRequest(f"Invalid filter: {event_filter.errors.as_text()}")
    filters = {k: v for k, v in request.GET.items() if v}
    event = ledger_record(
        actor=request.user, action="ledger.exported", data={"format": fmt, "filters": filters}
    )
    head = {"seq": event.seq, "hash": event.hash, "created_at": event.created_at.isoformat()}
    rows = event_export_rows(event_filter.qs.filter(seq__lte=event.seq))
    stamp = event.created_at.strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        body = ([*row[:7], canonical_json(row[7]), *row[8:]] for row in rows)
        head_row = [
            ["# head", head["seq"], head["created_at"], "", "", "", "", "", "", head["hash"]]
        ]
        return csv_response(f"ledger-{stamp}.csv", EXPORT_FIELDS, itertools.chain(head_row, body))
    response = StreamingHttpResponse(_json_stream(rows, head), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="ledger-{stamp}.json"'
    return response


def _json_stream(rows, head):
    yield '{"head": ' + json.dumps(head) + ', "events": ['
    for index, row in enumerate(rows):
        event = dict(zip(EXPORT_FIELDS, row, strict=True))
        event["created_at"] = event["created_at"].isoformat()
        yield ("," if index else "") + json.dumps(event, default=str)
    yield "]}"
