"""Forms of the team pages: they parse input; ``portal.accounts.services`` decides."""

from django import forms


class TeamCreateForm(forms.Form):
    """The new team's name."""

    name = forms.CharField(max_length=100, help_text="Unique in the challenge, whatever its case.")


class TeamInviteForm(forms.Form):
    """Whom to invite: an e-mail address, or nobody in particular (a link to pass on)."""

    email = forms.EmailField(
        required=False, help_text="Leave empty for a link that the first person to open it may accept."
    )


class TeamCaptainForm(forms.Form):
    """The member who becomes captain."""

    member = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
