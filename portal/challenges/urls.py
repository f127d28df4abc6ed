"""URLs of the challenge pages."""

from django.urls import path

from portal.challenges import views

urlpatterns = [
    path("", views.challenge_list, name="challenge-list"),
    path("challenges/<slug:slug>/", views.challenge_detail, name="challenge-detail"),
    path("challenges/<slug:slug>/join/", views.challenge_join_view, name="challenge-join"),
    path("challenges/<slug:slug>/team/", views.team_detail, name="team-detail"),
    path("challenges/<slug:slug>/team/create/", views.team_create_view, name="team-create"),
    path("challenges/<slug:slug>/team/invite/", views.team_invite_view, name="team-invite"),
    path("challenges/<slug:slug>/team/leave/", views.team_leave_view, name="team-leave"),
    path(
        "challenges/<slug:slug>/team/members/<id:user_id>/remove/",
        views.team_member_remove_view,
        name="team-member-remove",
    ),
    path("challenges/<slug:slug>/team/captain/", views.team_captain_view, name="team-captain"),
    path(
        "challenges/<slug:slug>/team/invitations/<slug:token>/withdraw/",
        views.team_invitation_withdraw_view,
        name="team-invitation-withdraw",
    ),
    path("challenges/<slug:slug>/invitations/<slug:token>/", views.team_invitation, name="team-invitation"),
]
