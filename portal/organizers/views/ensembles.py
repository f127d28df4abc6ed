"""The one-step external validation of an ensemble, from the ensemble's page: POST the validation phase.

The rule is ``portal.organizers.services.ensemble_validate``; a refusal is its sentence on the portal's
error page (400). The organizer lands on the new ensemble's page, which says it waits for its members.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from portal.leaderboards.ensembles import ensemble_get_for_organizer
from portal.leaderboards.models import Ensemble
from portal.organizers.services import ensemble_validate, ensemble_validation_phase_get
from portal.organizers.views.access import challenge_organized_or_refused


@login_required
@require_POST
def ensemble_validate_view(request: HttpRequest, slug: str, ensemble_id: int) -> HttpResponse:
    """Re-run the ensemble's members on the chosen validation phase (``phase``, its slug) and make the
    ensemble of the re-runs there, built once they have all ended."""
    challenge = challenge_organized_or_refused(request, slug)
    try:
        ensemble = ensemble_get_for_organizer(user=request.user, ensemble_id=ensemble_id)
    except Ensemble.DoesNotExist as error:
        raise Http404("No such ensemble.") from error
    if ensemble.submission.phase.challenge_id != challenge.pk:
        raise Http404("No such ensemble.")
    phase = ensemble_validation_phase_get(ensemble=ensemble, slug=request.POST.get("phase", ""))
    validated = ensemble_validate(ensemble=ensemble, phase=phase, user=request.user)
    messages.success(
        request,
        f"The members of ensemble {ensemble.pk} run on {phase.title}; this ensemble of their re-runs is "
        "built once they have all ended.",
    )
    return redirect("ensemble-detail", phase_slug=phase.slug, ensemble_id=validated.pk)
