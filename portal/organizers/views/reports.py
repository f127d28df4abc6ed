"""An ensemble's report (``organizers.ensemble_report``): the page, and the same report as one
self-contained HTML file to download.

Why HTML and not a PDF: a PDF made on the server needs a layout engine (WeasyPrint and its Pango and
Cairo libraries, or a headless browser) in every web container, for one page an organizer downloads now
and then. The export is one file with its styles and plots inline (SVG) and a print stylesheet, so any
browser's "Print > Save as PDF" makes a clean PDF of it, and it opens without the portal.

Who sees it: the ensemble page's rule. An anonymous visitor is sent to log in, anyone who is not an
organizer of the challenge is refused (403), and an ensemble of another phase or challenge is a 404.
"""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.views.decorators.http import require_safe

from evaluation import plots
from portal.challenges.models import Phase
from portal.leaderboards import ensembles
from portal.leaderboards.models import Ensemble
from portal.leaderboards.selectors import leaderboard_access_get
from portal.leaderboards.subgroups import SubgroupSplit
from portal.leaderboards.views import biomarker_correlations_context, svg_markup
from portal.organizers.ensemble_report import EnsembleReport, ensemble_report

ORGANIZERS_ONLY = "Only the challenge's organizers read the reports of its ensembles."


def _ensemble_or_refused(request: HttpRequest, phase_slug: str, ensemble_id: int) -> Ensemble:
    """The ensemble of the phase, for an organizer of its challenge; 404 for a phase the user may not
    see or an ensemble that is not the phase's, 403 for anyone else."""
    try:
        access = leaderboard_access_get(user=request.user, phase_slug=phase_slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such phase.") from error
    if not access.is_organizer:
        raise PermissionDenied(ORGANIZERS_ONLY)
    try:
        ensemble = ensembles.ensemble_get_for_organizer(user=request.user, ensemble_id=ensemble_id)
    except Ensemble.DoesNotExist as error:
        raise Http404("No such ensemble.") from error
    if ensemble.submission.phase_id != access.phase.pk:
        raise Http404("No such ensemble.")
    return ensemble


@dataclass(frozen=True)
class _SplitPlots:
    split: SubgroupSplit
    forest_plots: list[SafeString]


def _context(report: EnsembleReport) -> dict[str, object]:
    """The report and its plots: a forest plot per compared submission and attribute, the ensemble's
    Bland-Altman plot of lesion volumes, and a dot plot of the volume's correlations per clinical score."""
    result = report.biomarkers
    ensemble_cases = result.submissions[0].cases if result.submissions else []
    reference = {case.case: case.volume_ml for case in result.reference.cases}
    points = [
        (case.case, reference[case.case], case.volume_ml) for case in ensemble_cases if case.case in reference
    ]
    return {
        "report": report,
        "phase": report.phase,
        "ensemble": report.ensemble,
        "submission": report.ensemble.submission,
        "split_plots": [
            _SplitPlots(
                split=split,
                forest_plots=[
                    svg_markup(
                        plots.forest_plot_svg(
                            title=f"{row.submission.name}: {split.metric_label} by {split.attribute_label}",
                            subgroups=row.subgroups,
                            overall_mean=row.overall_mean,
                            value_label=split.metric_label,
                        )
                    )
                    for row in split.submissions
                ],
            )
            for split in report.subgroups.splits
        ],
        "bland_altman": svg_markup(plots.bland_altman_svg(points=points)) if points else None,
        **biomarker_correlations_context(result, shown=len(result.submissions)),
    }


@login_required
@require_safe
def ensemble_report_view(request: HttpRequest, phase_slug: str, ensemble_id: int) -> HttpResponse:
    """The ensemble's report: members and rule, scores with intervals and the test against the best
    member, external validation, subgroup forest plots, biomarkers and the reader studies' verdicts."""
    ensemble = _ensemble_or_refused(request, phase_slug, ensemble_id)
    return render(request, "organizers/ensemble_report.html", _context(ensemble_report(ensemble=ensemble)))


@login_required
@require_safe
def ensemble_report_export_view(request: HttpRequest, phase_slug: str, ensemble_id: int) -> HttpResponse:
    """The same report as one self-contained HTML file (styles and plots inline, nothing fetched from the
    portal or elsewhere), downloaded; printed from a browser it makes the PDF."""
    ensemble = _ensemble_or_refused(request, phase_slug, ensemble_id)
    document = render_to_string(
        "organizers/ensemble_report_export.html", _context(ensemble_report(ensemble=ensemble))
    )
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    filename = f"{phase_slug}-ensemble-{ensemble.pk}-report.html"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
