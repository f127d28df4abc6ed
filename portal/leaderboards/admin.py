"""Admin of leaderboards: settings per phase (with a publish and a rebuild action) and columns."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.leaderboards import services
from portal.leaderboards.models import LeaderboardColumn, LeaderboardSettings


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
