"""Forms of the annotation campaign pages: they parse choices; ``services`` decides whether a campaign can
be made, which masks can be promoted, and whether a phase may switch to a ground-truth version."""

from django import forms
from django.db.models import QuerySet

from portal.accounts.models import User
from portal.annotations.models import AnnotationCampaign
from portal.annotations.selectors import annotation_annotator_candidates
from portal.annotations.services import IMAGE_CHOICES
from portal.challenges.models import Challenge, Phase
from portal.datasets.models import Case, Dataset


class _CaseChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Case) -> str:
        return f"{obj.name} ({obj.get_split_display().lower()}, {obj.dataset.title})"


class AnnotationCampaignForm(forms.Form):
    """A new campaign: the cases, the images drawn on, where each mask starts, and the annotators."""

    title = forms.CharField(max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    cases = _CaseChoice(queryset=Case.objects.none(), widget=forms.CheckboxSelectMultiple)
    images = forms.MultipleChoiceField(
        choices=[(slug, slug) for slug in IMAGE_CHOICES],
        initial=["non-contrast-ct"],
        widget=forms.CheckboxSelectMultiple,
        label="Images shown",
        help_text="The masks are drawn on the grid of the first one ticked.",
    )
    starting_mask = forms.ChoiceField(
        choices=AnnotationCampaign.StartingMask.choices,
        initial=AnnotationCampaign.StartingMask.PRE_ANNOTATION,
    )
    uploaded_masks = forms.FileField(
        required=False,
        label="Starting masks (zip or tar, one per case)",
        help_text="Only for uploaded starting masks: files named <case>.nii.gz, .nii or .mha.",
    )
    annotators = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Every case goes to every annotator ticked; anyone with a role in the challenge.",
    )

    def __init__(self, *args: object, challenge: Challenge, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type] (Form's own positional arguments)
        self.fields["dataset"].queryset = Dataset.objects.filter(challenge=challenge)  # type: ignore[attr-defined] (a ModelChoiceField)
        self.fields["cases"].queryset = (  # type: ignore[attr-defined] (a ModelChoiceField)
            Case.objects.filter(dataset__challenge=challenge)
            .select_related("dataset")
            .order_by("split", "name")
        )
        self.fields["annotators"].queryset = annotation_annotator_candidates(challenge=challenge)  # type: ignore[attr-defined] (a ModelChoiceField)


class _AnnotatorChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.username}'s masks"


class ConsensusPromoteForm(forms.Form):
    """Which masks become the dataset's next ground-truth version."""

    annotator = _AnnotatorChoice(
        queryset=User.objects.none(),
        required=False,
        empty_label="STAPLE consensus of every annotator",
        label="Masks to promote",
    )
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    favouring_confirmed = forms.BooleanField(
        required=False,
        label="Promote it all the same",
        help_text="The starting masks came from a submission that competes on this dataset (see above).",
    )

    def __init__(
        self, *args: object, annotators: QuerySet[User], favours: bool = False, **kwargs: object
    ) -> None:
        """``favours``: the campaign's starting masks came from a competing submission, so the form asks
        for the confirmation; without it the box is left out."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type] (Form's own positional arguments)
        self.fields["annotator"].queryset = annotators  # type: ignore[attr-defined] (a ModelChoiceField)
        if not favours:
            del self.fields["favouring_confirmed"]


class PhaseGroundTruthForm(forms.Form):
    """The ground-truth version a phase is scored on."""

    phase = forms.ModelChoiceField(queryset=Phase.objects.none(), widget=forms.HiddenInput)
    version = forms.IntegerField(min_value=1)

    def __init__(self, *args: object, phases: QuerySet[Phase], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type] (Form's own positional arguments)
        self.fields["phase"].queryset = phases  # type: ignore[attr-defined] (a ModelChoiceField)
