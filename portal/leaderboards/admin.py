"""Admin of leaderboards: settings per phase (with a publish and a rebuild action), columns, and the
organizers' ensembles of submissions (read only)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.leaderboards import services
from portal.leaderboards.models import Ensemble, EnsembleMember, LeaderboardColumn, LeaderboardSettings


@admin.register(LeaderboardSettings)
class LeaderboardSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "phase",
        "ranking_method",
        "publication",
        "is_published",
        "show_case_scores_to_participants",
        "counted_submission",
    ]
    list_filter = ["publication", "ranking_method", "counted_submission"]
    actions = ["publish", "rebuild"]

    @admin.action(description="Publish the selected leaderboards")
    def publish(self, request: HttpRequest, queryset: QuerySet[LeaderboardSettings]) -> None:
        for settings in queryset.select_related("phase"):
            services.leaderboard_publish(phase=settings.phase)
        self.message_user(request, f"Published {queryset.count()} leaderboard(s).", messages.SUCCESS)

    @admin.action(description="Recompute the ranks of the selected leaderboards")
    def rebuild(self, request: HttpRequest, queryset: QuerySet[LeaderboardSettings]) -> None:
        for settings in queryset:
            services.leaderboard_rebuild_schedule(phase_id=settings.phase_id)
        self.message_user(request, f"Queued {queryset.count()} rebuild(s).", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: LeaderboardSettings, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The ranking method and the counted submission change the ranks: recompute them.
        services.leaderboard_rebuild_schedule(phase_id=obj.phase_id)


@admin.register(LeaderboardColumn)
class LeaderboardColumnAdmin(admin.ModelAdmin):
    list_display = ["phase", "order", "metric_key", "label", "higher_is_better", "in_ranking"]
    list_editable = ["order", "label", "in_ranking"]
    list_filter = ["phase"]

    def save_model(self, request: HttpRequest, obj: LeaderboardColumn, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.leaderboard_rebuild_schedule(phase_id=obj.phase_id)


class EnsembleMemberInline(admin.TabularInline):
    model = EnsembleMember
    fields = ["position", "submission"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Ensemble)
class EnsembleAdmin(admin.ModelAdmin):
    """Ensembles, read only: they are built and ranked from the leaderboard's pages (``ensembles``), whose
    rules a form here would skip."""

    list_display = ["pk", "submission", "rule", "build_status", "is_ranked", "built_at"]
    list_filter = ["rule", "build_status", "is_ranked"]
    readonly_fields = ["submission", "rule", "is_ranked", "build_status", "built_at", "error", "attempt"]
    fields = readonly_fields
    inlines = [EnsembleMemberInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
