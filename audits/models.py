"""Audit policies (what to check, where, when), runs (a state machine bound to a version), results.

Also the GDPR Art. 30 record of processing activities and the PII proposals an audit makes.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.models import Column, Dataset, DatasetVersion, Domain, LegalBasis, Sensitivity, Tag


class AuditPolicy(models.Model):
    """A named set of checks applied to one dataset or a selection, on a schedule."""

    class ScheduleKind(models.TextChoices):
        MANUAL = "manual", "Only when run by hand"
        INTERVAL = "interval", "Every N minutes"
        CRON = "cron", "Cron expression (UTC)"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    checks = models.JSONField(
        default=list, help_text="Validated check specs (audits.checks.specs)."
    )
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_policies"
    )
    target_tag = models.ForeignKey(
        Tag, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_policies"
    )
    target_domain = models.ForeignKey(
        Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_policies"
    )
    target_tier = models.CharField(max_length=20, choices=Sensitivity.choices, blank=True)
    schedule_kind = models.CharField(
        max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.MANUAL
    )
    interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    cron = models.CharField(max_length=100, blank=True, help_text="minute hour day month weekday")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_policy",
    )
    enabled = models.BooleanField(default=True)
    notify = models.BooleanField(default=True, help_text="E-mail owner and stewards on failure.")
    time_limit_seconds = models.PositiveIntegerField(default=900)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "audit policies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("audits:policy-detail", kwargs={"pk": self.pk})

    @property
    def target_label(self) -> str:
        if self.dataset_id:
            return f"dataset {self.dataset.name}"
        parts = []
        if self.target_tag_id:
            parts.append(f"tag {self.target_tag.name}")
        if self.target_domain_id:
            parts.append(f"domain {self.target_domain.name}")
        if self.target_tier:
            parts.append(f"tier {self.target_tier}")
        return ", ".join(parts) or "no target"

    @property
    def schedule_label(self) -> str:
        if self.schedule_kind == self.ScheduleKind.INTERVAL:
            return f"every {self.interval_minutes} min"
        if self.schedule_kind == self.ScheduleKind.CRON:
            return f"cron {self.cron} (UTC)"
        return "manual"


class AuditRun(models.Model):
    """One execution of a policy on one dataset: queued -> running -> passed / failed / error."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Run by hand"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"

    FINAL_STATES = (State.PASSED, State.FAILED, State.ERROR)

    policy = models.ForeignKey(AuditPolicy, on_delete=models.CASCADE, related_name="runs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="audit_runs")
    version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_runs"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checks = models.JSONField(default=list, help_text="The check specs this run used.")
    progress = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="Suite statistics.")
    evidence = models.JSONField(default=list, blank=True, help_text="Queries run (tables).")
    scope = models.JSONField(default=dict, blank=True, help_text="Sample size and method.")

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [
            models.Index(fields=["dataset", "-queued_at"]),
            models.Index(fields=["state", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("audits:run-detail", kwargs={"pk": self.pk})

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES


class CheckResult(models.Model):
    """One check's result in a run, in SPEC §1's shape (the full dict is in `result`)."""

    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="results")
    index = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=30)
    column = models.CharField(max_length=200, blank=True)
    label = models.CharField(max_length=200)
    success = models.BooleanField()
    severity = models.CharField(max_length=10)
    status = models.CharField(max_length=20)
    observed_value = models.JSONField(null=True, blank=True)
    element_count = models.BigIntegerField(null=True, blank=True)
    unexpected_count = models.BigIntegerField(null=True, blank=True)
    unexpected_percent = models.FloatField(null=True, blank=True)
    result = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="uniq_result_index")]

    def __str__(self) -> str:
        return f"{self.label}: {self.status}"


class PiiProposal(models.Model):
    """A PII scan found a column whose declared classification differs: a steward decides."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="pii_proposals")
    column = models.ForeignKey(Column, on_delete=models.CASCADE, related_name="pii_proposals")
    declared_kind = models.CharField(max_length=20, blank=True)
    proposed_kind = models.CharField(max_length=20, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.column}: {self.declared_kind or 'none'} -> {self.proposed_kind or 'none'}"


class ProcessingActivity(models.Model):
    """One entry of the GDPR Art. 30(1) record of processing activities."""

    name = models.CharField(max_length=200, unique=True)
    controller = models.TextField(help_text="Name and contact details of the controller.")
    dpo_contact = models.TextField(blank=True, help_text="Data protection officer contact.")
    purposes = models.TextField()
    data_subject_categories = models.TextField(help_text="e.g. customers, employees")
    personal_data_categories = models.TextField(help_text="e.g. contact details, payment data")
    recipient_categories = models.TextField(blank=True)
    third_country_transfers = models.TextField(
        blank=True, help_text="Countries or organisations, and the safeguards (Art. 46)."
    )
    erasure_time_limits = models.TextField(blank=True)
    security_measures = models.TextField(blank=True, help_text="Art. 32 measures, in general.")
    lawful_basis = models.CharField(max_length=30, choices=LegalBasis.choices, blank=True)
    source = models.TextField(blank=True, help_text="Where the personal data comes from.")
    datasets = models.ManyToManyField(Dataset, blank=True, related_name="processing_activities")
    retention_rule = models.TextField(blank=True)
    last_reviewed_at = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "processing activities"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("audits:activity-detail", kwargs={"pk": self.pk})


class Report(models.Model):
    """A generated report's identity and digest (the file itself is re-rendered on download)."""

    class Kind(models.TextChoices):
        RUN = "run", "Audit run report"
        COMPLIANCE = "compliance", "Compliance report"
        ROPA = "ropa", "Record of processing activities"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    run = models.ForeignKey(
        AuditRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    parameters = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64)
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-generated_at"]

    def __str__(self) -> str:
        return f"{self.kind} report {self.pk}"
