"""Admin of datasets, cases, images, ground truth (read-only) and import runs (with a re-queue action)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from portal.datasets.models import (
    Case,
    DataCard,
    Dataset,
    DatasetImport,
    DataTermsAcceptance,
    GroundTruth,
    GroundTruthVersion,
    Image,
)
from portal.datasets.services import dataset_import_requeue


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the importer: shown, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "challenge", "case_count", "created_at"]
    list_filter = ["challenge"]
    search_fields = ["slug", "title", "challenge__slug"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dataset]:
        return super().get_queryset(request).select_related("challenge").annotate(case_count=Count("cases"))

    @admin.display(description="cases", ordering="case_count")
    def case_count(self, dataset: Dataset) -> int:
        return dataset.case_count  # type: ignore[attr-defined]  # annotated in get_queryset


class MissingFilesFilter(admin.SimpleListFilter):
    title = "missing files"
    parameter_name = "missing"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Some files missing"), ("no", "Complete")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        if self.value() == "yes":
            return queryset.exclude(missing_files=[])
        if self.value() == "no":
            return queryset.filter(missing_files=[])
        return queryset


class ImageInline(admin.TabularInline):
    model = Image
    extra = 0
    fields = ["interface", "shape", "spacing_mm", "pixel_type", "size_bytes", "sha256"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "split", "missing_file_count", "imported_at"]
    list_filter = ["dataset", "split", MissingFilesFilter]
    search_fields = ["name"]
    readonly_fields = ["dataset", "name", "admission_data", "outcome_data", "missing_files", "imported_at"]
    fields = ["dataset", "name", "split", "admission_data", "outcome_data", "missing_files", "imported_at"]
    inlines = [ImageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return super().get_queryset(request).select_related("dataset__challenge")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="missing files")
    def missing_file_count(self, case: Case) -> int:
        return len(case.missing_files)


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    list_display = ["case", "interface", "shape", "pixel_type", "size_bytes"]
    list_filter = ["interface", "case__dataset"]
    search_fields = ["case__name", "sha256"]
    list_select_related = ["case"]


@admin.register(GroundTruth)
class GroundTruthAdmin(ReadOnlyAdmin):
    list_display = ["case", "version", "lesion_volume_ml", "source_encoding", "created_at"]
    list_filter = ["case__dataset", "source_encoding"]
    search_fields = ["case__name"]
    list_select_related = ["case"]


@admin.register(GroundTruthVersion)
class GroundTruthVersionAdmin(ReadOnlyAdmin):
    list_display = ["dataset", "number", "source", "created_by", "created_at"]
    list_filter = ["dataset", "source"]
    search_fields = ["note"]
    list_select_related = ["dataset__challenge", "created_by"]


@admin.register(DatasetImport)
class DatasetImportAdmin(ReadOnlyAdmin):
    list_display = [
        "source_path",
        "dataset",
        "split",
        "status",
        "attempt",
        "cases_imported",
        "created_at",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "dataset"]
    search_fields = ["source_path", "error"]
    list_select_related = ["dataset__challenge"]
    actions = ["requeue"]

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("datasets.change_datasetimport")

    @admin.action(description="Queue the selected failed imports again", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[DatasetImport]) -> None:
        queued = 0
        for dataset_import in queryset:
            try:
                dataset_import_requeue(dataset_import_id=dataset_import.pk)
            except ValidationError as error:
                self.message_user(request, f"{dataset_import}: {' '.join(error.messages)}", messages.WARNING)
            else:
                queued += 1
        if queued:
            self.message_user(request, f"{queued} imports queued again.", messages.SUCCESS)


class DataTermsAcceptanceInline(admin.TabularInline):
    """Who accepted which version of the terms, when, and whether they consent to reruns: a record, never
    edited by hand."""

    model = DataTermsAcceptance
    extra = 0
    fields = ["user", "terms_version", "consents_to_reruns", "accepted_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(DataCard)
class DataCardAdmin(admin.ModelAdmin):
    """The licence, citation and data-use terms of a challenge's data; raise ``terms_version`` when the terms
    change, so that participants accept them again before their next download."""

    list_display = ["challenge", "licence", "terms_version"]
    search_fields = ["challenge__slug", "licence"]
    inlines = [DataTermsAcceptanceInline]
