"""Input and output shapes of the lineage API."""

from rest_framework import serializers

from lineage.models import Job, Model, ModelVersion, Run


class LineageRunOutputSerializer(serializers.ModelSerializer):
    job = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = ["run_id", "job", "state", "started_at", "ended_at", "facets", "created_at"]

    def get_job(self, obj: Run) -> dict:
        return {"id": obj.job_id, "namespace": obj.job.namespace, "name": obj.job.name}


class JobOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "namespace", "name", "description", "facets", "created_at"]


class ModelOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", default=None)
    version_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Model
        fields = ["name", "description", "owner", "version_count", "created_at"]


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    owner = serializers.CharField(source="owner.username", default=None)
    data = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "version",
            "description",
            "owner",
            "metrics",
            "artefact_uri",
            "created_at",
            "data",
        ]

    def get_data(self, obj: ModelVersion) -> list[dict]:
        visible = self.context.get("visible_dataset_ids", set())
        out = []
        for link in obj.data.all():  # prefetched by the selector
            dv = link.dataset_version
            shown = dv.dataset_id in visible
            out.append(
                {
                    "role": link.role,
                    "dataset": dv.dataset.name if shown else None,
                    "version": dv.number if shown else None,
                    "fingerprint": dv.fingerprint if shown else None,
                    "dataset_version_id": dv.pk if shown else None,
                    "redacted": not shown,
                }
            )
        return out


class DatasetVersionRefSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    version = serializers.IntegerField(required=False)
    fingerprint = serializers.CharField(required=False)

    def validate(self, attrs: dict) -> dict:
        if "version" not in attrs and "fingerprint" not in attrs:
            raise serializers.ValidationError("Give the dataset version's number or fingerprint.")
        return attrs


class ModelVersionRegisterInputSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    metrics = serializers.DictField(required=False, default=dict)
    artefact_uri = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=1000
    )
    training = DatasetVersionRefSerializer(many=True)
    evaluation = DatasetVersionRefSerializer(many=True, required=False, default=list)
