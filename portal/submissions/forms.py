"""The upload form of the submission page: it parses the file; ``services.submission_create`` decides."""

from django import forms


class SubmissionUploadForm(forms.Form):
    """One archive of predicted masks, for a real submission or a check-only try."""

    file = forms.FileField(
        label="Predictions archive",
        help_text="A .zip or .tar.gz with one mask per hidden test case, named by case id.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,.tar.gz,.tgz"}),
    )
    check_only = forms.BooleanField(
        required=False,
        label="Check only (not scored, not counted)",
        help_text="Run every check a submission gets, without scoring it or spending a submission.",
    )
