"""Annotation campaign pages: organizers create a campaign, follow it, read the agreement, look at a case's
consensus in the viewer before they promote it, promote a consensus and switch a phase to the new ground
truth; an annotator draws in a page that fetches its
assignment from the API. Every file goes through ``selectors.annotation_assignment_get`` (the annotator
or an organizer).

Whatever a user may not see is a 404, so nobody learns that a campaign or an assignment exists; anyone
but an organizer at the form that makes a campaign of a challenge they see gets a 403.
"""

from dataclasses import asdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.annotations import selectors, services
from portal.annotations.forms import AnnotationCampaignForm, ConsensusPromoteForm, PhaseGroundTruthForm
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign, CampaignCase
from portal.challenges.models import Challenge, Phase
from portal.challenges.selectors import challenge_get_visible_to
from portal.datasets.models import Image
from portal.datasets.selectors import dataset_ground_truth_version_list
from portal.datasets.views import (
    VIEWER_CONTENT_SECURITY_POLICY,
    image_label,
    viewer_image,
    viewer_render,
    volume_response,
)
from portal.submissions.services import phase_ground_truth_version_set

# An annotation's masks change with every save: each request asks the server again.
ANNOTATION_CACHE_CONTROL = "private, no-cache"


def _challenge_managed_or_refused(request: HttpRequest, challenge_slug: str) -> Challenge:
    """The challenge whose campaigns the user manages: 404 when they do not see it, 403 when they see it
    but do not organize it (before the form, which lists its cases and people)."""
    try:
        challenge = challenge_get_visible_to(user=request.user, slug=challenge_slug)
    except Challenge.DoesNotExist as error:
        raise Http404("No such challenge.") from error
    if not user_is_organizer(user=request.user, challenge=challenge):
        raise PermissionDenied("Only the organizers of the challenge make its studies and campaigns.")
    return challenge


def _campaign_or_404(request: HttpRequest, pk: int) -> AnnotationCampaign:
    try:
        return selectors.annotation_campaign_get_for_organizer(user=request.user, campaign_id=pk)
    except AnnotationCampaign.DoesNotExist as error:
        raise Http404("No such campaign.") from error


def _assignment_or_404(request: HttpRequest, pk: int) -> AnnotationAssignment:
    try:
        return selectors.annotation_assignment_get(user=request.user, assignment_id=pk)
    except AnnotationAssignment.DoesNotExist as error:
        raise Http404("No such assignment.") from error


@login_required
def campaign_create(request: HttpRequest, challenge_slug: str) -> HttpResponse:
    """The organizer's form for a new annotation campaign."""
    challenge = _challenge_managed_or_refused(request, challenge_slug)
    form = AnnotationCampaignForm(request.POST or None, request.FILES or None, challenge=challenge)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = services.annotation_campaign_create(
                created_by=request.user,
                challenge=challenge,
                dataset=data["dataset"],
                title=data["title"],
                cases=list(data["cases"]),
                images=data["images"],
                starting_mask=data["starting_mask"],
                annotators=list(data["annotators"]),
                uploaded_masks=data["uploaded_masks"],
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, "The campaign's starting masks are being prepared.")
            return redirect("annotation-campaign-detail", pk=campaign.pk)
    return render(request, "annotations/campaign_create.html", {"challenge": challenge, "form": form})


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The organizer's page: progress per annotator and case, agreement, consensus, promotion."""
    campaign = _campaign_or_404(request, pk)
    progress = selectors.annotation_campaign_progress(campaign=campaign)
    phases = Phase.objects.filter(dataset=campaign.dataset).order_by("order", "pk")
    favours = selectors.campaign_favours_sentence(
        sources=selectors.campaign_starting_mask_sources(campaign=campaign)
    )
    context = {
        "campaign": campaign,
        "progress": progress,
        "agreement": selectors.annotation_campaign_agreement(campaign=campaign),
        "favours": favours,
        "promote_form": ConsensusPromoteForm(
            annotators=User.objects.filter(pk__in=[user.pk for user in progress.annotators]),
            favours=favours is not None,
        ),
        "versions": dataset_ground_truth_version_list(dataset=campaign.dataset),
        "phases": phases,
    }
    return render(request, "annotations/campaign_detail.html", context)


def _consensus_or_404(request: HttpRequest, pk: int, case_pk: int) -> CampaignCase:
    """The campaign's case with its STAPLE consensus, for an organizer; 404 before there is one."""
    campaign = _campaign_or_404(request, pk)
    campaign_case = campaign.campaign_cases.select_related("case__dataset").filter(case_id=case_pk).first()
    if campaign_case is None or not campaign_case.consensus_mask:
        raise Http404("This case has no consensus yet: it needs two finished masks.")
    return campaign_case


@login_required
def campaign_consensus_viewer(request: HttpRequest, pk: int, case_pk: int) -> HttpResponse:
    """A case's STAPLE consensus over the images the campaign shows, in the viewer: what promotion would
    make the case's reference mask."""
    campaign_case = _consensus_or_404(request, pk, case_pk)
    campaign = campaign_case.campaign
    case = campaign_case.case
    shown = list(campaign.images)
    images = sorted(case.images.filter(interface__in=shown), key=lambda image: shown.index(image.interface))
    overlay = {
        "url": reverse("annotation-consensus-volume", args=[campaign.pk, case.pk]),
        "name": "consensus.nii.gz",
        "label": "STAPLE consensus (not promoted)",
    }
    context = {
        "case": case,
        "dataset": case.dataset,
        "split_label": case.get_split_display(),
        "overlay": overlay,
    }
    viewer_data = {"images": [asdict(viewer_image(image=image)) for image in images], "overlay": overlay}
    return viewer_render(request, "viewer/case_viewer.html", context, viewer_data=viewer_data)


@login_required
def campaign_consensus_volume(request: HttpRequest, pk: int, case_pk: int) -> HttpResponse:
    """The consensus mask file of one of the campaign's cases, for the viewer."""
    campaign_case = _consensus_or_404(request, pk, case_pk)
    return volume_response(campaign_case.consensus_mask, cache_control=ANNOTATION_CACHE_CONTROL)


@login_required
@require_POST
def campaign_promote(request: HttpRequest, pk: int) -> HttpResponse:
    """Promote the consensus (or one annotator's masks) to the dataset's next ground-truth version."""
    campaign = _campaign_or_404(request, pk)
    annotators = User.objects.filter(
        pk__in=AnnotationAssignment.objects.filter(campaign_case__campaign=campaign).values("annotator")
    )
    form = ConsensusPromoteForm(request.POST, annotators=annotators, favours=True)
    if not form.is_valid():
        messages.error(request, "Choose the consensus or one of the campaign's annotators.")
        return redirect("annotation-campaign-detail", pk=pk)
    try:
        version = services.annotation_consensus_promote(
            campaign=campaign,
            user=request.user,
            annotator=form.cleaned_data["annotator"],
            note=form.cleaned_data["note"],
            favouring_confirmed=form.cleaned_data["favouring_confirmed"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Ground truth version {version.number} of {campaign.dataset.title} is made; "
            "switch a phase to it below to re-score its submissions.",
        )
    return redirect("annotation-campaign-detail", pk=pk)


@login_required
@require_POST
def campaign_phase_version(request: HttpRequest, pk: int) -> HttpResponse:
    """Score one of the dataset's phases on another ground-truth version (which re-scores it)."""
    campaign = _campaign_or_404(request, pk)
    form = PhaseGroundTruthForm(request.POST, phases=Phase.objects.filter(dataset=campaign.dataset))
    if not form.is_valid():
        messages.error(request, "Choose a phase of this dataset and one of its ground-truth versions.")
        return redirect("annotation-campaign-detail", pk=pk)
    phase, version = form.cleaned_data["phase"], form.cleaned_data["version"]
    try:
        phase_ground_truth_version_set(phase=phase, version=version, user=request.user)
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(
            request, f"{phase.title} is now scored on version {version}; its submissions are being re-scored."
        )
    return redirect("annotation-campaign-detail", pk=pk)


@login_required
def annotation_draw(request: HttpRequest, pk: int) -> HttpResponse:
    """The drawing page of an assignment; it fetches the assignment from the API. An organizer (anyone but
    the annotator) gets the mask to look at, without the drawing tools."""
    assignment = _assignment_or_404(request, pk)
    context = {
        "assignment": assignment,
        "is_annotator": assignment.annotator_id == request.user.pk,
        "campaign": assignment.campaign_case.campaign,
        "assignment_url": reverse("api:annotation-assignment", kwargs={"pk": pk}),
        # The images after the first (the one drawn on), each shown over it on request.
        "images_on_request": [
            image_label(interface=interface) for interface in assignment.campaign_case.campaign.images[1:]
        ],
    }
    response = render(request, "annotations/annotation_draw.html", context)
    response["Content-Security-Policy"] = VIEWER_CONTENT_SECURITY_POLICY
    return response


@login_required
@require_POST
def annotation_assignment_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    """Reopen a done case from the campaign's page, with the sentence its annotator reads (the drawing page
    sends the same form to the API; both call the one service)."""
    assignment = _assignment_or_404(request, pk)
    try:
        services.annotation_assignment_reopen(
            assignment_id=assignment.pk, user=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Case {assignment.campaign_case.case.name} is reopened: {assignment.annotator.username} can "
            "change the mask and mark it done again.",
        )
    return redirect("annotation-campaign-detail", pk=assignment.campaign_case.campaign_id)


@login_required
def annotation_image(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """One of the images the campaign shows of the assignment's case."""
    assignment = _assignment_or_404(request, pk)
    try:
        image = selectors.annotation_assignment_image_get(assignment=assignment, index=index)
    except Image.DoesNotExist as error:
        raise Http404("No such image.") from error
    return volume_response(image.file, cache_control=ANNOTATION_CACHE_CONTROL)


@login_required
def annotation_starting_mask(request: HttpRequest, pk: int) -> HttpResponse:
    """The mask the assignment's case starts from."""
    campaign_case = _assignment_or_404(request, pk).campaign_case
    if not campaign_case.starting_mask:
        raise Http404("The starting mask is not ready yet.")
    return volume_response(campaign_case.starting_mask, cache_control=ANNOTATION_CACHE_CONTROL)


@login_required
def annotation_revision_file(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """One saved revision of the assignment's mask."""
    assignment = _assignment_or_404(request, pk)
    revision = assignment.revisions.filter(number=number).first()
    if revision is None:
        raise Http404("No such revision.")
    return volume_response(revision.file, cache_control=ANNOTATION_CACHE_CONTROL)
