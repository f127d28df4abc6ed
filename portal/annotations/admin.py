"""Admin of annotation campaigns: campaigns with their cases, and assignments with their revisions and
status changes, read-only."""

from django.contrib import admin

from portal.annotations.models import (
    AnnotationAssignment,
    AnnotationCampaign,
    AssignmentEvent,
    CampaignCase,
    MaskRevision,
)


class CampaignCaseInline(admin.TabularInline):
    model = CampaignCase
    extra = 0
    fields = ("case", "starting_mask", "agreement_basis")
    readonly_fields = fields
    can_delete = False


@admin.register(AnnotationCampaign)
class AnnotationCampaignAdmin(admin.ModelAdmin):
    list_display = ("title", "challenge", "dataset", "starting_mask", "status", "created_at")
    list_filter = ("status", "starting_mask")
    readonly_fields = ("status", "error", "ready_at", "created_by", "created_at")
    inlines = [CampaignCaseInline]


class MaskRevisionInline(admin.TabularInline):
    model = MaskRevision
    extra = 0
    fields = ("number", "lesion_voxels", "lesion_volume_ml", "created_by", "created_at")
    readonly_fields = fields
    can_delete = False


class AssignmentEventInline(admin.TabularInline):
    model = AssignmentEvent
    extra = 0
    fields = ("from_status", "to_status", "by", "at")
    readonly_fields = fields
    can_delete = False


@admin.register(AnnotationAssignment)
class AnnotationAssignmentAdmin(admin.ModelAdmin):
    """Read-only: an assignment changes only through its annotator's saves and Done."""

    list_display = ("campaign_case", "annotator", "status", "started_at", "done_at")
    list_filter = ("status",)
    readonly_fields = ("campaign_case", "annotator", "status", "created_at", "started_at", "done_at")
    inlines = [MaskRevisionInline, AssignmentEventInline]
