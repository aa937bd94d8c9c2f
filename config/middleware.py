"""Security headers Django does not set by itself."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse

from config.celery import unsent_tasks_end, unsent_tasks_start

# No inline script anywhere: every script is a file under /static/.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI and ReDoc (from drf-spectacular-sidecar) bootstrap with inline script.
API_DOCS_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline'"
).replace("img-src 'self' data:", "img-src 'self' data: blob:")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = (
            API_DOCS_POLICY if request.path.startswith("/api/docs") else CONTENT_SECURITY_POLICY
        )
        response.setdefault("Content-Security-Policy", policy)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


QUEUE_DOWN_MESSAGE = (
    "The task queue is unavailable right now. What you did is saved; the background work "
    "(profiling, audit runs, lineage processing) starts by itself once the queue is back."
)


class QueueStatusMiddleware:
    """Tell the user when a task could not be queued (broker down): a message and a header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = unsent_tasks_start()
        try:
            response = self.get_response(request)
        finally:
            unsent = unsent_tasks_end(token)
        if unsent:
            response["X-Charter-Queue"] = "unavailable"
            if hasattr(request, "_messages"):
                messages.warning(request, QUEUE_DOWN_MESSAGE)
        return response
