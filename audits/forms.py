"""HTML forms of the audits app: they check shape only; services check meaning."""

import json

from django import forms

from audits.checks.specs import KINDS
from audits.models import AuditPolicy, ProcessingActivity
from catalog.models import Dataset, Domain, Sensitivity, Tag

EXAMPLE_CHECKS = [
    {"kind": "not_null", "column": "email"},
    {"kind": "unique", "column": "id"},
    {"kind": "range", "column": "age", "min_value": 0, "max_value": 120, "mostly": 0.99},
]


EXAMPLES = {
    "not_null": {"kind": "not_null", "column": "email", "mostly": 0.99},
    "unique": {"kind": "unique", "column": "id"},
    "range": {"kind": "range", "column": "age", "min_value": 0, "max_value": 120},
    "allowed_values": {"kind": "allowed_values", "column": "status", "value_set": ["a", "b"]},
    "regex": {"kind": "regex", "column": "email", "regex": "[^@]+@[^@]+", "mode": "fullmatch"},
    "row_count": {"kind": "row_count", "min_value": 1000},
    "freshness": {"kind": "freshness", "column": "updated_at", "max_age": "1d"},
    "schema_drift": {"kind": "schema_drift", "added": "warn", "removed": "fail"},
    "distribution_drift": {"kind": "distribution_drift", "column": "income"},
    "fairness": {
        "kind": "fairness",
        "label": "approved",
        "prediction": "predicted",
        "protected": ["sex"],
    },
    "pii_scan": {"kind": "pii_scan"},
    "access_review": {"kind": "access_review", "unused_days": 90, "pending_days": 7},
    "retention": {"kind": "retention", "date_column": "created_at"},
}


def kinds_help() -> list[dict]:
    """What each check kind accepts, with an example, for the help beside the form."""
    return [
        {
            "kind": k,
            "label": label,
            "required": list(required),
            "optional": {key: json.dumps(value) for key, value in optional.items()},
            "example": json.dumps(EXAMPLES.get(k, {"kind": k})),
        }
        for k, (label, required, optional) in KINDS.items()
    ]


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(),
        required=False,
        to_field_name="name",
        help_text="One dataset, or…",
    )
    target_tag = forms.ModelChoiceField(
        queryset=Tag.objects.all(), required=False, label="…datasets with tag"
    )
    target_domain = forms.ModelChoiceField(
        queryset=Domain.objects.all(), required=False, label="…in domain"
    )
    target_tier = forms.ChoiceField(
        choices=[("", "any tier"), *Sensitivity.choices], required=False, label="…of tier"
    )
    checks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "class": "mono", "spellcheck": "false"}),
        help_text="A JSON list of checks; see the kinds listed beside the form.",
    )
    schedule_kind = forms.ChoiceField(choices=AuditPolicy.ScheduleKind.choices, label="Schedule")
    interval_minutes = forms.IntegerField(min_value=1, required=False, label="Every (minutes)")
    cron = forms.CharField(
        max_length=100,
        required=False,
        label="Cron (UTC)",
        help_text="minute hour day month weekday, e.g. 0 3 * * *",
    )
    time_limit_seconds = forms.IntegerField(
        min_value=10, max_value=86400, initial=900, label="Time limit (s)"
    )
    enabled = forms.BooleanField(required=False, initial=True)
    notify = forms.BooleanField(
        required=False, initial=True, label="E-mail owner and stewards when a run fails"
    )

    def __init__(self, *args, datasets=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = (
            datasets if datasets is not None else Dataset.objects.none()
        )
        if not self.is_bound and "checks" not in self.initial:
            self.initial["checks"] = json.dumps(EXAMPLE_CHECKS, indent=2)

    def clean_checks(self):
        try:
            value = json.loads(self.cleaned_data["checks"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        if not isinstance(value, list):
            raise forms.ValidationError("Give a JSON list of checks: [ {...}, {...} ].")
        return value

    @staticmethod
    def initial_for(policy: AuditPolicy) -> dict:
        return {
            "name": policy.name,
            "description": policy.description,
            "dataset": policy.dataset,
            "target_tag": policy.target_tag,
            "target_domain": policy.target_domain,
            "target_tier": policy.target_tier,
            "checks": json.dumps(policy.checks, indent=2),
            "schedule_kind": policy.schedule_kind,
            "interval_minutes": policy.interval_minutes,
            "cron": policy.cron,
            "time_limit_seconds": policy.time_limit_seconds,
            "enabled": policy.enabled,
            "notify": policy.notify,
        }


class ActivityForm(forms.ModelForm):
    class Meta:
        model = ProcessingActivity
        fields = [
            "name",
            "controller",
            "dpo_contact",
            "purposes",
            "lawful_basis",
            "data_subject_categories",
            "personal_data_categories",
            "recipient_categories",
            "third_country_transfers",
            "erasure_time_limits",
            "retention_rule",
            "security_measures",
            "source",
            "datasets",
            "owner",
            "last_reviewed_at",
        ]
        widgets = {
            f: forms.Textarea(attrs={"rows": 2})
            for f in (
                "controller",
                "dpo_contact",
                "purposes",
                "data_subject_categories",
                "personal_data_categories",
                "recipient_categories",
                "third_country_transfers",
                "erasure_time_limits",
                "retention_rule",
                "security_measures",
                "source",
            )
        } | {"last_reviewed_at": forms.DateInput(attrs={"type": "date"})}


class ComplianceReportForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    tag = forms.ModelChoiceField(queryset=Tag.objects.all(), required=False, to_field_name="name")
    domain = forms.ModelChoiceField(queryset=Domain.objects.all(), required=False)
    tier = forms.ChoiceField(choices=[("", "any tier"), *Sensitivity.choices], required=False)
    format = forms.ChoiceField(
        choices=[("pdf", "PDF"), ("csv", "CSV"), ("json", "JSON")], initial="pdf"
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The period starts after it ends.")
        return data
