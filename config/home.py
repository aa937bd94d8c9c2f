"""What each role sees first on the home page. Apps add panels by extending this module."""

from typing import Any

from access.policies import can_view_ledger
from access.roles import role_names
from ledger.models import Event


def home_panels(user) -> list[dict[str, Any]]:
    """Build the home page's panels for `user` (a few queries, whatever the data size)."""
    panels: list[dict[str, Any]] = []
    panels.extend(_catalog_panels(user))
    if can_view_ledger(user):
        recent = list(Event.objects.order_by("-seq")[:8])
        panels.append({"kind": "ledger", "title": "Recent governance events", "events": recent})
    panels.append({"kind": "roles", "title": "Your roles", "roles": role_names(user)})
    return panels


def _catalog_panels(user) -> list[dict[str, Any]]:
    """Open issue reports on the datasets the user owns or stewards."""
    from access.policies import datasets_for
    from catalog.selectors import open_reports_for_owner

    reports = open_reports_for_owner(user, datasets_for(user, "view"))
    if not reports:
        return []
    return [{"kind": "issues", "title": "Open issue reports on your datasets", "reports": reports}]
