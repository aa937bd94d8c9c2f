"""Catalog API shapes: plain input serializers, read-only output serializers (no logic)."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from catalog.models import (
    Column,
    Connection,
    Dataset,
    DatasetVersion,
    IssueComment,
    IssueReport,
    LegalBasis,
    MaskingRule,
    PiiKind,
    ProtectedAttribute,
    Sensitivity,
)

User = get_user_model()


class ColumnOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Column
        fields = [
            "name",
            "position",
            "data_type",
            "nullable",
            "description",
            "pii_kind",
            "suggested_pii_kind",
            "pii_evidence",
            "pii_reviewed",
            "protected_attribute",
            "masking",
            "profile",
        ]


class DatasetTypeaheadRowSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()


class DatasetTypeaheadOutputSerializer(serializers.Serializer):
    results = DatasetTypeaheadRowSerializer(many=True)


class DatasetListOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", default=None, allow_null=True)
    domain = serializers.CharField(source="domain.name", default=None, allow_null=True)
    tags = serializers.SerializerMethodField()
    has_pii = serializers.BooleanField(read_only=True)
    current_version = serializers.IntegerField(
        source="current_version.number", default=None, allow_null=True
    )
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = Dataset
        fields = [
            "name",
            "title",
            "description",
            "sensitivity",
            "status",
            "owner",
            "domain",
            "tags",
            "has_pii",
            "row_count",
            "size_bytes",
            "current_version",
            "profile_status",
            "updated_at",
            "url",
        ]

    def get_tags(self, obj: Dataset) -> list[str]:
        return [t.name for t in getattr(obj, "tag_list", obj.tags.all())]


class DatasetDetailOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", default=None, allow_null=True)
    domain = serializers.CharField(source="domain.name", default=None, allow_null=True)
    stewards = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    glossary_terms = serializers.SerializerMethodField()
    connection = serializers.CharField(source="connection.name", default=None, allow_null=True)
    replaced_by = serializers.CharField(source="replaced_by.name", default=None, allow_null=True)
    current_version = serializers.IntegerField(
        source="current_version.number", default=None, allow_null=True
    )
    columns = ColumnOutputSerializer(many=True, read_only=True)
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = Dataset
        fields = [
            "name",
            "title",
            "description",
            "sensitivity",
            "status",
            "deprecation_reason",
            "replaced_by",
            "owner",
            "stewards",
            "domain",
            "tags",
            "glossary_terms",
            "legal_basis",
            "purpose",
            "retention_days",
            "source_kind",
            "location",
            "connection",
            "file_format",
            "row_count",
            "size_bytes",
            "current_version",
            "profile_status",
            "profile_progress",
            "profile_error",
            "profiled_at",
            "created_at",
            "updated_at",
            "columns",
            "url",
        ]

    def get_stewards(self, obj: Dataset) -> list[str]:
        return sorted(u.username for u in obj.stewards.all())

    def get_tags(self, obj: Dataset) -> list[str]:
        return [t.name for t in obj.tags.all()]

    def get_glossary_terms(self, obj: Dataset) -> list[str]:
        return [t.name for t in obj.glossary_terms.all()]


class DatasetVersionOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "fingerprint",
            "row_count",
            "size_bytes",
            "schema",
            "profile",
            "diff",
            "reason",
            "created_by",
            "created_at",
        ]


class DatasetRegisterInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    source_kind = serializers.ChoiceField(
        choices=["file", "upload", "postgresql"],
        required=False,
        help_text="Inferred when omitted: upload with a file, postgresql with a connection.",
    )
    path = serializers.CharField(
        required=False, allow_blank=True, help_text="File under a data root."
    )
    upload = serializers.FileField(required=False, help_text="multipart/form-data upload.")
    connection = serializers.SlugRelatedField(
        slug_field="name", queryset=Connection.objects.all(), required=False, allow_null=True
    )
    table = serializers.CharField(required=False, allow_blank=True, help_text="schema.table")
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, default=Sensitivity.INTERNAL)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)

    def validate(self, attrs: dict) -> dict:
        if "source_kind" not in attrs:
            if attrs.get("upload"):
                attrs["source_kind"] = "upload"
            elif attrs.get("connection"):
                attrs["source_kind"] = "postgresql"
            else:
                attrs["source_kind"] = "file"
        return attrs


class DatasetUpdateInputSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    stewards = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        many=True,
        required=False,
    )
    domain = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=100
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    glossary_terms = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False
    )
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, required=False)
    legal_basis = serializers.ChoiceField(
        choices=LegalBasis.choices, required=False, allow_blank=True
    )
    purpose = serializers.CharField(required=False, allow_blank=True)
    retention_days = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class DatasetDeprecateInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    replaced_by = serializers.CharField(required=False, allow_blank=True, max_length=100)


class DatasetReprofileInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


class ColumnUpdateInputSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    pii_kind = serializers.ChoiceField(choices=PiiKind.choices, required=False, allow_blank=True)
    protected_attribute = serializers.ChoiceField(
        choices=ProtectedAttribute.choices, required=False, allow_blank=True
    )
    masking = serializers.ChoiceField(choices=MaskingRule.choices, required=False, allow_blank=True)
    pii_reviewed = serializers.BooleanField(required=False)


class IssueCommentOutputSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", default=None, allow_null=True)

    class Meta:
        model = IssueComment
        fields = ["id", "author", "body", "created_at"]


class IssueReportOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")
    reporter = serializers.CharField(source="reporter.username", default=None, allow_null=True)

    class Meta:
        model = IssueReport
        fields = [
            "id",
            "dataset",
            "kind",
            "title",
            "body",
            "column_name",
            "status",
            "reporter",
            "created_at",
            "updated_at",
        ]


class IssueReportDetailOutputSerializer(IssueReportOutputSerializer):
    comments = IssueCommentOutputSerializer(many=True, read_only=True)

    class Meta(IssueReportOutputSerializer.Meta):
        fields = [*IssueReportOutputSerializer.Meta.fields, "comments"]


class IssueReportCreateInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IssueReport.Kind.choices)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(required=False, allow_blank=True)
    column_name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class IssueStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=IssueReport.Status.choices)
    note = serializers.CharField(required=False, allow_blank=True)


class IssueCommentInputSerializer(serializers.Serializer):
    body = serializers.CharField()


class ConnectionOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = Connection
        fields = [
            "name",
            "kind",
            "host",
            "port",
            "database",
            "username",
            "schema",
            "created_by",
            "created_at",
        ]


class ConnectionCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    host = serializers.CharField(max_length=255)
    port = serializers.IntegerField(min_value=1, max_value=65535, default=5432)
    database = serializers.CharField(max_length=100)
    username = serializers.CharField(max_length=100)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        default="",
        style={"input_type": "password"},
    )
    schema = serializers.CharField(max_length=100, default="public")


class ConnectionTestOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()


class MetadataImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A metadata CSV as exported (UTF-8).")
    apply = serializers.BooleanField(default=False, help_text="false = dry run.")


class MetadataImportOutputSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    applied = serializers.BooleanField()
    changes = serializers.ListField(child=serializers.DictField())
    errors = serializers.ListField(child=serializers.DictField())
