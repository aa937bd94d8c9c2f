"""Catalog Celery tasks: thin wrappers that load ids and call services."""

import logging
from smtplib import SMTPException

from celery import shared_task

from catalog import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def dataset_profile_task(dataset_id: int, actor_id: int | None = None, reason: str = "") -> None:
    """Profile a dataset (schema, counts, per-column profile, PII suggestion, version)."""
    services.dataset_profile(dataset_id=dataset_id, actor_id=actor_id, reason=reason)


@shared_task(autoretry_for=(SMTPException, OSError), retry_backoff=True, max_retries=5)
def issue_notify_task(report_id: int, event: str = "reported") -> None:
    """E-mail the owner and stewards about a new issue report or comment."""
    services.issue_notify(report_id=report_id, event=event)
