"""Read-only pages over datasets: the cases of a dataset split and the download of one image file.

Who may see what is decided in ``portal.datasets.selectors``; ground truth has no view at all.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from portal.challenges.selectors import challenge_list_visible_to
from portal.datasets.models import Dataset, Image, Split
from portal.datasets.selectors import (
    case_list_with_images,
    cases_visible_to,
    dataset_split_visible,
    image_can_download,
)


def image_file_response(*, request: HttpRequest, image: Image) -> HttpResponse:
    """Send an image file (the caller has checked the permission), or 304 when the client has it.

    The ETag is the file's sha256, so a client that already holds the bytes downloads nothing.
    """
    etag = f'"{image.sha256}"'
    held = {tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")}
    if etag in held or "*" in held:
        response: HttpResponse = HttpResponseNotModified()
    else:
        filename = f"{image.case.name}_{image.interface}.nii.gz"
        response = FileResponse(image.file.open("rb"), as_attachment=True, filename=filename)
        response["Content-Type"] = "application/gzip"
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
    cases = case_list_with_images(
        cases=cases_visible_to(user=request.user).filter(dataset=dataset, split=split_value)
    )
    context = {"dataset": dataset, "split_label": Split(split_value).label, "cases": cases}
    return render(request, "datasets/case_list.html", context)


@login_required
@require_safe
def image_download(request: HttpRequest, pk: int) -> HttpResponse:
    """Download one image file the user may see; any other image is not found."""
    image = get_object_or_404(Image.objects.select_related("case"), pk=pk)
    if not image_can_download(user=request.user, image=image):
        raise Http404("No such image.")
    return image_file_response(request=request, image=image)
