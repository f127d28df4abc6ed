"""The phase editor: one page creates or edits a phase, its leaderboard (rules and columns) and, for an
algorithm phase, its sandbox.

The page parses; the rules are the domain services' (``challenges.services.phase_create`` and
``phase_update``, ``submissions.services.phase_submission_kind_set`` and ``phase_scoring_set``,
``leaderboards.services.leaderboard_settings_update`` and ``leaderboard_columns_set``,
``algorithms.services.algorithm_settings_update``), composed here in one transaction: every service
runs, the sentences of all that refuse are shown beside their fields, and nothing is saved unless all
agree. A change that re-scores submissions or re-ranks the leaderboard is first saved and rolled back to
say what it does, with counts; it is saved only once the organizer ticks the confirmation. Only the
challenge's organizers open it (``access.challenge_organized_or_refused``).
"""

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.forms import BaseFormSet, Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from evaluation.profiles import PROFILES, profile_with_volumes
from portal.algorithms.models import AlgorithmSettings
from portal.algorithms.selectors import algorithm_settings_get
from portal.algorithms.services import Sandbox, algorithm_settings_update
from portal.challenges.models import Challenge, Phase
from portal.challenges.services import PhaseFields, phase_create, phase_update
from portal.datasets.selectors import dataset_ground_truth_version_list
from portal.leaderboards.models import LeaderboardSettings
from portal.leaderboards.selectors import leaderboard_rows
from portal.leaderboards.services import (
    LeaderboardRules,
    leaderboard_column_specs,
    leaderboard_columns_set,
    leaderboard_reranking_changes,
    leaderboard_settings_update,
)
from portal.organizers.forms.phases import (
    TIME_FIELDS,
    ColumnForm,
    ColumnFormSet,
    ConfirmForm,
    LeaderboardForm,
    PhaseForm,
    SandboxForm,
)
from portal.organizers.views.access import challenge_organized_or_refused
from portal.submissions.selectors import phase_submission_count_scored
from portal.submissions.services import (
    PhaseScoring,
    phase_scoring_changes,
    phase_scoring_set,
    phase_submission_kind_set,
)

T = TypeVar("T")
SCORING_WORDS = {
    "dataset": "the dataset",
    "split": "the split",
    "ground_truth_version": "the ground-truth version",
    "metric_profile": "the metric profile",
}


@dataclass
class _Forms:
    phase: PhaseForm
    leaderboard: LeaderboardForm
    columns: BaseFormSet
    sandbox: SandboxForm
    confirm: ConfirmForm
    column_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def is_algorithm(self) -> bool:
        kind = self.phase["submission_kind"].value()
        return bool(kind == Phase.SubmissionKind.ALGORITHM)

    def are_valid(self) -> bool:
        forms: list[Form] = [self.phase, self.leaderboard, self.confirm]
        if self.is_algorithm:
            forms.append(self.sandbox)
        valid = [form.is_valid() for form in forms] + [self.columns.is_valid()]
        return all(valid)

    def place(self, error: ValidationError) -> None:
        """Show each of the services' sentences beside its field, or above the columns or the page."""
        for name, errors in error.error_dict.items():
            form = next(
                (form for form in (self.phase, self.leaderboard, self.sandbox) if name in form.fields), None
            )
            if form is not None:
                form.add_error(name, errors)
            elif name == "columns":
                self.column_errors += [message for item in errors for message in item.messages]
            else:
                self.page_errors += [message for item in errors for message in item.messages]


class _Errors:
    """Runs each service in its own savepoint and gathers the sentences of those that refuse."""

    def __init__(self) -> None:
        self.found: dict[str, list[ValidationError]] = {}

    def collect(self, service: Callable[[], T]) -> T | None:
        try:
            with transaction.atomic():
                return service()
        except ValidationError as error:
            items = error.error_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.error_list}
            for name, errors in items.items():
                self.found.setdefault(name, []).extend(errors)
            return None

    def raise_any(self) -> None:
        if self.found:
            raise ValidationError(self.found)


class _Unconfirmed(Exception):
    """The change re-scores or re-ranks and the organizer has not confirmed it: roll back and say so."""

    def __init__(self, notices: list[str]) -> None:
        super().__init__(" ".join(notices))
        self.notices = notices


def _phase_fields(data: Mapping[str, Any]) -> PhaseFields:
    return PhaseFields(
        title=data["title"],
        slug=data["slug"],
        description=data["description"],
        opens_at=data["opens_at"],
        closes_at=data["closes_at"],
        daily_submission_limit=data["daily_submission_limit"],
        total_submission_limit=data["total_submission_limit"],
        team_freeze_at=data["team_freeze_at"],
        upload_max_mb=data["upload_max_mb"],
        is_validation=data["is_validation"],
    )


def _notices(*, phase: Phase, scoring: PhaseScoring, rules: LeaderboardRules, forms: _Forms) -> list[str]:
    """What the change re-scores and re-ranks, in sentences with counts, read before it is applied."""
    notices = []
    rescored = phase_scoring_changes(phase=phase, scoring=scoring)
    scored = phase_submission_count_scored(phase=phase)
    if rescored and scored:
        what = ", ".join(SCORING_WORDS[name] for name in rescored)
        plural = "submission" if scored == 1 else "submissions"
        notices.append(
            f"This re-scores {scored} {plural}: {what} changes, so every scored submission is scored again "
            "and the leaderboard is rebuilt from the new scores."
        )
    columns = [form.spec() for form in _column_forms(forms)]
    reranks = leaderboard_reranking_changes(phase=phase, rules=rules, columns=columns)
    entries = leaderboard_rows(phase=phase).count()
    if reranks and entries:
        plural = "entry" if entries == 1 else "entries"
        notices.append(f"This re-ranks the leaderboard's {entries} {plural}: {', '.join(reranks)} changes.")
    return notices


def _deleted(form: ColumnForm) -> bool:
    return bool(form.cleaned_data.get("DELETE"))


def _column_forms(forms: _Forms) -> list[ColumnForm]:
    """The column rows that name a column: filled in and not marked for deletion."""
    return [form for form in forms.columns if form.cleaned_data and not _deleted(form)]


def _save(*, request: HttpRequest, challenge: Challenge, phase: Phase | None, forms: _Forms) -> Phase:
    """Run every service in the caller's transaction; raise their sentences, or ``_Unconfirmed``."""
    data = forms.phase.cleaned_data
    fields = _phase_fields(data)
    scoring = PhaseScoring(
        dataset=data["dataset"],
        split=data["split"],
        ground_truth_version=data["ground_truth_version"],
        metric_profile=data["metric_profile"],
    )
    rules = LeaderboardRules(**forms.leaderboard.cleaned_data)
    errors = _Errors()
    if phase is None:
        phase = errors.collect(
            lambda: phase_create(
                challenge=challenge, fields=fields, submission_kind=data["submission_kind"], **vars(scoring)
            )
        )
        if phase is None:
            errors.raise_any()
        notices: list[str] = []
    else:
        saved = phase
        errors.collect(
            lambda: phase_submission_kind_set(phase=saved, submission_kind=data["submission_kind"])
        )
        errors.collect(lambda: phase_update(phase=saved, fields=fields))
        notices = _notices(phase=phase, scoring=scoring, rules=rules, forms=forms)
    assert phase is not None
    created = phase
    errors.collect(lambda: phase_scoring_set(phase=created, scoring=scoring, user=request.user))
    errors.collect(lambda: leaderboard_settings_update(phase=created, rules=rules))
    columns = [form.spec() for form in _column_forms(forms)]
    errors.collect(lambda: leaderboard_columns_set(phase=created, columns=columns))
    if forms.is_algorithm:
        sandbox = Sandbox(**forms.sandbox.cleaned_data)
        errors.collect(lambda: algorithm_settings_update(phase=created, sandbox=sandbox))
    errors.raise_any()
    if notices and not forms.confirm.cleaned_data["confirm"]:
        raise _Unconfirmed(notices)
    return phase


def _unbound(*, challenge: Challenge, phase: Phase | None) -> _Forms:
    if phase is None:
        defaults = Phase(challenge=challenge)
        phase_initial: dict[str, object] = {
            name: getattr(defaults, name)
            for name in (
                "daily_submission_limit",
                "total_submission_limit",
                "upload_max_mb",
                "metric_profile",
            )
        }
        phase_initial |= {
            "submission_kind": Phase.SubmissionKind.PREDICTIONS,
            "ground_truth_version": 1,
            "time_zone": challenge.time_zone,
            "split": "TEST",
        }
        leaderboard = LeaderboardSettings()
        sandbox = AlgorithmSettings()
    else:
        phase_initial = PhaseForm.initial_of(phase, zone_name=challenge.time_zone)
        leaderboard = LeaderboardSettings.objects.filter(phase=phase).first() or LeaderboardSettings()
        sandbox = algorithm_settings_get(phase=phase)
    profile = str(phase_initial["metric_profile"])
    columns = leaderboard_column_specs(phase=phase, metric_profile=profile)
    return _Forms(
        phase=PhaseForm(challenge=challenge, initial=phase_initial),
        leaderboard=LeaderboardForm(
            initial={name: getattr(leaderboard, name) for name in LeaderboardForm.base_fields}
        ),
        columns=ColumnFormSet(
            initial=[ColumnForm.initial_of(column) for column in columns], prefix="columns"
        ),
        sandbox=SandboxForm(initial=SandboxForm.initial_of(sandbox)),
        confirm=ConfirmForm(),
    )


def _bound(request: HttpRequest, *, challenge: Challenge) -> _Forms:
    return _Forms(
        phase=PhaseForm(request.POST, challenge=challenge),
        leaderboard=LeaderboardForm(request.POST),
        columns=ColumnFormSet(request.POST, prefix="columns"),
        sandbox=SandboxForm(request.POST),
        confirm=ConfirmForm(request.POST),
    )


def _utc_times(forms: _Forms, phase: Phase | None) -> dict[str, str]:
    """Each time of the phase in UTC: as typed, once it reads, else as stored."""
    cleaned = getattr(forms.phase, "cleaned_data", None) or {}
    times: dict[str, str] = {}
    for name in TIME_FIELDS:
        moment = cleaned.get(name) if name in cleaned else getattr(phase, name, None)
        if isinstance(moment, datetime.datetime):
            times[name] = f"{moment.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"
    return times


def _page(
    request: HttpRequest, *, challenge: Challenge, phase: Phase | None, forms: _Forms, notices: list[str]
) -> HttpResponse:
    utc_times = _utc_times(forms, phase)
    context = {
        "challenge": challenge,
        "phase": phase,
        "forms": forms,
        "phase_rows": [(forms.phase[name], utc_times.get(name)) for name in forms.phase.fields],
        "notices": notices,
        "profile_metrics": [(name, profile_with_volumes(name=name).metric_keys) for name in sorted(PROFILES)],
        "versions": [
            (dataset, [version.number for version in dataset_ground_truth_version_list(dataset=dataset)])
            for dataset in challenge.datasets.order_by("slug")
        ],
    }
    return render(request, "organizers/phase_edit.html", context)


def _editor(request: HttpRequest, *, challenge: Challenge, phase: Phase | None) -> HttpResponse:
    if request.method != "POST":
        return _page(
            request,
            challenge=challenge,
            phase=phase,
            forms=_unbound(challenge=challenge, phase=phase),
            notices=[],
        )
    forms = _bound(request, challenge=challenge)
    notices: list[str] = []
    if forms.are_valid():
        try:
            with transaction.atomic():
                saved = _save(request=request, challenge=challenge, phase=phase, forms=forms)
        except _Unconfirmed as unconfirmed:
            notices = unconfirmed.notices
        except ValidationError as error:
            forms.place(error)
        else:
            messages.success(request, f"{saved.title} is saved.")
            return redirect("organizer-phase-edit", slug=challenge.slug, phase_slug=saved.slug)
        if phase is not None:
            phase.refresh_from_db()  # the services changed it in memory before the rollback
    return _page(request, challenge=challenge, phase=phase, forms=forms, notices=notices)


@login_required
def phase_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    """A new phase of the challenge, with its leaderboard and, for algorithms, its sandbox."""
    return _editor(request, challenge=challenge_organized_or_refused(request, slug), phase=None)


@login_required
def phase_edit_view(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponse:
    """One phase of the challenge, its leaderboard and, for algorithms, its sandbox."""
    challenge = challenge_organized_or_refused(request, slug)
    phase = get_object_or_404(Phase, challenge=challenge, slug=phase_slug)
    return _editor(request, challenge=challenge, phase=phase)
