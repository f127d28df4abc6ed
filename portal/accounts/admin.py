"""Admin of users, challenge roles, teams and their invitations."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from portal.accounts.models import ChallengeRole, Invitation, Team, TeamMembership, User
from portal.accounts.selectors import challenge_role_conflict

admin.site.register(User, UserAdmin)


class ChallengeRoleForm(forms.ModelForm):
    """Refuses a role that would put a person on both sides of a challenge (``challenge_role_conflict``)."""

    class Meta:
        model = ChallengeRole
        fields = ["user", "challenge", "role"]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        user, challenge, role = (cleaned.get(name) for name in ("user", "challenge", "role"))
        if user is not None and challenge is not None and role is not None:
            conflict = challenge_role_conflict(user=user, challenge=challenge, role=role)
            if conflict is not None:
                raise forms.ValidationError(conflict)
        return cleaned


@admin.register(ChallengeRole)
class ChallengeRoleAdmin(admin.ModelAdmin):
    form = ChallengeRoleForm
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


class InvitationInline(admin.TabularInline):
    """A team's invitations, read only: members make them, the invited answer them (the services' rules)."""

    model = Invitation
    extra = 0
    fields = ["email", "invited_by", "status", "created_at", "answered_by", "answered_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Team | None = None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "challenge", "captain", "created_at"]
    list_filter = ["challenge"]
    search_fields = ["name"]
    autocomplete_fields = ["captain"]
    inlines = [TeamMembershipInline, InvitationInline]
