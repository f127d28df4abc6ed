"""Forms of the phase editor: they parse what an organizer typed; the domain services decide.

Limits carry no minimum here, so that a value below one reaches the service whose rule refuses it with a
sentence. Times are typed as the wall clock of a time zone the organizer picks and become aware datetimes
in that zone (``PhaseForm.clean``); a time that does not exist there (the hour skipped when clocks go
forward) is refused.
"""

import zoneinfo
from functools import cache
from typing import Any

from django import forms

from portal.algorithms.models import AlgorithmSettings
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import Dataset
from portal.leaderboards.models import LeaderboardSettings
from portal.leaderboards.services import ColumnSpec
from portal.organizers.forms.wall_clock import wall_clock_times_read

TIME_FIELDS = ("opens_at", "closes_at", "team_freeze_at")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
SMALL_MAX = 32767
COUNT_MAX = 2**31 - 1


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def _local_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMAT)


class PhaseForm(forms.Form):
    """The phase's own fields and what it is scored on."""

    submission_kind = forms.ChoiceField(choices=Phase.SubmissionKind.choices, label="Participants submit")
    title = forms.CharField(max_length=200, required=False)
    slug = forms.CharField(
        max_length=64, help_text="Unique across the portal: the participant CLI names a phase by it."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        initial="UTC",
        help_text="The times below are read as the clock shows in this zone; they are stored in UTC.",
    )
    opens_at = forms.DateTimeField(label="Opens at", widget=_local_input())
    closes_at = forms.DateTimeField(
        label="Closes at", widget=_local_input(), required=False, help_text="Empty: open until you close it."
    )
    team_freeze_at = forms.DateTimeField(
        label="Teams freeze at",
        widget=_local_input(),
        required=False,
        help_text="From then on no team of the challenge changes its members. Empty: no freeze.",
    )
    daily_submission_limit = forms.IntegerField(
        max_value=SMALL_MAX, help_text="Per team (or participant without a team) per UTC day."
    )
    total_submission_limit = forms.IntegerField(
        max_value=SMALL_MAX, help_text="Per team over the whole phase."
    )
    upload_max_mb = forms.IntegerField(
        label="Largest predictions archive (MB)", max_value=COUNT_MAX, help_text="MB of 10^6 bytes."
    )
    is_validation = forms.BooleanField(
        required=False,
        label="External-validation phase",
        help_text=(
            "Its dataset is another one (e.g. a second centre's cases); it takes no submissions, you re-run "
            "chosen algorithm submissions on it, and you publish its leaderboard yourself (manually)."
        ),
    )
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    split = forms.ChoiceField(
        choices=Split.choices, help_text="The cases of the dataset the phase is scored on."
    )
    ground_truth_version = forms.IntegerField(
        min_value=0, max_value=SMALL_MAX, help_text="The number of the dataset's ground-truth version."
    )
    metric_profile = forms.ChoiceField(choices=Phase.MetricProfile.choices)

    def __init__(self, *args: Any, challenge: Challenge, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = challenge.datasets.order_by("slug")  # type: ignore[attr-defined]  # a ModelChoiceField

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        zone_name = cleaned.get("time_zone")
        if zone_name is None:
            return cleaned
        wall_clock_times_read(self, cleaned, names=TIME_FIELDS, zone=zoneinfo.ZoneInfo(zone_name))
        return cleaned

    @staticmethod
    def initial_of(phase: Phase, *, zone_name: str) -> dict[str, object]:
        """The form's initial values for an existing phase, its times on the clock of ``zone_name``."""
        zone = zoneinfo.ZoneInfo(zone_name)
        initial: dict[str, object] = {
            name: getattr(phase, name)
            for name in (
                "submission_kind",
                "title",
                "slug",
                "description",
                "daily_submission_limit",
                "total_submission_limit",
                "upload_max_mb",
                "is_validation",
                "split",
                "ground_truth_version",
                "metric_profile",
            )
        }
        initial["dataset"] = phase.dataset_id
        initial["time_zone"] = zone_name
        for name in TIME_FIELDS:
            moment = getattr(phase, name)
            initial[name] = None if moment is None else moment.astimezone(zone).strftime(LOCAL_FORMAT)
        return initial


class LeaderboardForm(forms.Form):
    """How the phase's leaderboard ranks, counts and publishes."""

    ranking_method = forms.ChoiceField(choices=LeaderboardSettings.RankingMethod.choices)
    counted_submission = forms.ChoiceField(
        choices=LeaderboardSettings.CountedSubmission.choices, label="Which submission counts"
    )
    publication = forms.ChoiceField(choices=LeaderboardSettings.Publication.choices)
    show_case_scores_to_participants = forms.BooleanField(
        required=False,
        label="Show case scores to participants",
        help_text="Each team sees its own per-case scores. Leave off for hidden test phases.",
    )


class ColumnForm(forms.Form):
    """One leaderboard column; a row left empty is no column."""

    metric_key = forms.CharField(
        max_length=64, label="Metric", help_text="A metric the phase's profile produces, e.g. dice."
    )
    label = forms.CharField(max_length=100, required=False, help_text="Empty: the profile's name for it.")
    # The initial values are the options a browser sends for the page's empty row, whose selects show
    # their first option: that row then reads as unchanged, so it adds no column and asks for nothing.
    direction = forms.ChoiceField(
        choices=[("higher", "Higher is better"), ("lower", "Lower is better")], initial="higher"
    )
    role = forms.ChoiceField(choices=[("ranked", "Ranked"), ("shown", "Shown only")], initial="ranked")
    order = forms.IntegerField(min_value=0, max_value=SMALL_MAX)

    @staticmethod
    def initial_of(column: ColumnSpec) -> dict[str, object]:
        return {
            "metric_key": column.metric_key,
            "label": column.label,
            "direction": "higher" if column.higher_is_better else "lower",
            "role": "ranked" if column.in_ranking else "shown",
            "order": column.order,
        }

    def spec(self) -> ColumnSpec:
        """The column this row describes (the form must be valid)."""
        data = self.cleaned_data
        return ColumnSpec(
            metric_key=data["metric_key"].strip(),
            label=data["label"],
            higher_is_better=data["direction"] == "higher",
            in_ranking=data["role"] == "ranked",
            order=data["order"],
        )


ColumnFormSet = forms.formset_factory(ColumnForm, extra=1, can_delete=True)


class SandboxForm(forms.Form):
    """How an algorithm phase runs its containers."""

    interface_set = forms.ChoiceField(
        choices=AlgorithmSettings.InterfaceSetName.choices,
        help_text="The inputs every container reads; every case of the phase must have its images.",
    )
    time_limit_s = forms.IntegerField(label="Time limit per case (s)", max_value=COUNT_MAX)
    memory_gb = forms.FloatField(label="Memory (GB)")
    cpus = forms.FloatField(label="CPUs")
    pids = forms.IntegerField(label="Processes and threads", max_value=COUNT_MAX)
    tmpfs_mb = forms.IntegerField(label="Writable /tmp (MB)", max_value=COUNT_MAX)
    output_max_mb = forms.IntegerField(label="Largest output (MB)", max_value=COUNT_MAX)
    image_max_gb = forms.FloatField(label="Largest image, unpacked (GB)")
    logs_visible_to_participants = forms.BooleanField(
        required=False, label="Participants read their jobs' logs", help_text="Organizers always do."
    )
    gpu = forms.BooleanField(
        required=False,
        label="GPU",
        help_text="A run gets the worker's GPU when the worker has one; off: CPUs only.",
    )

    @staticmethod
    def initial_of(settings: AlgorithmSettings) -> dict[str, object]:
        return {name: getattr(settings, name) for name in SandboxForm.base_fields}


class ConfirmForm(forms.Form):
    """The organizer's yes to a change that re-scores or re-ranks."""

    confirm = forms.BooleanField(required=False, label="Save, and re-score or re-rank as said above")
