"""Admin of submissions: every field read-only, with their state changes and per-case results inline; and
the phases' ground-truth switches, read-only."""

from django.contrib import admin

from portal.submissions.models import CaseResult, GroundTruthSwitch, Submission, SubmissionStateChange


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


@admin.register(GroundTruthSwitch)
class GroundTruthSwitchAdmin(admin.ModelAdmin):
    """Read-only: a switch is recorded by phase_ground_truth_version_set, which also tells the
    participants; changing or deleting the record would not un-tell them."""

    list_display = ["phase", "from_version", "to_version", "switched_at", "switched_by"]
    list_filter = ["phase"]
    list_select_related = ["phase", "switched_by"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: GroundTruthSwitch | None = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: GroundTruthSwitch | None = None) -> bool:
        return False
