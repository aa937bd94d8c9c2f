"""Small request helpers shared by views."""

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The peer address. Behind a proxy, configure it to set REMOTE_ADDR (never trust XFF here)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"
