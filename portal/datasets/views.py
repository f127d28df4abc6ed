"""Read-only pages over datasets: the cases of a dataset split, one case in the viewer with its reference
mask as an overlay where the user may see it, and the download of one image or mask file (as a file named
as the release names it, or as a volume for the viewer). A download answers a single byte range
(``Range: bytes=N-`` or ``bytes=N-M``) with 206, so a cut download goes on where it stopped.

Who may see what is decided in ``portal.datasets.selectors``: a hidden test case's mask reaches organizers
only.
"""

from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods, require_safe

from evaluation.io import GZIP_MAGIC
from inference.parameter_maps import PARAMETER_MAPS, parameter_map_of
from portal.challenges.models import Split
from portal.challenges.selectors import challenge_list_visible_to
from portal.datasets.models import Case, Dataset, GroundTruth, Image
from portal.datasets.selectors import (
    case_get_visible_to,
    case_ground_truth_visible,
    case_list_with_files,
    cases_visible_to,
    cases_with_outcome_visibility,
    data_card_get,
    data_terms_accepted,
    data_terms_require,
    dataset_split_visible,
    ground_truth_can_download,
    ground_truths_visible_to,
    image_can_download,
)
from portal.datasets.services import data_terms_accept
from portal.downloads import private_file_response
from portal.errors import PortalError

# The viewer pages load no script or style from elsewhere and run no inline script; NiiVue draws its
# font from a data: image.
VIEWER_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'"
)

# How each kind of image is first shown: a label, a colormap, and whether CT window presets apply.
# Keys are interface slugs without their "preprocessed-" prefix: the contract names a raw map
# "tmax-parameter-map" and the registered one "preprocessed-tmax-map", both shown as Tmax. A perfusion
# map's label and colormap are inference.parameter_maps's.
_IMAGE_DISPLAY: dict[str, tuple[str, str, bool]] = {
    "non-contrast-ct": ("NCCT", "gray", True),
    "ct-angiography": ("CTA", "gray", True),
    "perfusion-ct": ("CTP", "gray", True),
    **{
        f"{name}-{suffix}": (parameter_map.label, parameter_map.colormap, False)
        for name, parameter_map in PARAMETER_MAPS.items()
        for suffix in ("map", "parameter-map")
    },
    "follow-up-dwi": ("DWI (follow-up)", "gray", False),
    "follow-up-adc": ("ADC (follow-up)", "gray", False),
}
_DISPLAY_ORDER = list(_IMAGE_DISPLAY)


@dataclass(frozen=True)
class ViewerImage:
    """One image as the viewer page receives it (as JSON): where to fetch it and how to show it first."""

    url: str
    name: str
    label: str
    colormap: str
    is_ct: bool
    # A perfusion map's quantity, unit and display range (inference.parameter_maps); None for other images.
    parameter_map: dict[str, object] | None = None


def _display_of(interface: str) -> tuple[str, str, bool]:
    return _IMAGE_DISPLAY.get(interface.lower().removeprefix("preprocessed-"), (interface, "gray", False))


def image_label(*, interface: str) -> str:
    """What an image of ``interface`` is, as a reader names it: "NCCT", "Tmax (in NCCT space)"."""
    label = _display_of(interface)[0]
    return f"{label} (in NCCT space)" if interface.startswith("preprocessed-") else label


def viewer_image_of(*, interface: str, url: str, name: str) -> ViewerImage:
    """How every viewer page shows an image of ``interface`` fetched from ``url`` (``name``: a file name
    with its extension, for NiiVue): the case viewer, the review and the annotation page alike."""
    _, colormap, is_ct = _display_of(interface)
    parameter_map = parameter_map_of(interface)
    return ViewerImage(
        url=url,
        name=name,
        label=image_label(interface=interface),
        colormap=colormap,
        is_ct=is_ct,
        parameter_map=None if parameter_map is None else asdict(parameter_map),
    )


def viewer_image(*, image: Image) -> ViewerImage:
    """The viewer's description of a case's image, fetched through the permission-checked download URL."""
    return viewer_image_of(
        interface=image.interface,
        url=reverse("image-volume", args=[image.pk]),
        name=f"{image.interface}.nii.gz",
    )


def viewer_render(
    request: HttpRequest, template_name: str, context: dict[str, Any], *, viewer_data: object
) -> HttpResponse:
    """Render a viewer page with its data for the scripts as JSON and its Content-Security-Policy."""
    response = render(request, template_name, {**context, "viewer_data": viewer_data})
    response["Content-Security-Policy"] = VIEWER_CONTENT_SECURITY_POLICY
    return response


def client_holds(*, request: HttpRequest, etag: str) -> bool:
    """Whether the request's If-None-Match names this ETag (weak or strong) or any (``*``)."""
    held = {tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")}
    return etag in held or "*" in held


def volume_response(volume: bytes | FieldFile, *, cache_control: str | None = None) -> HttpResponse:
    """A NIfTI volume for the viewer, with no file name. A gzipped one is sent as it is stored, declared
    ``Content-Encoding: gzip``: the browser's network stack then inflates it on its own thread, where
    NiiVue would inflate it on the page's, in the way of the first frame (about 0.1 s for a full-size CT).
    Only the viewer's URLs answer this way: a script that downloads a ``.nii.gz`` would store it inflated.
    """
    if isinstance(volume, bytes):
        head = volume[:2]
        response: HttpResponse = HttpResponse(volume)
    else:
        handle = volume.open("rb")
        head = handle.read(2)
        handle.seek(0)
        response = FileResponse(handle)
        # FileResponse names the download after the stored file, which would tell a blinded reader which
        # of two masks is which (their stored names differ).
        del response["Content-Disposition"]
    response["Content-Type"] = "application/octet-stream"
    if head == GZIP_MAGIC:
        response["Content-Encoding"] = "gzip"
    if cache_control is not None:
        response["Cache-Control"] = cache_control
    return response


def image_file_response(*, request: HttpRequest, image: Image, for_viewer: bool = False) -> HttpResponse:
    """Send an image file (the caller has checked the permission), or 304 when the client has it; for the
    viewer as a volume (see ``volume_response``), otherwise as a ``.nii.gz`` attachment named as the
    release names it (the portal's ``<case>_<interface>.nii.gz`` when the release path is not known).

    The ETag is the file's sha256, so a client that already holds the bytes downloads nothing.
    """
    filename = PurePosixPath(image.release_path).name or f"{image.case.name}_{image.interface}.nii.gz"
    return stored_file_response(
        request=request, file=image.file, sha256=image.sha256, filename=filename, for_viewer=for_viewer
    )


def ground_truth_file_response(
    *, request: HttpRequest, ground_truth: GroundTruth, for_viewer: bool = False
) -> HttpResponse:
    """Send a reference mask (the caller has checked the permission) as ``image_file_response`` sends an
    image: named as the release names it, else ``<case>_lesion-msk.nii.gz``."""
    filename = PurePosixPath(ground_truth.release_path).name or f"{ground_truth.case.name}_lesion-msk.nii.gz"
    return stored_file_response(
        request=request,
        file=ground_truth.file,
        sha256=ground_truth.sha256,
        filename=filename,
        for_viewer=for_viewer,
    )


def stored_file_response(
    *, request: HttpRequest, file: FieldFile, sha256: str, filename: str, for_viewer: bool
) -> HttpResponse:
    """The stored file as a download: 304 when the client holds it, a redirect to the object store's
    presigned URL when it is in one, else the bytes of a single range asked for with 206 (416 when it
    starts past the end) or the whole file; always through the portal as a volume for the viewer."""
    etag = f'"{sha256}"'
    if client_holds(request=request, etag=etag):
        response: HttpResponse = HttpResponseNotModified()
    elif for_viewer:
        response = volume_response(file)
    else:
        response = private_file_response(
            request, file=file, filename=filename, content_type="application/gzip", etag=etag
        )
        if response.status_code == 302:
            return response  # to the object store's presigned URL
    response["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response


@login_required
def case_list(request: HttpRequest, challenge_slug: str, dataset_slug: str, split: str) -> HttpResponse:
    """The cases of one split of a dataset, with each image's geometry and the clinical data."""
    dataset = get_object_or_404(
        Dataset.objects.select_related("challenge"),
        slug=dataset_slug,
        challenge__slug=challenge_slug,
        challenge__in=challenge_list_visible_to(user=request.user),
    )
    split_value = split.upper()
    if split_value not in Split.values:
        raise Http404("No such split.")
    if not dataset_split_visible(user=request.user, dataset=dataset, split=split_value):
        raise PermissionDenied("You may not see these cases.")
    cases = case_list_with_files(
        cases=cases_with_outcome_visibility(
            user=request.user,
            cases=cases_visible_to(user=request.user).filter(dataset=dataset, split=split_value),
        )
    )
    rows = [CaseRow(case=case, ground_truth=case_ground_truth_visible(case=case)) for case in cases]
    archive_url = reverse("api:release-archive", args=[dataset.challenge.slug])
    context = {
        "dataset": dataset,
        "split_label": Split(split_value).label,
        "cases": rows,
        "split_arg": split_value.lower(),
        "archive_url": f"{archive_url}?split={split_value.lower()}",
    }
    return render(request, "datasets/case_list.html", context)


@dataclass(frozen=True)
class CaseRow:
    """A case of the case list, with the reference mask the user may download (None: none to see)."""

    case: Case
    ground_truth: GroundTruth | None


@login_required
@require_safe
def image_download(request: HttpRequest, pk: int) -> HttpResponse:
    """Download one image file the user may see, once they accepted the challenge's data-use terms; any
    other image is not found."""
    image = _image_or_404(request, pk)
    data_terms_require(user=request.user, challenge=image.case.dataset.challenge)
    return image_file_response(request=request, image=image)


@login_required
@require_safe
def image_volume(request: HttpRequest, pk: int) -> HttpResponse:
    """One image file the user may see, as a volume for the viewer; any other image is not found."""
    return image_file_response(request=request, image=_image_or_404(request, pk), for_viewer=True)


def _image_or_404(request: HttpRequest, pk: int) -> Image:
    image = get_object_or_404(Image.objects.select_related("case__dataset__challenge"), pk=pk)
    if not image_can_download(user=request.user, image=image):
        raise Http404("No such image.")
    return image


@login_required
@require_safe
def ground_truth_download(request: HttpRequest, pk: int) -> HttpResponse:
    """Download one reference mask the user may see (a training case's, or any to an organizer); any
    other mask is not found; the challenge's data-use terms are accepted first."""
    ground_truth = _ground_truth_or_404(request, pk)
    data_terms_require(user=request.user, challenge=ground_truth.case.dataset.challenge)
    return ground_truth_file_response(request=request, ground_truth=ground_truth)


@login_required
@require_safe
def ground_truth_volume(request: HttpRequest, pk: int) -> HttpResponse:
    """One reference mask the user may see, as a volume for the viewer's overlay."""
    ground_truth = _ground_truth_or_404(request, pk)
    return ground_truth_file_response(request=request, ground_truth=ground_truth, for_viewer=True)


def _ground_truth_or_404(request: HttpRequest, pk: int) -> GroundTruth:
    ground_truth = get_object_or_404(GroundTruth.objects.select_related("case__dataset__challenge"), pk=pk)
    if not ground_truth_can_download(user=request.user, ground_truth=ground_truth):
        raise Http404("No such mask.")
    return ground_truth


def _display_rank(image: Image) -> tuple[int, str]:
    kind = image.interface.lower().removeprefix("preprocessed-")
    rank = _DISPLAY_ORDER.index(kind) if kind in _IMAGE_DISPLAY else len(_DISPLAY_ORDER)
    return rank, image.interface


@login_required
@require_safe
def case_viewer(request: HttpRequest, pk: int) -> HttpResponse:
    """Every image of one case in the browser viewer; a case the user may not see is not found."""
    try:
        case = case_get_visible_to(user=request.user, case_id=pk)
    except Case.DoesNotExist as error:
        raise Http404("No such case.") from error
    images = [viewer_image(image=image) for image in sorted(case.images.all(), key=_display_rank)]
    ground_truth = ground_truths_visible_to(user=request.user).filter(case=case).order_by("-version").first()
    overlay = None
    if ground_truth is not None:
        overlay = {
            "url": reverse("ground-truth-volume", args=[ground_truth.pk]),
            "name": "lesion-msk.nii.gz",
            "label": f"Reference lesion mask (version {ground_truth.version})",
        }
    context = {
        "case": case,
        "dataset": case.dataset,
        "split_label": Split(case.split).label,
        "overlay": overlay,
    }
    viewer_data = {"images": [asdict(i) for i in images], "overlay": overlay}
    return viewer_render(request, "viewer/case_viewer.html", context, viewer_data=viewer_data)


@require_http_methods(["GET", "HEAD", "POST"])
def data_card(request: HttpRequest, challenge_slug: str) -> HttpResponse:
    """The challenge's data card (licence, citation, modalities with their grids and spacings, cases per
    split) and its data-use terms, which a participant accepts here (POST) before the first download, with
    or without consent to reruns of their team's algorithm on validation data. Public where the challenge
    is; accepting needs a participant's login."""
    challenge = get_object_or_404(challenge_list_visible_to(user=request.user), slug=challenge_slug)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            data_terms_accept(
                user=request.user,
                challenge=challenge,
                consents_to_reruns=request.POST.get("consents") == "on",
            )
        except PortalError as refused:
            messages.error(request, refused.sentence)
        else:
            messages.success(request, "You accepted the data-use terms; the data is yours to download.")
        return redirect("data-card", challenge_slug=challenge.slug)
    context = {
        "challenge": challenge,
        "view": data_card_get(challenge=challenge),
        "accepted": data_terms_accepted(user=request.user, challenge=challenge),
    }
    return render(request, "datasets/data_card.html", context)
