"""Tell the owners downstream of a dataset when it changes under them (rollback, for now)."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail

from catalog.models import Dataset, DatasetVersion
from config.celery import enqueue_on_commit

logger = logging.getLogger(__name__)


def on_dataset_rollback(dataset_id: int, from_version_id: int, to_version_id: int) -> None:
    """Rollback listener (registered in LineageConfig.ready): notify after commit, in a task."""
    from lineage.tasks import notify_rollback_task

    enqueue_on_commit(
        notify_rollback_task,
        dataset_id=dataset_id,
        from_version_id=from_version_id,
        to_version_id=to_version_id,
    )


def rollback_notify(*, dataset_id: int, from_version_id: int, to_version_id: int) -> int:
    """E-mail the owners and stewards of everything downstream (impact analysis); returns how
    many people were told."""
    from lineage.selectors import impact_owner_ids

    dataset = Dataset.objects.filter(pk=dataset_id).first()
    to_version = DatasetVersion.objects.filter(pk=to_version_id).first()
    if dataset is None or to_version is None:
        logger.info("rollback of dataset %s: nothing left to notify about", dataset_id)
        return 0
    from_version = DatasetVersion.objects.filter(pk=from_version_id).first()
    users = (
        get_user_model().objects.filter(pk__in=impact_owner_ids(dataset=dataset)).exclude(email="")
    )
    subject = f"[Charter] {dataset.name} was rolled back to v{to_version.number}"
    body = (
        f"{dataset.name} was rolled back from v{from_version.number if from_version else '?'} "
        f"to v{to_version.number}. You own data or models downstream of it; check whether they "
        "need to be rebuilt.\n"
    )
    sender = getattr(settings, "DEFAULT_FROM_EMAIL", "charter@localhost")
    messages = [(subject, body, sender, [u.email]) for u in users]
    if messages:
        send_mass_mail(messages, fail_silently=False)
    return len(messages)


def downstream_notify(*, dataset_id: int, subject: str, message: str) -> int:
    """E-mail owners and stewards of everything downstream of a dataset (e.g. the audits app
    after a failed audit run); returns how many people were told. Call from a task."""
    from lineage.selectors import impact_owner_ids

    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        return 0
    users = (
        get_user_model().objects.filter(pk__in=impact_owner_ids(dataset=dataset)).exclude(email="")
    )
    sender = getattr(settings, "DEFAULT_FROM_EMAIL", "charter@localhost")
    batch = [(f"[Charter] {subject}", message, sender, [u.email]) for u in users]
    if batch:
        send_mass_mail(batch, fail_silently=False)
    return len(batch)
