"""Forms of the reader study pages: they parse choices; ``services`` decides whether a study can be made."""

from django import forms
from django.db.models import QuerySet

from portal.accounts.models import User
from portal.challenges.models import Challenge, Split
from portal.datasets.models import Dataset
from portal.readerstudies.models import DEFAULT_MINIMUM_READING_SECONDS
from portal.readerstudies.selectors import submission_list_comparable
from portal.readerstudies.services import BACKGROUND_CHOICES, DEFAULT_BACKGROUND
from portal.submissions.models import Submission

_KIND_WORDS = {
    Submission.Kind.ALGORITHM: "algorithm",
    Submission.Kind.PREDICTIONS: "predictions",
    Submission.Kind.ENSEMBLE: "ensemble",
    Submission.Kind.RERUN: "validation re-run",
}


class _SubmissionChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Submission) -> str:
        submitter = obj.team.name if obj.team is not None else obj.creator.username
        kind = _KIND_WORDS[Submission.Kind(obj.kind)]
        return f"{submitter}, {kind} submission {obj.pk} to {obj.phase.title} ({obj.created_at:%Y-%m-%d})"


class ReaderStudyForm(forms.Form):
    """A new study: its cases, the mask sources compared, what is shown and what is asked."""

    title = forms.CharField(max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    split = forms.ChoiceField(choices=Split.choices, initial=Split.TEST)
    include_reference = forms.BooleanField(
        required=False, initial=True, label="Compare the reference annotation"
    )
    submissions = _SubmissionChoice(
        queryset=Submission.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Succeeded submissions, of predicted masks or of an algorithm's segmentations, to a phase on "
            "the study's cases."
        ),
    )
    background_interfaces = forms.MultipleChoiceField(
        choices=[(slug, slug) for slug in BACKGROUND_CHOICES],
        initial=list(DEFAULT_BACKGROUND),
        widget=forms.CheckboxSelectMultiple,
        label="Images under the masks",
    )
    asks_quality_rating = forms.BooleanField(required=False, label="Ask a 1-5 quality rating per mask")
    asks_comment = forms.BooleanField(required=False, label="Offer a comment box")
    minimum_reading_seconds = forms.FloatField(
        required=False,
        min_value=0,
        initial=DEFAULT_MINIMUM_READING_SECONDS,
        label="Minimum reading time (seconds)",
        help_text=(
            "Answers given faster than this are flagged in the results, which can leave them out "
            f"(empty: {DEFAULT_MINIMUM_READING_SECONDS:g} s)."
        ),
    )

    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=(
            "Shown to each reader before the first item and reachable while reading (Markdown: headings, "
            "lists, links). Do not name the sources compared."
        ),
    )
    same_mask_trials = forms.IntegerField(
        required=False,
        min_value=0,
        initial=0,
        label="Same-mask catch trials per reader",
        help_text="Items showing one mask on both sides: a reader who prefers a side there is guessing.",
    )
    repeated_pairs = forms.IntegerField(
        required=False,
        min_value=0,
        initial=0,
        label="Repeated comparisons per reader",
        help_text=(
            "Comparisons shown again later (never right after), sides drawn anew: the results report "
            "each reader's consistency (Cohen's kappa)."
        ),
    )

    def __init__(self, *args: object, challenge: Challenge, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type] (Form's own positional arguments)
        datasets: QuerySet[Dataset] = Dataset.objects.filter(challenge=challenge)
        self.fields["dataset"].queryset = datasets  # type: ignore[attr-defined] (a ModelChoiceField)
        self.fields["submissions"].queryset = (  # type: ignore[attr-defined] (a ModelChoiceField)
            submission_list_comparable(challenge=challenge)
        )

    def clean_same_mask_trials(self) -> int:
        return self.cleaned_data["same_mask_trials"] or 0

    def clean_repeated_pairs(self) -> int:
        return self.cleaned_data["repeated_pairs"] or 0

    def clean_minimum_reading_seconds(self) -> float:
        seconds = self.cleaned_data["minimum_reading_seconds"]
        return DEFAULT_MINIMUM_READING_SECONDS if seconds is None else seconds


class StudyDesignForm(forms.Form):
    """A study's instructions and catch-trial counts, changed after its creation."""

    instructions = ReaderStudyForm.base_fields["instructions"]
    same_mask_trials = ReaderStudyForm.base_fields["same_mask_trials"]
    repeated_pairs = ReaderStudyForm.base_fields["repeated_pairs"]

    def clean_same_mask_trials(self) -> int:
        return self.cleaned_data["same_mask_trials"] or 0

    def clean_repeated_pairs(self) -> int:
        return self.cleaned_data["repeated_pairs"] or 0


class ReaderInviteForm(forms.Form):
    """A user to invite by name; they get the challenge's reader role if they lack it."""

    username = forms.CharField(max_length=150)

    def clean_username(self) -> User:
        try:
            return User.objects.get(username=self.cleaned_data["username"])
        except User.DoesNotExist as error:
            raise forms.ValidationError("No user has this name.") from error
