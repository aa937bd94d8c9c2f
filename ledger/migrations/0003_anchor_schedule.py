"""Schedule the hourly ledger anchor with django-celery-beat (created once, then editable).

A migration rather than a bootstrap command: every deployment that migrates gets the schedule
(docker compose, `make run`, CI), and an operator who later edits or disables it in the admin
is not overridden, because the migration never runs again.
"""

from django.db import migrations

TASK_NAME = "Anchor the ledger head (hourly)"
TASK = "ledger.tasks.ledger_anchor_head_task"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": TASK,
            "interval": every_hour,
            "enabled": True,
            "description": "Append the ledger's head hash to CHARTER_LEDGER_ANCHOR_PATH.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_append_only_trigger"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
