"""The challenge's data page for its organizers: import a release into a dataset (an archive the page
uploads in chunks, or a folder under the import root the site admin configured), follow an import on its
own page to the importer's report, upload a new ground-truth version of a dataset, and upload a dataset's
table of case attributes (centre, scanner...) that results can be split by.

The rules are the datasets app's services; these views parse, call them and render their sentences.
"""

import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal.challenges.models import Challenge
from portal.datasets.models import CaseAttributeTable, DatasetImport, ReleaseUpload
from portal.datasets.selectors import dataset_import_list_for_challenge, release_upload_get_for
from portal.datasets.services import (
    case_attribute_table_upload,
    dataset_get_or_create,
    dataset_import_create,
    ground_truth_version_create_from_archive,
)
from portal.organizers.forms.data import CaseAttributeTableForm, DatasetImportForm, GroundTruthUploadForm
from portal.organizers.views.access import challenge_organized_or_refused

RECENT_IMPORTS = 20


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def data_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The data page; a POST starts an import and shows it on its own page."""
    challenge = challenge_organized_or_refused(request, slug)
    form = DatasetImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dataset_import = _import_start(request, challenge=challenge, form=form)
        if dataset_import is not None:
            return redirect(
                "organizer-dataset-import-detail", slug=challenge.slug, import_id=dataset_import.pk
            )
    return _data_page(request, challenge=challenge, form=form)


def _import_start(
    request: HttpRequest, *, challenge: Challenge, form: DatasetImportForm
) -> DatasetImport | None:
    """Start the form's import, or put the service's sentence on the form and return None."""
    data = form.cleaned_data
    upload = None
    if data["upload"] is not None:
        try:
            upload = release_upload_get_for(user=request.user, upload_id=data["upload"])
        except ReleaseUpload.DoesNotExist:
            form.add_error(None, "This upload no longer exists; upload the archive again.")
            return None
    try:
        with transaction.atomic():  # a refused import leaves no new, empty dataset behind
            dataset = dataset_get_or_create(challenge=challenge, slug=data["dataset"], user=request.user)
            return dataset_import_create(
                dataset=dataset,
                split=data["split"],
                source_path=None if upload is not None else data["folder"],
                upload=upload,
                requested_by=request.user,
            )
    except ValidationError as error:
        form.add_error(None, error)
        return None


def _data_page(
    request: HttpRequest,
    *,
    challenge: Challenge,
    form: DatasetImportForm,
    ground_truth_form: GroundTruthUploadForm | None = None,
    attribute_form: CaseAttributeTableForm | None = None,
) -> HttpResponse:
    datasets = challenge.datasets.order_by("slug").prefetch_related("ground_truth_versions")
    context = {
        "challenge": challenge,
        "form": form,
        "ground_truth_form": ground_truth_form or GroundTruthUploadForm(datasets=datasets),
        "attribute_form": attribute_form or CaseAttributeTableForm(datasets=datasets),
        "attribute_tables": CaseAttributeTable.objects.filter(dataset__challenge=challenge).select_related(
            "dataset"
        )[:RECENT_IMPORTS],
        "datasets": datasets,
        "imports": dataset_import_list_for_challenge(challenge=challenge)[:RECENT_IMPORTS],
        "import_root": settings.ISLES_IMPORT_ROOT,
    }
    return render(request, "organizers/data.html", context, status=400 if form.errors else 200)


@login_required
@require_safe
def dataset_import_view(request: HttpRequest, slug: str, import_id: int) -> HttpResponse:
    """One import of the challenge: its progress while it runs (the page polls the API), then the
    importer's report, or the sentence saying why it failed."""
    challenge = challenge_organized_or_refused(request, slug)
    dataset_import = dataset_import_list_for_challenge(challenge=challenge).filter(pk=import_id).first()
    if dataset_import is None:
        raise Http404("No such import.")
    context = {"challenge": challenge, "dataset_import": dataset_import, "ended": _ended(dataset_import)}
    return render(request, "organizers/dataset_import.html", context)


def _ended(dataset_import: DatasetImport) -> bool:
    return dataset_import.status in (DatasetImport.Status.SUCCEEDED, DatasetImport.Status.FAILED)


@login_required
@require_POST
def ground_truth_upload_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Make a dataset's next ground-truth version from an uploaded archive of masks; the data page says
    which version was made, or every problem with the archive."""
    challenge = challenge_organized_or_refused(request, slug)
    datasets = challenge.datasets.order_by("slug")
    form = GroundTruthUploadForm(request.POST, request.FILES, datasets=datasets)
    if not form.is_valid():
        return _data_page(request, challenge=challenge, form=DatasetImportForm(), ground_truth_form=form)
    dataset = form.cleaned_data["dataset"]
    with tempfile.TemporaryDirectory(prefix="isles-ground-truth-") as folder:
        archive = _upload_keep(form.cleaned_data["archive"], folder=Path(folder))
        try:
            version = ground_truth_version_create_from_archive(
                dataset=dataset,
                archive=archive,
                folder=Path(folder) / "masks",
                note=form.cleaned_data["note"],
                created_by=request.user,
            )
        except ValidationError as error:
            for sentence in error.messages:
                messages.error(request, sentence)
            return redirect("organizer-dataset-import", slug=challenge.slug)
    messages.success(
        request,
        f"Ground-truth version {version.number} of {dataset.title} is made; cases without a new mask kept "
        "the previous version's. Phases switch to it on their own page.",
    )
    return redirect("organizer-dataset-import", slug=challenge.slug)


def _upload_keep(uploaded: UploadedFile, *, folder: Path) -> Path:
    """The uploaded archive as a file in ``folder`` (Django keeps a small one in memory only)."""
    path = folder / "masks-archive"
    with path.open("wb") as target:
        for chunk in uploaded.chunks():
            target.write(chunk)
    return path


@login_required
@require_POST
def case_attributes_upload_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Apply an uploaded table of case attributes to a dataset; the data page says how many cases it
    named, or every problem with it (then no case changed)."""
    challenge = challenge_organized_or_refused(request, slug)
    datasets = challenge.datasets.order_by("slug")
    form = CaseAttributeTableForm(request.POST, request.FILES, datasets=datasets)
    if not form.is_valid():
        return _data_page(request, challenge=challenge, form=DatasetImportForm(), attribute_form=form)
    upload = form.cleaned_data["table"]
    table = case_attribute_table_upload(
        dataset=form.cleaned_data["dataset"],
        content=upload,
        original_name=upload.name,
        uploaded_by=request.user,
    )
    if table.status == CaseAttributeTable.Status.APPLIED:
        messages.success(
            request,
            f"The attributes {', '.join(table.columns)} of {table.cases_named} cases of "
            f"{table.dataset.title} are applied; results can be split by them.",
        )
    else:
        for sentence in table.problems:
            messages.error(request, sentence)
    return redirect("organizer-dataset-import", slug=challenge.slug)
