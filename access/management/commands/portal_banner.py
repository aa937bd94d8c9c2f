import os

from django.conf import settings
from django.core.management.base import BaseCommand

from access.services import DEMO_USERS


class Command(BaseCommand):
    help = "Print where the portal listens and the demo logins (used by `make run`)."

    def handle(self, *args, **options):
        port = os.environ.get("PORT", "8000")
        lines = [
            "",
            "  Charter is starting (web, Celery worker and beat).",
            f"  Open http://127.0.0.1:{port}/  (Ctrl-C stops everything)",
            "",
            "  Demo logins (password: " + settings.CHARTER_DEMO_PASSWORD + "):",
            *(f"    {username:<11} {role}" for username, role in DEMO_USERS.items()),
            "",
        ]
        self.stdout.write("\n".join(lines))
