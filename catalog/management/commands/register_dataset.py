"""Register a dataset from the command line; exits non-zero with the reason when refused."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from catalog import services
from catalog.models import Connection, Dataset, Sensitivity

User = get_user_model()


class Command(BaseCommand):
    help = (
        "Register a CSV/Parquet file under a data root (--path) or a PostgreSQL table "
        "(--connection NAME --table SCHEMA.TABLE), then profile it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Unique dataset name (lowercase slug).")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--path", help="File under CHARTER_DATA_ROOTS.")
        source.add_argument("--connection", help="Name of a saved Connection.")
        parser.add_argument("--table", help="schema.table (with --connection).")
        parser.add_argument("--title", default="")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--sensitivity", choices=Sensitivity.values, default=Sensitivity.INTERNAL
        )
        parser.add_argument("--owner", help="Username of the owner (default: none).")
        parser.add_argument("--tag", action="append", default=[], dest="tags")
        parser.add_argument(
            "--no-wait", action="store_true", help="Queue profiling instead of profiling now."
        )

    def handle(self, *args, **opts):
        owner = None
        if opts["owner"]:
            owner = User.objects.filter(username=opts["owner"]).first()
            if owner is None:
                raise CommandError(f"No user {opts['owner']!r}.")
        connection = None
        if opts["connection"]:
            connection = Connection.objects.filter(name=opts["connection"]).first()
            if connection is None:
                raise CommandError(f"No connection named {opts['connection']!r}.")
            if not opts["table"]:
                raise CommandError("--table SCHEMA.TABLE is required with --connection.")
        try:
            dataset = services.dataset_register(
                actor=owner,
                owner=owner,
                name=opts["name"],
                source_kind="postgresql" if connection else "file",
                path=opts["path"] or "",
                connection=connection,
                table=opts["table"] or "",
                title=opts["title"],
                description=opts["description"],
                sensitivity=opts["sensitivity"],
                tags=opts["tags"],
                profile=opts["no_wait"],
            )
        except ValidationError as exc:
            raise CommandError("Registration refused: " + "; ".join(exc.messages)) from exc
        if not opts["no_wait"]:
            services.dataset_profile(
                dataset_id=dataset.pk, actor_id=owner.pk if owner else None, reason="registered"
            )
            dataset = Dataset.objects.get(pk=dataset.pk)
        if dataset.profile_status == Dataset.ProfileStatus.FAILED:
            raise CommandError(
                f"Registered {dataset.name}, but profiling failed: {dataset.profile_error}"
            )
        rows = dataset.row_count
        counted = f", {rows} row{pluralize(rows)}" if rows is not None else ""
        status = dataset.get_profile_status_display().lower()
        self.stdout.write(self.style.SUCCESS(f"Registered {dataset.name} ({status}{counted})"))
