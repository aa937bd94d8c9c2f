"""The Celery app, and the one helper that enqueues a task after the transaction commits."""

import contextvars
import json
import logging
import os
from typing import Any

from celery import Celery
from celery.concurrency.asynpool import AsynPool
from celery.signals import worker_init
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("charter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A pool process killed mid-task is reaped when its sentinel pipe closes, but the pipe can close
# a moment before the kernel lets the parent reap the child; billiard then only notices on its
# maintenance timer (5 s), and the task's redelivery waits for it. Every second bounds that.
AsynPool.timers = property(lambda pool: {pool.maintain_pool: 1.0})

logger = logging.getLogger(__name__)

# Modules the audit and profiling tasks import on first use (pandas, numpy, pyarrow and the
# check engines; kept off the web path, see catalog/sources.py). Imported once when a worker
# starts, before it takes a task: otherwise each worker's first audit pays about 1-2 s of CPU
# for them, and a prefork pool pays it once per child instead of once in the parent.
WORKER_PRELOAD = (
    "pandas",
    "pyarrow",
    "catalog.profiling",
    "audits.checks.engine",
    "audits.checks.sql",
    "audits.governance",
)


@worker_init.connect
def _preload_task_modules(**_: Any) -> None:
    import importlib

    from django.urls import get_resolver

    for name in WORKER_PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional library missing: the task that needs it says so
            logger.warning("worker preload: %s not importable", name, exc_info=True)
    get_resolver().url_patterns  # noqa: B018 - loads the URLconf that run links reverse()


# Tasks that could not be sent during the current request (see QueueStatusMiddleware).
_unsent: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "charter_unsent_tasks", default=None
)


def enqueue_on_commit(task: Any, **kwargs: Any) -> None:
    """Send `task` with JSON-safe kwargs once the current transaction commits (never before).

    If the broker is down, the committed rows stay as they are (a run stays `queued`, an event
    unprocessed) for the apps' sweepers to send again, the failure is logged, and the request
    that caused it is told (QueueStatusMiddleware): never a 500 after the work was saved.
    """
    json.dumps(kwargs)  # an unserialisable argument fails here, in tests too
    transaction.on_commit(lambda: _send(task, kwargs))


def _send(task: Any, kwargs: dict[str, Any]) -> None:
    try:
        task.delay(**kwargs)
    except (KombuOperationalError, ConnectionError, OSError) as exc:
        logger.warning("queue unavailable: %s%s not sent (%s)", task.name, kwargs, exc)
        unsent = _unsent.get()
        if unsent is not None:
            unsent.append(task.name)


def unsent_tasks_start() -> contextvars.Token:
    """Start collecting the tasks this request fails to send."""
    return _unsent.set([])


def unsent_tasks_end(token: contextvars.Token) -> list[str]:
    """The tasks this request failed to send; stop collecting."""
    unsent = _unsent.get() or []
    _unsent.reset(token)
    return unsent
