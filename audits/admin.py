"""Read-mostly admin views; every change goes through the services (pages, API, commands)."""

from django.contrib import admin

from audits.models import (
    AuditPolicy,
    AuditRun,
    CheckResult,
    PiiProposal,
    ProcessingActivity,
    Report,
)
from config.admin import ReadOnlyAdmin


@admin.register(AuditPolicy)
class AuditPolicyAdmin(ReadOnlyAdmin):
    list_display = ["name", "dataset", "schedule_kind", "enabled"]
    search_fields = ["name"]


@admin.register(AuditRun)
class AuditRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "policy", "dataset", "state", "attempts", "queued_at", "finished_at"]
    list_filter = ["state", "trigger"]
    list_select_related = ["policy", "dataset"]


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ["run", "index", "label", "status", "severity"]
    list_filter = ["status", "kind"]


@admin.register(PiiProposal)
class PiiProposalAdmin(ReadOnlyAdmin):
    list_display = ["column", "declared_kind", "proposed_kind", "status"]


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(ReadOnlyAdmin):
    list_display = ["name", "lawful_basis", "owner", "last_reviewed_at"]


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "sha256", "generated_by", "generated_at"]
