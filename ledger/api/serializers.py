from rest_framework import serializers

from ledger.models import Event


class EventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "seq",
            "created_at",
            "actor_username",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "data",
            "prev_hash",
            "hash",
        ]


class VerifyOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    head_hash = serializers.CharField()
    first_bad_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
