"""Catalog forms: they check shape only; the services decide meaning."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model

from catalog.models import (
    Connection,
    Dataset,
    IssueReport,
    LegalBasis,
    MaskingRule,
    PiiKind,
    ProtectedAttribute,
    Sensitivity,
)

User = get_user_model()


def _names(raw: str) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


class DatasetRegisterForm(forms.Form):
    SOURCE_CHOICES = [
        ("file", "A file under a data folder"),
        ("upload", "Upload a file"),
        ("postgresql", "A PostgreSQL table or view"),
    ]
    name = forms.CharField(
        max_length=100, help_text="Unique, lowercase: letters, digits, '-', '_' or '.'."
    )
    title = forms.CharField(max_length=200, required=False)
    source_kind = forms.ChoiceField(
        choices=SOURCE_CHOICES, widget=forms.RadioSelect, initial="file"
    )
    path = forms.CharField(
        max_length=1000,
        required=False,
        label="File path",
        help_text="CSV or Parquet, relative to a data folder or absolute inside one.",
    )
    upload = forms.FileField(required=False, label="File to upload")
    connection = forms.ModelChoiceField(queryset=Connection.objects.all(), required=False)
    table = forms.CharField(
        max_length=200,
        required=False,
        help_text="schema.table, or a table in the connection's schema.",
    )
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, initial=Sensitivity.INTERNAL)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text="Markdown."
    )
    tags = forms.CharField(required=False, help_text="Comma-separated.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit_mb = settings.CHARTER_UPLOAD_MAX_BYTES // (1024 * 1024)
        self.fields["upload"].help_text = f"CSV or Parquet, at most {limit_mb} MB."
        roots = ", ".join(str(r) for r in settings.CHARTER_DATA_ROOTS)
        self.fields["path"].help_text = f"CSV or Parquet inside: {roots}."

    def clean(self):
        data = super().clean()
        kind = data.get("source_kind")
        if kind == "file" and not data.get("path"):
            self.add_error("path", "Give the file's path.")
        if kind == "upload" and not data.get("upload"):
            self.add_error("upload", "Choose a file to upload.")
        if kind == "postgresql":
            if not data.get("connection"):
                self.add_error("connection", "Choose a connection.")
            if not data.get("table"):
                self.add_error("table", "Give the table name.")
        data["tag_list"] = _names(data.get("tags", ""))
        return data


class DatasetEditForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        required=False,
        help_text="Markdown; rendered sanitised.",
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"), required=False
    )
    stewards = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    domain = forms.CharField(
        max_length=100, required=False, help_text="A new name creates the domain."
    )
    tags = forms.CharField(required=False, help_text="Comma-separated.")
    glossary_terms = forms.CharField(required=False, help_text="Comma-separated.")
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices)
    legal_basis = forms.ChoiceField(choices=LegalBasis.choices, required=False)
    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Purpose of processing"
    )
    retention_days = forms.IntegerField(min_value=1, required=False, label="Retention (days)")

    @classmethod
    def initial_for(cls, dataset: Dataset, stewards, tags, terms) -> dict:
        return {
            "title": dataset.title,
            "description": dataset.description,
            "owner": dataset.owner_id,
            "stewards": [u.pk for u in stewards],
            "domain": dataset.domain.name if dataset.domain_id else "",
            "tags": ", ".join(t.name for t in tags),
            "glossary_terms": ", ".join(t.name for t in terms),
            "sensitivity": dataset.sensitivity,
            "legal_basis": dataset.legal_basis,
            "purpose": dataset.purpose,
            "retention_days": dataset.retention_days,
        }

    def changes(self) -> dict:
        data = dict(self.cleaned_data)
        data["tags"] = _names(data.get("tags", ""))
        data["glossary_terms"] = _names(data.get("glossary_terms", ""))
        data["stewards"] = list(data.get("stewards") or [])
        return data


class DatasetDeprecateForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    replaced_by = forms.CharField(
        max_length=100, required=False, help_text="Name of the dataset to use instead."
    )


class ColumnEditForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    pii_kind = forms.ChoiceField(choices=PiiKind.choices, required=False, label="PII kind")
    protected_attribute = forms.ChoiceField(choices=ProtectedAttribute.choices, required=False)
    masking = forms.ChoiceField(choices=MaskingRule.choices, required=False)


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    host = forms.CharField(max_length=255)
    port = forms.IntegerField(min_value=1, max_value=65535, initial=5432)
    database = forms.CharField(max_length=100)
    username = forms.CharField(max_length=100)
    password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)
    schema = forms.CharField(max_length=100, initial="public")


class IssueReportForm(forms.Form):
    kind = forms.ChoiceField(choices=IssueReport.Kind.choices)
    title = forms.CharField(max_length=200)
    column_name = forms.ChoiceField(required=False, label="Column (optional)")
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label="Details",
        help_text="Markdown. Do not paste personal data.",
    )

    def __init__(self, *args, columns=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["column_name"].choices = [("", "—"), *[(c, c) for c in columns]]


class IssueCommentForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Comment")


class IssueStatusForm(forms.Form):
    status = forms.ChoiceField(choices=IssueReport.Status.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class MetadataImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV exported from Charter (UTF-8).")
    apply = forms.BooleanField(
        required=False, label="Apply the changes (leave unticked for a dry run)"
    )
