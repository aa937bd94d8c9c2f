from django.core.management.base import BaseCommand

from access.services import roles_bootstrap


class Command(BaseCommand):
    help = "Create (or bring up to date) the role groups and their permissions. Idempotent."

    def handle(self, *args, **options):
        for role in roles_bootstrap():
            self.stdout.write(f"role ready: {role}")
