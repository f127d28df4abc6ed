"""Leaderboard pages: the ranking with its stability plots, per-case scores, a submission's volume plots,
the organizers' exports and their ensembles of submissions. Every page reads stored ranks; none computes
them.

The pages are public where the leaderboard is. What a person may not see is refused: an anonymous
visitor is sent to log in (an organizer may see it), anyone else gets 403; another team's submission is
a 404, as if it did not exist.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString, mark_safe

from evaluation import plots
from evaluation.biomarkers import BlandAltman, IntraclassCorrelation, bland_altman, icc_agreement
from evaluation.profiles import PREDICTED_VOLUME, REFERENCE_VOLUME
from portal.challenges.models import Phase
from portal.leaderboards import biomarkers, ensembles, selectors, services, subgroups
from portal.leaderboards.forms import EnsembleForm
from portal.leaderboards.models import Ensemble, LeaderboardEntry
from portal.leaderboards.selectors import LeaderboardAccess, entry_submitter_name
from portal.submissions.models import Submission
from portal.submissions.selectors import phase_case_results_incomplete, phase_ground_truth_switch_latest
from portal.submissions.services import phase_results_complete

PLOTTED_ENTRIES = 30
"""The rank-stability plot shows the best entries only, so that it stays readable."""


@dataclass(frozen=True)
class _Row:
    entry: LeaderboardEntry
    name: str
    cells: list[Mapping[str, float | None]]
    correlations: list[Mapping[str, float | int | None] | None]


def _access_or_404(request: HttpRequest, phase_slug: str) -> LeaderboardAccess:
    try:
        return selectors.leaderboard_access_get(user=request.user, phase_slug=phase_slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such phase.") from error


def _refused(request: HttpRequest, sentence: str) -> HttpResponse:
    """An anonymous visitor is sent to log in; anyone else is refused with ``sentence`` (403)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    raise PermissionDenied(sentence)


def _columns(access: LeaderboardAccess) -> list[Mapping[str, object]]:
    return list(access.stability.columns) if access.stability is not None else []


def svg_markup(document: str) -> SafeString:
    """A plot's SVG document as markup for a template (the ensemble report's too)."""
    # The plot functions escape every piece of text they are given, so the document is safe markup.
    return mark_safe(document)


def biomarker_correlations_context(result: biomarkers.PhaseBiomarkers, *, shown: int) -> dict[str, object]:
    """The clinical correlations as the biomarkers page and the ensemble report show them: the reference's,
    each submission's beside it, and a dot plot per clinical score of the first ``shown`` submissions."""
    return {
        "reference_name": biomarkers.REFERENCE_NAME,
        "reference_correlations": [
            result.reference.correlations.get(label) for label in result.clinical_labels
        ],
        "correlation_rows": [
            (row, [row.correlations.get(label) for label in result.clinical_labels])
            for row in result.submissions
        ],
        "correlation_plots": [
            svg_markup(biomarkers.correlation_plot_svg(result=result, label=label, shown=shown))
            for label in result.clinical_labels
        ],
    }


def leaderboard_detail(request: HttpRequest, phase_slug: str) -> HttpResponse:
    """A phase's leaderboard: ranks, column means +- sd, rank stability and pairwise significance."""
    access = _access_or_404(request, phase_slug)
    context: dict[str, object] = {
        "access": access,
        "phase": access.phase,
        "basis": selectors.leaderboard_scoring_basis(phase=access.phase),
        "ground_truth_switch": phase_ground_truth_switch_latest(phase=access.phase),
    }
    if not access.leaderboard_visible:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(request, "leaderboards/leaderboard_detail.html", context, status=403)
    columns = _columns(access)
    entries = list(selectors.leaderboard_rows(phase=access.phase))
    shown = {entry.submission_id: access.correlations_shown(entry) for entry in entries}
    labels = sorted({label for correlations in shown.values() for label in correlations})
    rows = [
        _Row(
            entry=entry,
            name=entry_submitter_name(entry),
            cells=[entry.metrics.get(str(column["key"]), {}) for column in columns],
            correlations=[shown[entry.submission_id].get(label) for label in labels],
        )
        for entry in entries
    ]
    context.update(
        columns=columns,
        rows=rows,
        unranked_ensembles=[
            (ensemble, [ensemble.submission.metrics_mean.get(str(column["key"])) for column in columns])
            for ensemble in ensembles.ensemble_list_unranked(phase=access.phase)
        ],
        clinical_labels=labels,
        stability_plot=_stability_plot(rows[:PLOTTED_ENTRIES], access),
        significance_plots=_significance_plots(rows, access),
    )
    return render(request, "leaderboards/leaderboard_detail.html", context)


def _stability_plot(rows: Sequence[_Row], access: LeaderboardAccess) -> SafeString | None:
    if not rows or access.stability is None or "samples" not in access.stability.summary:
        return None
    return svg_markup(
        plots.rank_distribution_svg(
            names=[row.name for row in rows],
            rank_counts=[{int(rank): count for rank, count in row.entry.rank_counts.items()} for row in rows],
            samples=int(access.stability.summary["samples"]),
        )
    )


def _significance_plots(rows: Sequence[_Row], access: LeaderboardAccess) -> list[SafeString]:
    if access.stability is None:
        return []
    names = {row.entry.submission_id: row.name for row in rows}
    labels = {str(column["key"]): str(column["label"]) for column in access.stability.columns}
    return [
        svg_markup(
            plots.significance_matrix_svg(
                names=[names.get(pk, str(pk)) for pk in tests["submission_ids"]],
                better=tests["better"],
                p_adjusted=tests["p_adjusted"],
                metric=labels.get(tests["metric"], tests["metric"]),
            )
        )
        for tests in access.stability.summary.get("pairwise", [])
    ]


def leaderboard_cases(request: HttpRequest, phase_slug: str) -> HttpResponse:
    """Per-case scores and a box plot per column: every entry for organizers, the user's own team's
    for a participant when the phase shows per-case scores."""
    access = _access_or_404(request, phase_slug)
    if not (access.leaderboard_visible and access.case_scores_visible):
        return _refused(request, "Per-case scores of this phase are not shown to you.")
    entries = selectors.leaderboard_case_entries(access=access, user=request.user)
    case_rows = selectors.leaderboard_case_rows(entries=entries)
    columns = _columns(access)
    box_plots = [
        svg_markup(
            plots.box_plot_svg(
                title=str(column["label"]),
                groups=[
                    (
                        entry_submitter_name(entry),
                        [
                            float(row.metrics[str(column["key"])])
                            for row in case_rows
                            if row.entry is entry and str(column["key"]) in row.metrics
                        ],
                    )
                    for entry in entries[:PLOTTED_ENTRIES]
                ],
                value_label=str(column["label"]),
            )
        )
        for column in columns
    ]
    table = [
        (row, entry_submitter_name(row.entry), [row.metrics.get(str(column["key"])) for column in columns])
        for row in case_rows
    ]
    context = {
        "access": access,
        "phase": access.phase,
        "columns": columns,
        "table": table,
        "box_plots": box_plots,
        **_subgroup_context(request, access),
    }
    return render(request, "leaderboards/leaderboard_cases.html", context)


def _subgroup_context(request: HttpRequest, access: LeaderboardAccess) -> dict[str, object]:
    """The split choices, and with ``?split_by=`` (and ``metric=``) the split with a forest plot per
    submission (the best ``PLOTTED_ENTRIES``)."""
    choices = subgroups.leaderboard_split_choices(phase=access.phase)
    attribute = request.GET.get("split_by")
    if not attribute:
        return {"split_choices": choices, "split": None, "forest_plots": []}
    split = subgroups.leaderboard_subgroup_split(
        access=access,
        user=request.user,
        choices=choices,
        attribute=attribute,
        metric=request.GET.get("metric"),
    )
    forest_plots = [
        svg_markup(
            plots.forest_plot_svg(
                title=f"{submission.submission.name}: {split.metric_label} by {split.attribute_label}",
                subgroups=submission.subgroups,
                overall_mean=submission.overall_mean,
                value_label=split.metric_label,
            )
        )
        for submission in (split.submissions[:PLOTTED_ENTRIES] if split is not None else [])
    ]
    return {"split_choices": choices, "split": split, "forest_plots": forest_plots}


def leaderboard_biomarkers(request: HttpRequest, phase_slug: str) -> HttpResponse:
    """Lesion volume and lesion count as biomarkers: per compared submission (entries and, for
    organizers, unranked ensembles) and the reference annotation, their agreement and the volume's
    clinical correlations beside the reference's, with a dot plot per clinical score. Seen where the
    per-case scores are."""
    access = _access_or_404(request, phase_slug)
    if not (access.leaderboard_visible and access.case_scores_visible):
        return _refused(request, "Per-case volumes and lesion counts of this phase are not shown to you.")
    result = biomarkers.leaderboard_biomarkers(access=access, user=request.user)
    context = {
        "access": access,
        "phase": access.phase,
        "biomarkers": result,
        **biomarker_correlations_context(result, shown=PLOTTED_ENTRIES),
        "incomplete_results": (
            phase_case_results_incomplete(phase=access.phase).count() if access.is_organizer else 0
        ),
    }
    return render(request, "leaderboards/leaderboard_biomarkers.html", context)


def leaderboard_results_complete(request: HttpRequest, phase_slug: str) -> HttpResponse:
    """POST: score again the phase's results that lack their lesion counts (organizers only,
    ``phase_results_complete``); back to the biomarkers page, which shows the counts once it has run."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    access = _access_or_404(request, phase_slug)
    if not access.is_organizer:
        return _refused(request, "Only the challenge's organizers have its results scored again.")
    count = phase_results_complete(phase=access.phase, user=request.user)
    messages.success(
        request,
        f"{count} case result{'s' if count != 1 else ''} will be scored again in the background; their "
        "lesion counts appear here once the re-scoring has run.",
    )
    return redirect("leaderboard-biomarkers", phase_slug=access.phase.slug)


def leaderboard_submission(request: HttpRequest, phase_slug: str, submission_id: int) -> HttpResponse:
    """One submission's volumes: predicted vs reference scatter, Bland-Altman plot, clinical correlation."""
    access = _access_or_404(request, phase_slug)
    submission = Submission.objects.filter(
        pk=submission_id, phase=access.phase, status=Submission.Status.SUCCEEDED
    ).first()
    if submission is None:
        raise Http404("No such submission.")
    if not selectors.submission_case_scores_visible(access=access, user=request.user, submission=submission):
        if selectors.submission_is_own(phase=access.phase, user=request.user, submission=submission):
            raise PermissionDenied("Per-case scores and volumes of this phase are not shown to you.")
        raise Http404("No such submission.")
    results = submission.case_results.filter(ground_truth_version=access.phase.ground_truth_version)
    points = [
        (
            result.case.name,
            float(result.metrics[REFERENCE_VOLUME]),
            float(result.metrics[PREDICTED_VOLUME]),
        )
        for result in results.select_related("case").order_by("case__name")
        if REFERENCE_VOLUME in result.metrics and PREDICTED_VOLUME in result.metrics
    ]
    entry = LeaderboardEntry.objects.filter(phase=access.phase, submission=submission).first()
    context = {
        "access": access,
        "phase": access.phase,
        "submission": submission,
        "entry": entry,
        "correlations": {} if entry is None else access.correlations_shown(entry),
        "points": points,
        "scatter": svg_markup(plots.volume_scatter_svg(points=points)) if points else None,
        "bland_altman": svg_markup(plots.bland_altman_svg(points=points)) if points else None,
        "agreement": _volume_agreement(points),
    }
    return render(request, "leaderboards/leaderboard_submission.html", context)


@dataclass(frozen=True)
class _VolumeAgreement:
    icc: IntraclassCorrelation
    bland_altman: BlandAltman


def _volume_agreement(points: Sequence[tuple[str, float, float]]) -> _VolumeAgreement | None:
    """ICC(A,1) and the Bland-Altman bias and limits of the predicted volumes against the reference's;
    None under two cases, where neither has a spread to estimate."""
    if len(points) < 2:
        return None
    references = [reference for _, reference, _ in points]
    predictions = [predicted for _, _, predicted in points]
    return _VolumeAgreement(
        icc=icc_agreement(list(zip(references, predictions, strict=True))),
        bland_altman=bland_altman(references, predictions),
    )


def leaderboard_export(request: HttpRequest, phase_slug: str, table: str, file_format: str) -> HttpResponse:
    """Download the leaderboard or its per-case scores as CSV or JSON (organizers only)."""
    access = _access_or_404(request, phase_slug)
    if not access.is_organizer:
        return _refused(request, "Only the challenge's organizers may export its results.")
    if table not in services.EXPORT_TABLES or file_format not in ("csv", "json"):
        raise Http404("No such export.")
    export = services.leaderboard_export(phase=access.phase, table=table, file_format=file_format)  # type: ignore[arg-type]  # checked above
    return export_response(export)


def export_response(export: services.Export) -> HttpResponse:
    """An export as a file download."""
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


ORGANIZERS_ONLY = "Only the challenge's organizers build and read ensembles of its submissions."


def ensemble_create(request: HttpRequest, phase_slug: str) -> HttpResponse:
    """The form that builds an ensemble of the phase's algorithm submissions (organizers only): the
    leaderboard's top three ticked at first, the majority vote chosen."""
    access = _access_or_404(request, phase_slug)
    if not access.is_organizer:
        return _refused(request, ORGANIZERS_ONLY)
    phase = access.phase
    if request.method == "POST":
        form = EnsembleForm(request.POST, phase=phase)
        if form.is_valid():
            members = [submission.pk for submission in form.cleaned_data["members"]]
            try:
                ensemble = ensembles.ensemble_create(
                    phase=phase, user=request.user, members=members, rule=form.cleaned_data["rule"]
                )
            except ensembles.EnsembleRefused as refused:
                form.add_error(None, refused.sentence)
            else:
                return redirect("ensemble-detail", phase_slug=phase.slug, ensemble_id=ensemble.pk)
    else:
        form = EnsembleForm(
            phase=phase, initial={"members": ensembles.ensemble_top_members(phase=phase, count=3)}
        )
    context = {
        "access": access,
        "phase": phase,
        "form": form,
        "ensembles": ensembles.ensemble_list(phase=phase),
    }
    return render(request, "leaderboards/ensemble_create.html", context, status=400 if form.errors else 200)


def ensemble_detail(request: HttpRequest, phase_slug: str, ensemble_id: int) -> HttpResponse:
    """An ensemble's members and rule, its build, the members without an output per case, and the
    members' and the ensemble's per-case scores of one metric side by side with the paired test of the
    ensemble against its best member (organizers only; ``?metric=`` picks the leaderboard column)."""
    access = _access_or_404(request, phase_slug)
    if not access.is_organizer:
        return _refused(request, ORGANIZERS_ONLY)
    ensemble = _ensemble_of_phase(request, access, ensemble_id)
    try:
        comparison = ensembles.ensemble_comparison(ensemble=ensemble, metric_key=request.GET.get("metric"))
    except LookupError as error:
        raise Http404("No such column.") from error
    context = {
        "access": access,
        "phase": access.phase,
        "ensemble": ensemble,
        "submission": ensemble.submission,
        "members": ensembles.ensemble_members(ensemble=ensemble),
        "comparison": comparison,
        "columns": services.leaderboard_columns_ensure(phase=access.phase),
        "masks_with_missing": [mask for mask in ensemble.masks.select_related("case") if mask.notes],
        "validation_phases": ensembles.ensemble_validation_phases(ensemble=ensemble),
    }
    return render(request, "leaderboards/ensemble_detail.html", context)


def ensemble_ranking(request: HttpRequest, phase_slug: str, ensemble_id: int) -> HttpResponse:
    """POST: rank the ensemble on the leaderboard (``is_ranked=on``) or list it unranked (organizers)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    access = _access_or_404(request, phase_slug)
    if not access.is_organizer:
        return _refused(request, ORGANIZERS_ONLY)
    ensemble = _ensemble_of_phase(request, access, ensemble_id)
    is_ranked = request.POST.get("is_ranked") == "on"
    ensembles.ensemble_ranked_set(ensemble=ensemble, user=request.user, is_ranked=is_ranked)
    messages.success(
        request,
        "The ensemble is ranked on the leaderboard."
        if is_ranked
        else "The ensemble is listed without a rank.",
    )
    return redirect("ensemble-detail", phase_slug=access.phase.slug, ensemble_id=ensemble.pk)


def _ensemble_of_phase(request: HttpRequest, access: LeaderboardAccess, ensemble_id: int) -> Ensemble:
    try:
        ensemble = ensembles.ensemble_get_for_organizer(user=request.user, ensemble_id=ensemble_id)
    except Ensemble.DoesNotExist as error:
        raise Http404("No such ensemble.") from error
    if ensemble.submission.phase_id != access.phase.pk:
        raise Http404("No such ensemble.")
    return ensemble
