"""Forms for access requests and decisions: shape only; the services validate meaning."""

from django import forms

from access.models import AccessLevel


class AccessRequestForm(forms.Form):
    level = forms.ChoiceField(
        choices=AccessLevel.choices,
        widget=forms.RadioSelect,
        initial=AccessLevel.MASKED,
        help_text="Masked hides personal data (PII hashed or redacted); full shows raw values.",
    )
    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="What you will do with the data. Approvers and compliance reports see this.",
    )
    duration_days = forms.IntegerField(min_value=1, label="Duration (days)")
    columns = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave empty to ask for every column.",
    )

    def __init__(self, *args, column_choices=(), max_days: int = 365, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["columns"].choices = column_choices
        self.fields["duration_days"].max_value = max_days
        self.fields["duration_days"].widget.attrs.update({"min": 1, "max": max_days})
        self.fields["duration_days"].help_text = f"At most {max_days} days for this tier."
        if not column_choices:
            del self.fields["columns"]


class DecisionForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={
            "required": "Give a reason: it is recorded and shown to the person affected."
        },
    )
