"""Admin of users, challenge roles and teams."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.accounts.models import ChallengeRole, Team, TeamMembership, User

admin.site.register(User, UserAdmin)


@admin.register(ChallengeRole)
class ChallengeRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "challenge", "role", "created_at"]
    list_filter = ["role", "challenge"]
    search_fields = ["user__username", "user__email", "challenge__slug"]
    autocomplete_fields = ["user"]


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "challenge", "joined_at"]
    readonly_fields = ["joined_at"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "challenge", "created_at"]
    list_filter = ["challenge"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]
