"""The participants page's form: approve or reject a request to take part, with an optional reason."""

from django import forms


class ParticipationDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional; e-mailed to the person with the decision.",
    )
