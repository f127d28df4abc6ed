"""Forms of the leaderboard pages: they parse an organizer's choices; ``ensembles`` decides whether an
ensemble can be built from them."""

from django import forms

from portal.challenges.models import Phase
from portal.leaderboards.models import Ensemble
from portal.submissions.models import Submission


class _MemberChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Submission) -> str:
        submitter = obj.team.name if obj.team is not None else obj.creator.username
        means = ", ".join(f"{key} {value:.3f}" for key, value in list(obj.metrics_mean.items())[:2])
        return f"{submitter}, algorithm submission {obj.pk} ({obj.created_at:%Y-%m-%d}; {means})"


class EnsembleForm(forms.Form):
    """A new ensemble of the phase: its members (the top three of the leaderboard ticked at first) and
    its fusion rule."""

    members = _MemberChoice(
        queryset=Submission.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Succeeded algorithm submissions of this phase; their stored outputs are fused, none runs again."
        ),
    )
    rule = forms.ChoiceField(choices=Ensemble.Rule.choices, initial=Ensemble.Rule.MAJORITY_VOTE)

    def __init__(self, *args: object, phase: Phase, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # Django's Form takes these as it likes
        self.fields["members"].queryset = (  # type: ignore[attr-defined]  # a ModelMultipleChoiceField
            Submission.objects.filter(
                phase=phase, kind=Submission.Kind.ALGORITHM, status=Submission.Status.SUCCEEDED
            )
            .select_related("team", "creator")
            .order_by("-created_at")
        )
