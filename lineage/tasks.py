"""Celery tasks: thin wrappers that load ids and call lineage services."""

import logging
import urllib.error
from typing import Any

from celery import shared_task

from lineage.ingest import lineage_events_drain, lineage_events_sweep
from lineage.services import openlineage_send

logger = logging.getLogger(__name__)


@shared_task
def lineage_ingest_task(event_id: int | None = None) -> int:
    """Sent after events are accepted (lineage/ingest_wake.py: at most one per burst from each
    web process; one per event with an eager queue): apply pending OpenLineage events in batches,
    oldest first. Events are claimed (SKIP LOCKED), so the first task drains a backlog and later
    tasks find nothing to do. `event_id`, when given, only names the event that sent it."""
    return lineage_events_drain()


@shared_task
def lineage_events_sweep_task() -> int:
    """Beat, every 30 s: apply events still pending well after receipt, whose task was never
    sent (broker down when they were accepted) or was lost. Idempotent beside normal processing."""
    return lineage_events_sweep()


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
