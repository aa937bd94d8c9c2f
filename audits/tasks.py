"""Celery tasks of the audits app: thin wrappers that call services with ids."""

import logging
from smtplib import SMTPException

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from audits import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def audit_run_task(self, run_id: int) -> None:
    """Execute one audit run; a redelivery after a worker died resumes it, never doubles it."""
    try:
        services.audit_run_execute(run_id=run_id, task_id=self.request.id or f"local-{run_id}")
    except SoftTimeLimitExceeded:
        services.audit_run_fail(
            run_id=run_id, attempt=None, message="The run exceeded the worker's time limit."
        )


@shared_task(acks_late=True)
def audit_policy_fire_task(policy_id: int) -> None:
    """Beat calls this on the policy's schedule: queue one run per targeted dataset."""
    services.audit_policy_fire(policy_id=policy_id)


@shared_task
def audit_runs_recover_task() -> None:
    """Re-queue runs abandoned by a dead worker (beat runs this every minute)."""
    recovered = services.audit_runs_recover()
    if recovered:
        logger.info("re-queued abandoned audit runs %s", recovered)


@shared_task(autoretry_for=(SMTPException,), retry_backoff=True, max_retries=5)
def audit_run_notify_task(run_id: int) -> None:
    """E-mail owner and stewards about a failed run."""
    services.audit_run_notify(run_id=run_id)
