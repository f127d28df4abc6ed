"""Admin of reader studies: studies, sources, readers and answers; the draw is read-only."""

from django.contrib import admin

from portal.readerstudies.models import MaskSource, ReaderStudy, ReadingItem, StudyReader


class MaskSourceInline(admin.TabularInline):
    model = MaskSource
    extra = 0
    readonly_fields = ("kind", "submission", "label", "position")
    can_delete = False


class StudyReaderInline(admin.TabularInline):
    model = StudyReader
    extra = 0
    readonly_fields = ("user", "seed", "invited_at", "finished_at")
    can_delete = False


@admin.register(ReaderStudy)
class ReaderStudyAdmin(admin.ModelAdmin):
    list_display = ("title", "challenge", "split", "status", "created_at")
    list_filter = ("status", "challenge")
    readonly_fields = ("status", "error", "created_by", "created_at")
    inlines = (MaskSourceInline, StudyReaderInline)


@admin.register(ReadingItem)
class ReadingItemAdmin(admin.ModelAdmin):
    list_display = (
        "reader", "position", "study_case", "trial", "source_a", "source_b", "preference", "seconds"
    )  # fmt: skip
    list_filter = ("reader__study", "trial")
    readonly_fields = [field.name for field in ReadingItem._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
