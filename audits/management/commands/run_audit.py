"""Run an audit policy now, in this process, and print each run's outcome (operators, cron)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audits import services
from audits.models import AuditPolicy, AuditRun


class Command(BaseCommand):
    help = "Run an audit policy now (synchronously) on its datasets, or on one with --dataset."

    def add_arguments(self, parser):
        parser.add_argument("policy", help="the policy's name")
        parser.add_argument("--dataset", help="only this dataset (by name)")

    def handle(self, *args, **options):
        policy = AuditPolicy.objects.filter(name=options["policy"]).first()
        if policy is None:
            raise CommandError(f"No audit policy named {options['policy']!r}.")
        targets = services.audit_policy_datasets(policy=policy)
        if options["dataset"]:
            targets = targets.filter(name=options["dataset"])
        try:
            runs = services.audit_run_request(policy=policy, actor=None, datasets=targets)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        failed = False
        for queued in runs:
            services.audit_run_execute(run_id=queued.pk, task_id=f"command-{queued.pk}")
            run = AuditRun.objects.get(pk=queued.pk)
            stats = run.summary or {}
            self.stdout.write(
                f"run {run.pk} on {run.dataset.name}: {run.state}"
                + (
                    f" ({stats.get('successful')}/{stats.get('evaluated')} checks passed)"
                    if stats
                    else ""
                )
                + (f" - {run.error_message}" if run.error_message else "")
            )
            failed |= run.state != AuditRun.State.PASSED
        if failed:
            raise CommandError("At least one run did not pass.")
