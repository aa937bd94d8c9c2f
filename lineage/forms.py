"""Forms validate shape only; model_version_register validates meaning."""

import json
from typing import Any

from django import forms

from access.policies import datasets_for
from catalog.models import NAME_VALIDATOR, DatasetVersion


class DatasetVersionChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: DatasetVersion) -> str:
        return f"{obj.dataset.name} v{obj.number} ({obj.fingerprint[:12]})"


class ModelVersionRegisterForm(forms.Form):
    model = forms.CharField(
        max_length=100, validators=[NAME_VALIDATOR], help_text="Model name (slug)."
    )
    version = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea, required=False)
    artefact_uri = forms.CharField(max_length=1000, required=False, label="Artefact URI")
    metrics = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='JSON object, e.g. {"auc": 0.91}',
    )
    training = DatasetVersionChoiceField(queryset=DatasetVersion.objects.none(), label="Trained on")
    evaluation = DatasetVersionChoiceField(
        queryset=DatasetVersion.objects.none(), required=False, label="Evaluated on"
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        qs = (
            DatasetVersion.objects.filter(dataset__in=datasets_for(user, "view"))
            .select_related("dataset")
            .order_by("dataset__name", "-number")
        )
        self.fields["training"].queryset = qs
        self.fields["evaluation"].queryset = qs

    def clean_metrics(self) -> dict:
        raw = self.cleaned_data.get("metrics") or ""
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('Metrics must be a JSON object, e.g. {"auc": 0.91}.')
        return value

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "model_name": d["model"],
            "version": d["version"],
            "description": d["description"],
            "artefact_uri": d["artefact_uri"],
            "metrics": d["metrics"],
            "training": list(d["training"]),
            "evaluation": list(d["evaluation"]),
        }
