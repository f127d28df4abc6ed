"""The upload form of the submission page: it parses the file; ``services.submission_create`` decides."""

from django import forms


class SubmissionUploadForm(forms.Form):
    """One archive of predicted masks."""

    file = forms.FileField(
        label="Predictions archive",
        help_text="A .zip or .tar.gz with one mask per hidden test case, named by case id.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,.tar.gz,.tgz"}),
    )
