"""Access tasks: thin wrappers that load ids and call services (STYLE §5)."""

import logging
from smtplib import SMTPException

from celery import shared_task

from access.services import (
    access_grant_notification_send,
    access_grants_expire,
    access_notification_send,
)

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(SMTPException,), retry_backoff=True, max_retries=5)
def access_request_notify_task(request_id: int, event: str) -> int:
    """E-mail approvers about a new request, or the requester about a decision."""
    sent = access_notification_send(access_request_id=request_id, event=event)
    if not sent:
        logger.info("access request %s (%s): nobody to notify", request_id, event)
    return sent


@shared_task(autoretry_for=(SMTPException,), retry_backoff=True, max_retries=5)
def access_grant_notify_task(grant_id: int, event: str) -> int:
    """E-mail a grant's holder that it ended."""
    return access_grant_notification_send(grant_id=grant_id, event=event)


@shared_task
def access_grants_expire_task() -> int:
    """Revoke grants past their expiry (scheduled every minute by django-celery-beat)."""
    ended = access_grants_expire()
    if ended:
        logger.info("revoked %s expired access grant(s)", ended)
    return ended
