"""Access API shapes: plain input serializers, read-only output serializers (STYLE §6)."""

from rest_framework import serializers

from access.models import AccessApproval, AccessGrant, AccessLevel, AccessRequest


class AccessRequestCreateInputSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=100, help_text="The dataset's name.")
    level = serializers.ChoiceField(choices=AccessLevel.choices)
    purpose = serializers.CharField(max_length=2000)
    duration_days = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Defaults to the tier's default; bounded by the tier.",
    )
    columns = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list
    )
    renews = serializers.IntegerField(required=False, help_text="Id of a grant this renews.")


class DecisionInputSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ApprovalOutputSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = AccessApproval
        fields = ["approver", "capacity", "comment", "created_at"]


class AccessRequestOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")
    tier = serializers.CharField(source="dataset.sensitivity")
    requester = serializers.CharField(source="requester.username")
    decided_by = serializers.CharField(source="decided_by.username", default=None, allow_null=True)
    approvals = ApprovalOutputSerializer(many=True)
    grant = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "dataset",
            "tier",
            "requester",
            "level",
            "purpose",
            "duration_days",
            "columns",
            "status",
            "approvals",
            "decided_at",
            "decided_by",
            "decision_reason",
            "renews",
            "grant",
            "created_at",
        ]

    def get_grant(self, obj: AccessRequest) -> int | None:
        grant = getattr(obj, "grant", None)  # select_related by the selector; no query
        return grant.pk if grant else None


class AccessGrantOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")
    tier = serializers.CharField(source="dataset.sensitivity")
    user = serializers.CharField(source="user.username")
    approvers = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    state = serializers.CharField()
    ended_by = serializers.CharField(source="ended_by.username", default=None, allow_null=True)

    class Meta:
        model = AccessGrant
        fields = [
            "id",
            "dataset",
            "tier",
            "user",
            "level",
            "purpose",
            "columns",
            "approvers",
            "starts_at",
            "expires_at",
            "state",
            "ended_at",
            "ending",
            "ended_by",
            "end_reason",
            "last_read_at",
            "read_count",
            "request",
        ]
