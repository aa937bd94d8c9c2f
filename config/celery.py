"""The Celery app, and the one helper that enqueues a task after the transaction commits."""

import json
import os
from typing import Any

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("charter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_on_commit(task: Any, **kwargs: Any) -> None:
    """Send `task` with JSON-safe kwargs once the current transaction commits (never before)."""
    json.dumps(kwargs)  # an unserialisable argument fails here, in tests too
    transaction.on_commit(lambda: task.delay(**kwargs))
