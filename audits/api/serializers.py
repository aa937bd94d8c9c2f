"""Audits API shapes: plain input serializers, read-only output serializers."""

from rest_framework import serializers

from audits.models import AuditPolicy, AuditRun, CheckResult, PiiProposal
from catalog.models import Sensitivity


class PolicyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    checks = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    dataset = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    target_tag = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    target_domain = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    target_tier = serializers.ChoiceField(
        choices=["", *Sensitivity.values], required=False, default=""
    )
    schedule_kind = serializers.ChoiceField(
        choices=AuditPolicy.ScheduleKind.values, default=AuditPolicy.ScheduleKind.MANUAL
    )
    interval_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    cron = serializers.CharField(required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(default=True)
    notify = serializers.BooleanField(default=True)
    time_limit_seconds = serializers.IntegerField(
        required=False, min_value=10, max_value=86400, default=900
    )


class PolicyOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    target_tag = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    target_domain = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    periodic_task = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = AuditPolicy
        fields = [
            "id",
            "name",
            "description",
            "checks",
            "dataset",
            "target_tag",
            "target_domain",
            "target_tier",
            "schedule_kind",
            "interval_minutes",
            "cron",
            "periodic_task",
            "enabled",
            "notify",
            "time_limit_seconds",
            "created_at",
            "updated_at",
        ]


class ResultOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckResult
        fields = [
            "index",
            "label",
            "kind",
            "column",
            "status",
            "success",
            "severity",
            "observed_value",
            "element_count",
            "unexpected_count",
            "unexpected_percent",
            "result",
        ]


class RunOutputSerializer(serializers.ModelSerializer):
    policy = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    version = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = AuditRun
        fields = [
            "id",
            "policy",
            "dataset",
            "version",
            "state",
            "trigger",
            "requested_by",
            "progress",
            "task_id",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
            "error_message",
            "summary",
            "scope",
        ]


class RunDetailOutputSerializer(RunOutputSerializer):
    results = ResultOutputSerializer(many=True, read_only=True)
    evidence = serializers.JSONField(read_only=True)

    class Meta(RunOutputSerializer.Meta):
        fields = [*RunOutputSerializer.Meta.fields, "evidence", "results"]


class PiiProposalOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="column.dataset.name", read_only=True)
    column = serializers.CharField(source="column.name", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PiiProposal
        fields = [
            "id",
            "run",
            "dataset",
            "column",
            "declared_kind",
            "proposed_kind",
            "evidence",
            "status",
            "decided_by",
            "decided_at",
        ]


class PiiProposalDecideInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
