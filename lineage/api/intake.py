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

from django.http import HttpRequest, JsonResponse

from access.authentication import answered_first, token_user
from access.policies import can_post_lineage
from lineage.ingest import lineage_event_store
from lineage.openlineage import EventError, decode_body, parse_event


def accept(request: HttpRequest) -> JsonResponse | None:
    """Accept one event posted with a token (201 new, 200 redelivery, 400 malformed); None when
    the DRF view must answer instead."""
    poster = token_user(request)
    if poster is None or not can_post_lineage(poster):
        return None
    try:
        body = decode_body(request.body, request.headers.get("Content-Encoding", ""))
        parsed = parse_event(body)
    except EventError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    event, created = lineage_event_store(parsed, submitted_by_id=poster.pk)
    return JsonResponse({"id": event.pk, "duplicate": not created}, status=201 if created else 200)


with_token_intake = answered_first("POST", accept)
