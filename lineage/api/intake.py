"""POST /api/v1/lineage from a pipeline with an API token, without DRF's per-request machinery.

Pipelines post events one at a time, as they happen, and the accept path must cost little more
than a plain Django request (issue 8: >= 300 events/s on 2 cores). DRF's request wrapping,
content negotiation, authenticator loop and response rendering are skipped; the token is still
checked by access.services.api_token_authenticate, the rule is still
access.policies.can_post_lineage, the event is validated and stored by lineage.ingest, and the
answer is the same JSON as the DRF view's.

Only the plain case is answered here: a well-formed `Bearer`/`Token` header naming a live token
of an active user who may post. Anything else (no token, a bad, revoked or malformed one, a user
without a role) returns None and the DRF view answers it, with its usual 401/403 errors,
session authentication and CSRF checks.
"""

from collections.abc import Callable
from functools import update_wrapper

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.authentication import get_authorization_header

from access.authentication import ApiTokenAuthentication
from access.policies import can_post_lineage
from access.services import api_token_authenticate
from lineage.ingest import lineage_event_store
from lineage.openlineage import EventError, decode_body, parse_event


def with_token_intake(drf_view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The URL's view: a POST `accept` answers goes no further; every other request, and every
    POST it hands back, goes to the DRF view (LineageApi) as usual."""

    def view(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method == "POST":
            response = accept(request)
            if response is not None:
                return response
        return drf_view(request, *args, **kwargs)

    update_wrapper(view, drf_view)  # cls and initkwargs (the schema), csrf_exempt, login_required
    return view


def accept(request: HttpRequest) -> JsonResponse | None:
    """Accept one event posted with a token (201 new, 200 redelivery, 400 malformed); None when
    the DRF view must answer instead."""
    poster = _token_poster(request)
    if poster is None or not can_post_lineage(poster):
        return None
    try:
        body = decode_body(request.body, request.headers.get("Content-Encoding", ""))
        parsed = parse_event(body)
    except EventError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    event, created = lineage_event_store(parsed, submitted_by_id=poster.pk)
    return JsonResponse({"id": event.pk, "duplicate": not created}, status=201 if created else 200)


def _token_poster(request: HttpRequest) -> AbstractBaseUser | None:
    """The active user behind the request's token (access.services, which also notes the
    token's use), or None when there is no well-formed token header or no such live token."""
    header = get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() not in _KEYWORDS:
        return None
    try:
        raw = header[1].decode()
    except UnicodeError:
        return None
    return api_token_authenticate(raw=raw)


_KEYWORDS = {k.encode() for k in ApiTokenAuthentication.keywords}
