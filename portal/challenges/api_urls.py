"""API URLs of the teams of a challenge, included under ``/api/``."""

from django.urls import path

from portal.challenges import api

TEAMS = "challenges/<slug:slug>/teams/"

urlpatterns = [
    path(TEAMS, api.TeamListView.as_view(), name="team-list"),
    path(f"{TEAMS}mine/", api.MyTeamView.as_view(), name="team-mine"),
    path(f"{TEAMS}mine/invitations/", api.MyTeamInviteView.as_view(), name="team-invite"),
    path(
        f"{TEAMS}mine/invitations/<slug:token>/withdraw/",
        api.MyTeamInvitationWithdrawView.as_view(),
        name="team-invitation-withdraw",
    ),
    path(f"{TEAMS}mine/leave/", api.MyTeamLeaveView.as_view(), name="team-leave"),
    path(
        f"{TEAMS}mine/members/<id:user_id>/remove/",
        api.MyTeamMemberRemoveView.as_view(),
        name="team-member-remove",
    ),
    path(f"{TEAMS}mine/captain/", api.MyTeamCaptainView.as_view(), name="team-captain"),
    path(f"{TEAMS}invitations/<slug:token>/", api.InvitationDetailView.as_view(), name="invitation-detail"),
    path(
        f"{TEAMS}invitations/<slug:token>/accept/",
        api.InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
    path(
        f"{TEAMS}invitations/<slug:token>/decline/",
        api.InvitationDeclineView.as_view(),
        name="invitation-decline",
    ),
]
