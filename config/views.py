"""Project-wide pages: the home dashboard, health and error handlers."""

import sys

from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.http import require_GET

from config.home import home_panels


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"panels": home_panels(request.user)})


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness plus a database round trip; used by Docker healthchecks and load balancers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok", "database": "ok"})
    except Exception as exc:  # noqa: BLE001  any database failure means "not healthy"
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)


def error_403(request: HttpRequest, exception=None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def error_404(request: HttpRequest, exception=None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    """The error page in the portal's look; without the user's context if that fails too."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return _database_unavailable()
    try:
        return render(request, "errors/500.html", status=500)
    except Exception:  # noqa: BLE001  e.g. the database is down: the layout's context needs it
        return HttpResponse(loader.render_to_string("errors/500.html"), status=500)


def _database_unavailable() -> HttpResponse:
    """The database is unreachable (restarting, failing over): a 503 to retry, not a 500.

    Rendered without the request: the layout's context (user, menus) needs the database.
    """
    response = HttpResponse(loader.render_to_string("errors/503.html"), status=503)
    response["Retry-After"] = "30"
    return response
