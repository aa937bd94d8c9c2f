"""Values every page's layout needs: the user's roles and the main navigation."""

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from access.policies import can_view_ledger
from access.roles import role_names

# (label, url name); a section appears once its app has mounted its pages.
NAVIGATION = [
    ("Catalog", "catalog:dataset-list", None),
    ("Lineage", "lineage:index", None),
    ("Access", "access:home", None),
    ("Audits", "audits:index", None),
    ("Ledger", "ledger", can_view_ledger),
]


def _nav_items(request: HttpRequest) -> list[dict]:
    items = []
    for label, url_name, allowed in NAVIGATION:
        if allowed is not None and not allowed(request.user):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": request.path.startswith(url)})
    return items


def portal(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"charter_version": settings.CHARTER_VERSION, "user_roles": [], "nav_items": []}
    return {
        "charter_version": settings.CHARTER_VERSION,
        "user_roles": role_names(user),
        "nav_items": _nav_items(request),
    }
