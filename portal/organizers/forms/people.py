"""The people page's form: add an organizer or an expert reader by username or e-mail address."""

from django import forms

from portal.accounts.models import ChallengeRole

Role = ChallengeRole.Role


class PersonAddForm(forms.Form):
    username_or_email = forms.CharField(max_length=254, label="Username or e-mail address")
    role = forms.ChoiceField(
        choices=[
            (Role.ORGANIZER.value, "Organizer: runs the challenge, sees its hidden data"),
            (Role.READER.value, "Expert reader: reads blinded studies and annotates hidden cases"),
        ]
    )
