"""The ledger page and its CSV/JSON exports (compliance officers and admins)."""

import itertools
import json

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

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
    """Download the (filtered) log; the file names the chain head it was cut from."""
    event_filter = _filtered(request)
    head = ledger_head()
    ledger_record(
        actor=request.user,
        action="ledger.exported",
        data={"format": fmt, "filters": request.GET.dict(), "head_seq": head["seq"]},
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    rows = event_export_rows(event_filter.qs)
    if fmt == "csv":
        header = EXPORT_FIELDS
        body = ([*row[:7], canonical_json(row[7]), *row[8:]] for row in rows)
        head_row = [["# head", head["seq"], "", "", "", "", "", "", "", head["hash"]]]
        return csv_response(f"ledger-{stamp}.csv", header, itertools.chain(head_row, body))
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
