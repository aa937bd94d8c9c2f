"""API authentication by personal token: `Authorization: Token …` or `Authorization: Bearer …`."""

from collections.abc import Callable
from functools import update_wrapper

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from access.services import api_token_authenticate


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed token.") from exc
        user = api_token_authenticate(raw=raw)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return (user, raw)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describe the scheme in the OpenAPI schema, so /api/docs/ offers "Authorize"."""

    target_class = "access.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token."}


# --- token fast paths: the hottest token requests answered without DRF's per-request machinery
# (lineage/api/intake.py, catalog/api/lists.py). Each answers only its plain case and hands
# everything else (no or bad token, other parameters) to the DRF view, which answers as before.

_KEYWORDS = {k.encode() for k in ApiTokenAuthentication.keywords}


def token_user(request: HttpRequest) -> AbstractBaseUser | None:
    """The active user behind the request's token (access.services, which also notes the
    token's use), or None when there is no well-formed token header or no such live token."""
    header = authentication.get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() not in _KEYWORDS:
        return None
    try:
        raw = header[1].decode()
    except UnicodeError:
        return None
    return api_token_authenticate(raw=raw)


def answered_first(
    method: str, answer: Callable[[HttpRequest], HttpResponse | None]
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Wrap a DRF view: a `method` request goes to `answer` first, and to the view when
    `answer` returns None (as every other request does)."""

    def wrap(drf_view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if request.method == method:
                response = answer(request)
                if response is not None:
                    return response
            return drf_view(request, *args, **kwargs)

        # cls and initkwargs (the schema), csrf_exempt, login_required
        update_wrapper(view, drf_view)
        return view

    return wrap
