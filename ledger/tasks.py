"""Ledger background jobs (thin: they call services)."""

from typing import Any

from celery import shared_task

from ledger.services import ledger_anchor_head


@shared_task
def ledger_anchor_head_task() -> dict[str, Any]:
    """Anchor the chain head outside the database (scheduled hourly by django-celery-beat)."""
    return ledger_anchor_head()
