"""Issue reports on datasets: created, commented, moved through their states, with e-mail."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from catalog.models import (
    Dataset,
    IssueComment,
    IssueReport,
)
from catalog.services.datasets import _invalid
from config.celery import enqueue_on_commit
from ledger.services import ledger_record

logger = logging.getLogger(__name__)


@transaction.atomic
def issue_report_create(
    *,
    dataset: Dataset,
    reporter: AbstractBaseUser,
    kind: str,
    title: str,
    body: str = "",
    column_name: str = "",
) -> IssueReport:
    """File a report on a dataset and tell its owner and stewards by e-mail after commit."""
    if kind not in IssueReport.Kind.values:
        raise _invalid(f"Choose a kind: {', '.join(IssueReport.Kind.values)}.", "kind")
    title = (title or "").strip()
    if not title:
        raise _invalid("Give the report a title.", "title")
    column_name = (column_name or "").strip()
    if column_name and not dataset.columns.filter(name=column_name).exists():
        raise _invalid(f"{dataset.name} has no column {column_name}.", "column_name")
    report = IssueReport.objects.create(
        dataset=dataset,
        reporter=reporter,
        kind=kind,
        title=title[:200],
        body=body or "",
        column_name=column_name,
    )
    ledger_record(
        actor=reporter,
        action="issue.reported",
        target=dataset,
        data={"report": report.pk, "kind": kind, "title": report.title, "column": column_name},
    )
    from catalog.tasks import issue_notify_task

    enqueue_on_commit(issue_notify_task, report_id=report.pk, event="reported")
    return report


@transaction.atomic
def issue_report_set_status(
    *, report: IssueReport, actor: AbstractBaseUser, status: str, note: str = ""
) -> IssueReport:
    """Move a report to a new status (with an optional note as a comment); log the change."""
    if status not in IssueReport.Status.values:
        raise _invalid(f"Unknown status {status!r}.", "status")
    if status == report.status:
        return report
    before = report.status
    report.status = status
    report.save(update_fields=["status", "updated_at"])
    if note.strip():
        IssueComment.objects.create(report=report, author=actor, body=note.strip())
    ledger_record(
        actor=actor,
        action="issue.status_changed",
        target=report.dataset,
        data={"report": report.pk, "before": before, "after": status},
    )
    return report


@transaction.atomic
def issue_comment_add(*, report: IssueReport, author: AbstractBaseUser, body: str) -> IssueComment:
    """Add a comment to a report's thread; the reporter, owner and stewards hear of it."""
    body = (body or "").strip()
    if not body:
        raise _invalid("Write a comment first.", "body")
    comment = IssueComment.objects.create(report=report, author=author, body=body)
    ledger_record(
        actor=author, action="issue.commented", target=report.dataset, data={"report": report.pk}
    )
    from catalog.tasks import issue_notify_task

    enqueue_on_commit(issue_notify_task, report_id=report.pk, event="commented")
    return comment


def issue_notify(*, report_id: int, event: str) -> int:
    """E-mail the dataset's owner and stewards (and the reporter, on comments); return how many."""
    from django.core.mail import send_mail

    report = (
        IssueReport.objects.select_related("dataset__owner", "reporter")
        .filter(pk=report_id)
        .first()
    )
    if report is None:
        logger.info("issue report %s vanished before notification", report_id)
        return 0
    dataset = report.dataset
    recipients = {u.email for u in dataset.stewards.all() if u.email}
    if dataset.owner and dataset.owner.email:
        recipients.add(dataset.owner.email)
    if event == "commented" and report.reporter and report.reporter.email:
        recipients.add(report.reporter.email)
    if not recipients:
        return 0
    who = report.reporter.get_username() if report.reporter else "someone"
    subject = f"[Charter] {report.get_kind_display()} report on {dataset.name}: {report.title}"[
        :200
    ]
    url = report.get_absolute_url()
    verb = "reported" if event == "reported" else "commented on"
    body = (
        f"{who} {verb} a {report.get_kind_display().lower()} issue on {dataset.display_title} "
        f"({dataset.name}).\n\n{report.title}\n\nOpen it in Charter: {url}\n"
    )
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, sorted(recipients))
