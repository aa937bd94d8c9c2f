"""Seed the demo: one user per role, then each app's demo data. Safe to run again."""

from django.conf import settings
from django.core.management.base import BaseCommand

from access.services import demo_users_ensure, roles_bootstrap


class Command(BaseCommand):
    help = "Create demo users (one per role) and demo data. Idempotent: keeps existing data."

    def handle(self, *args, **options):
        roles_bootstrap()
        users = demo_users_ensure(password=settings.CHARTER_DEMO_PASSWORD)
        self.stdout.write(f"demo users ready: {', '.join(users)}")
        from catalog.demo import seed_catalog_demo

        self.stdout.write(
            f"catalog demo datasets created: {', '.join(seed_catalog_demo()) or 'none'}"
        )
        from access.demo import seed_access_demo

        self.stdout.write(f"access demo requests: {', '.join(seed_access_demo()) or 'none'}")
        from lineage.demo import seed_lineage_demo

        self.stdout.write(f"lineage demo created: {', '.join(seed_lineage_demo()) or 'none'}")
        from audits.demo import seed_audits_demo

        self.stdout.write(f"audit demo policies: {', '.join(seed_audits_demo()) or 'none'}")
