"""Admin of challenges (with their phases inline)."""

from django.contrib import admin

from portal.challenges.models import Challenge, Phase


class PhaseInline(admin.StackedInline):
    model = Phase
    extra = 0
    fields = [
        ("title", "slug", "order"),
        ("submission_kind", "metric_profile", "is_validation"),
        ("opens_at", "closes_at", "team_freeze_at"),
        ("dataset", "split"),
        ("daily_submission_limit", "total_submission_limit", "upload_max_mb"),
        "description",
    ]


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "is_public", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [PhaseInline]
