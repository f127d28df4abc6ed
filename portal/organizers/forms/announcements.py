"""The announcements page's form: a title, a Markdown body, and whether to e-mail it to the participants."""

from django import forms


class AnnouncementForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown, shown on the challenge's page as its description is.",
    )
    send_by_email = forms.BooleanField(
        required=False, label="Also send by e-mail", help_text="One message to each participant."
    )
