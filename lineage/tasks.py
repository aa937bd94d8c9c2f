"""Celery tasks: thin wrappers that load ids and call lineage services."""

import logging
import urllib.error
from typing import Any

from celery import shared_task
from django.db import IntegrityError

from lineage.services import lineage_event_process, openlineage_send

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(IntegrityError,), retry_backoff=True, max_retries=3)
def lineage_ingest_task(event_id: int) -> None:
    """Apply one stored OpenLineage event to the graph (idempotent: the service claims it).
    A unique-constraint race with a concurrent event (same new job, run or dataset) is retried."""
    lineage_event_process(event_id=event_id)


@shared_task(autoretry_for=(urllib.error.URLError, OSError), retry_backoff=True, max_retries=5)
def openlineage_send_task(event: dict[str, Any]) -> None:
    """Deliver one of Charter's own OpenLineage events to the configured endpoint."""
    status = openlineage_send(event=event)
    logger.info("openlineage event sent: HTTP %s", status)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_rollback_task(dataset_id: int, from_version_id: int, to_version_id: int) -> None:
    """Tell downstream owners that a dataset was rolled back."""
    from lineage.notifications import rollback_notify

    rollback_notify(
        dataset_id=dataset_id, from_version_id=from_version_id, to_version_id=to_version_id
    )


@shared_task
def snapshots_maintain_task() -> dict:
    """Keep snapshots of current file versions not yet kept; prune past retention."""
    from catalog.versioning import snapshot_prune, snapshots_capture_current

    return {"captured": snapshots_capture_current(), "removed": snapshot_prune()}


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def downstream_notify_task(dataset_id: int, subject: str, message: str) -> int:
    """Tell the owners downstream of a dataset (impact analysis) about a problem with it."""
    from lineage.notifications import downstream_notify

    return downstream_notify(dataset_id=dataset_id, subject=subject, message=message)
