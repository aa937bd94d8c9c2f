"""Claiming pending OpenLineage events by an index of those only, and the beat-scheduled sweeper
that applies events whose task was never sent (broker down when they were accepted; issue 9)."""

from django.conf import settings
from django.db import migrations, models

SWEEP_NAME = "lineage: apply OpenLineage events left pending"
SWEEP_TASK = "lineage.tasks.lineage_events_sweep_task"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=SWEEP_NAME,
        defaults={
            "task": SWEEP_TASK,
            "interval": every,
            "enabled": True,
            "description": "Apply OpenLineage events still pending 30 s after they were "
            "accepted (their task was not sent or was lost).",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lineage", "0002_snapshot_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="lineageevent",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["id"],
                name="lineage_event_pending",
            ),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
