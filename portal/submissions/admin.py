"""Admin of submissions: every field read-only, with their state changes and per-case results inline."""

from django.contrib import admin

from portal.submissions.models import CaseResult, Submission, SubmissionStateChange


class SubmissionStateChangeInline(admin.TabularInline):
    model = SubmissionStateChange
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "at", "note"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


class CaseResultInline(admin.TabularInline):
    model = CaseResult
    extra = 0
    can_delete = False
    readonly_fields = ["case", "ground_truth_version", "metrics", "error"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["pk", "phase", "creator", "team", "status", "created_at"]
    list_filter = ["status", "phase"]
    search_fields = ["creator__username", "team__name", "sha256"]
    inlines = [SubmissionStateChangeInline, CaseResultInline]

    def has_add_permission(self, request: object) -> bool:
        # Submissions are made through submission_create, which stores the file and checks the limits.
        return False

    def get_readonly_fields(self, request: object, obj: Submission | None = None) -> list[str]:
        return [field.name for field in Submission._meta.fields]
