from django.core.management.base import BaseCommand, CommandError

from ledger.services import ledger_verify


class Command(BaseCommand):
    help = "Verify the governance log's hash chain; exit non-zero naming the first bad event."

    def handle(self, *args, **options):
        result = ledger_verify()
        if not result.ok:
            raise CommandError(
                f"Ledger chain BROKEN at event #{result.first_bad_seq}: {result.reason} "
                f"({result.checked} events verified before it)."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Ledger OK: {result.checked} events, head {result.head_hash}")
        )
