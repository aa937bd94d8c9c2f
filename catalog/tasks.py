"""Catalog Celery tasks: thin wrappers that load ids and call services."""

import logging
import os
from datetime import timedelta
from smtplib import SMTPException

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog import services
from catalog.models import Dataset
from config.celery import enqueue_on_commit

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def dataset_profile_task(dataset_id: int, actor_id: int | None = None, reason: str = "") -> None:
    """Profile a dataset (schema, counts, per-column profile, PII suggestion, version)."""
    services.dataset_profile(dataset_id=dataset_id, actor_id=actor_id, reason=reason)


# A request still pending this long was never sent (broker down) or its message was lost; one
# merely waiting behind others is older than this only in a long backlog (then see below).
PROFILE_RESEND_SECONDS = int(os.environ.get("CHARTER_PROFILE_RESEND_SECONDS", "300"))


@shared_task(acks_late=True)
def dataset_profile_resent_task(dataset_id: int) -> None:
    """A re-sent request: profile only if still pending, so the re-send adds no second profile
    when the original message turns up after all (it is ahead in the queue, FIFO)."""
    if Dataset.objects.filter(pk=dataset_id, profile_status=Dataset.ProfileStatus.PENDING).exists():
        services.dataset_profile(dataset_id=dataset_id, reason="re-sent")


@shared_task
def dataset_profiles_resend_task() -> None:
    """Beat, every minute: re-send profiling requests left waiting (see profiles_resend)."""
    resent = profiles_resend()
    if resent:
        logger.warning("re-sent %d profiling requests left waiting: %s", len(resent), resent)


def profiles_resend(limit: int = 100) -> list[int]:
    """Re-send the profiling of datasets left `pending` (their task was not sent: broker down)
    or `running` past the stale claim (their worker and message are gone).

    Each is taken with a conditional update that restarts its wait, so two sweepers never send
    the same one and the next sweep leaves it alone for another PROFILE_RESEND_SECONDS.
    """
    now = timezone.now()
    waiting = Q(
        profile_status=Dataset.ProfileStatus.PENDING,
        updated_at__lt=now - timedelta(seconds=PROFILE_RESEND_SECONDS),
    ) | Q(
        profile_status=Dataset.ProfileStatus.RUNNING,
        updated_at__lt=now - services.PROFILE_STALE_AFTER,
    )
    candidates = Dataset.objects.filter(waiting).exclude(source_kind=Dataset.SourceKind.EXTERNAL)
    resent = []
    for dataset_id in candidates.order_by("updated_at").values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            if Dataset.objects.filter(waiting, pk=dataset_id).update(
                profile_status=Dataset.ProfileStatus.PENDING, profile_progress=0, updated_at=now
            ):
                enqueue_on_commit(dataset_profile_resent_task, dataset_id=dataset_id)
                resent.append(dataset_id)
    return resent


@shared_task(autoretry_for=(SMTPException, OSError), retry_backoff=True, max_retries=5)
def issue_notify_task(report_id: int, event: str = "reported") -> None:
    """E-mail the owner and stewards about a new issue report or comment."""
    services.issue_notify(report_id=report_id, event=event)
