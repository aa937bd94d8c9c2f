"""Login, logout and personal API tokens."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from access.forms import ApiTokenCreateForm
from access.policies import api_tokens_for, get_api_token_for
from access.services import (
    api_token_create,
    api_token_revoke,
    demo_logins,
    login_failure_record,
    login_is_throttled,
    login_success_record,
    logout_record,
)
from config.http import client_ip

COOL_OFF_MESSAGE = (
    "Too many failed attempts for this account from your address. "
    "Wait {minutes} minutes, then try again."
)


def _cool_off_message() -> str:
    return COOL_OFF_MESSAGE.format(minutes=max(1, settings.CHARTER_LOGIN_COOLOFF_SECONDS // 60))


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if login_is_throttled(username=username, ip_address=client_ip(request)):
            return self._cool_off(username)  # no password check at all while cooling off
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if settings.DEBUG:  # a laptop install (`make run`): say how to get in
            context["demo_logins"] = demo_logins()
            context["demo_password"] = settings.CHARTER_DEMO_PASSWORD
        return context

    def _cool_off(self, username: str) -> HttpResponse:
        form = self.get_form_class()(self.request, initial={"username": username})
        context = self.get_context_data(form=form, cool_off_message=_cool_off_message())
        return self.render_to_response(context, status=429)

    def form_valid(self, form):
        response = super().form_valid(form)
        login_success_record(user=form.get_user(), ip_address=client_ip(self.request))
        return response

    def form_invalid(self, form):
        username = self.request.POST.get("username", "")
        locked = login_failure_record(username=username, ip_address=client_ip(self.request))
        if not locked:
            return super().form_invalid(form)
        return self._cool_off(username)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            logout_record(user=request.user, ip_address=client_ip(request))
        return super().post(request, *args, **kwargs)


NEW_TOKEN_SESSION_KEY = "charter_new_api_token"  # noqa: S105  a session key name


@never_cache  # the page that shows a new token must not be kept by any cache
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; create one (POST, then redirect: a reload never makes another).

    The raw token crosses the redirect in the server-side session and is removed from it on
    the very next page, so it is shown exactly once.
    """
    form = ApiTokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _, raw = api_token_create(user=request.user, name=form.cleaned_data["name"])
        request.session[NEW_TOKEN_SESSION_KEY] = raw
        messages.success(request, "Token created. Copy it now: it will not be shown again.")
        return redirect("access:token-list")
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    tokens = api_tokens_for(request.user)
    return render(
        request, "access/tokens.html", {"form": form, "tokens": tokens, "new_token": new_token}
    )


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_api_token_for(request.user, pk)
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("access:token-list")
