"""The teams API under a challenge: list and create teams, one's own team (``mine``: invite, withdraw an
invitation, leave, remove a member, hand the captaincy on) and an invitation, by its token (read, accept,
decline).

Thin adapters over ``portal.accounts.services``: a challenge the user may not see, an unknown token, or
``mine`` for a user in no team of the challenge is a 404; a refusal is a 400 with the service's sentence
and ``code``; a member who may not do what they asked (only the captain removes) gets a 403.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts import services
from portal.accounts.models import Invitation, Team, User
from portal.accounts.selectors import (
    invitation_get,
    invitation_is_for,
    team_invitation_list_pending,
    team_list,
    team_member_list,
    team_of,
)
from portal.challenges.models import Challenge
from portal.challenges.selectors import challenge_get_visible_to
from portal.challenges.views import invitation_url_builder


class TeamSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "member_count", "created_at"]


class MemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]


class InvitationSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The invitation's page; its token is the secret.")

    class Meta:
        model = Invitation
        fields = ["token", "url", "email", "status", "created_at"]

    def get_url(self, invitation: Invitation) -> str:
        return str(self.context["invitation_url"](invitation.token))


class MyTeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    captain = serializers.CharField(allow_null=True, help_text="The captain's username.")
    members = MemberSerializer(many=True)
    invitations = InvitationSerializer(many=True, help_text="Invitations nobody answered yet.")


class InvitationDetailSerializer(serializers.Serializer):
    team = serializers.CharField(help_text="The inviting team's name.")
    invited_by = serializers.CharField()
    status = serializers.ChoiceField(choices=Invitation.Status.choices)
    is_for_you = serializers.BooleanField(
        help_text="You may accept it (an e-mail invitation is its address')."
    )


class TeamCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class InviteSerializer(serializers.Serializer):
    email = serializers.EmailField(
        required=False, allow_blank=True, help_text="Empty: an invitation by link."
    )


class CaptainSerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The member's user id.")


def _challenge(request: Request, slug: str) -> Challenge:
    try:
        return challenge_get_visible_to(user=request.user, slug=slug)
    except Challenge.DoesNotExist as error:
        raise Http404("No such challenge.") from error


def _my_team(request: Request, challenge: Challenge) -> Team:
    team = team_of(user=request.user, challenge=challenge)
    if team is None:
        raise Http404("You are in no team of this challenge.")
    return team


def _my_team_response(request: Request, challenge: Challenge, team: Team, code: int = 200) -> Response:
    members = list(team_member_list(team=team))
    captain = next((member.username for member in members if member.pk == team.captain_id), None)
    data = {
        "id": team.pk,
        "name": team.name,
        "captain": captain,
        "members": members,
        "invitations": team_invitation_list_pending(team=team),
    }
    context = {"invitation_url": invitation_url_builder(request._request, challenge)}
    return Response(MyTeamSerializer(data, context=context).data, status=code)


class TeamListView(APIView):
    """The challenge's teams (names and sizes), and a new one with the user as captain."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TeamSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        challenge = _challenge(request, slug)
        return Response(TeamSerializer(team_list(challenge=challenge), many=True).data)

    @extend_schema(
        request=TeamCreateSerializer,
        responses={
            201: MyTeamSerializer,
            400: OpenApiResponse(description="Not a participant, in a team already, a name taken, frozen"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        challenge = _challenge(request, slug)
        body = TeamCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        team = services.team_create(
            challenge=challenge, name=body.validated_data["name"], creator=request.user
        )
        return _my_team_response(request, challenge, team, code=status.HTTP_201_CREATED)


class MyTeamView(APIView):
    """The user's team in the challenge: members, captain, open invitations (404 without a team)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MyTeamSerializer)
    def get(self, request: Request, slug: str) -> Response:
        challenge = _challenge(request, slug)
        return _my_team_response(request, challenge, _my_team(request, challenge))


class MyTeamInviteView(APIView):
    """Invite someone to the user's team: by e-mail (the address gets the link), or by a link to pass on."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=InviteSerializer, responses={201: InvitationSerializer})
    def post(self, request: Request, slug: str) -> Response:
        challenge = _challenge(request, slug)
        team = _my_team(request, challenge)
        body = InviteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invitation_url = invitation_url_builder(request._request, challenge)
        invitation = services.team_invite(
            team=team,
            invited_by=request.user,
            email=body.validated_data.get("email", ""),
            invitation_url=invitation_url,
        )
        serializer = InvitationSerializer(invitation, context={"invitation_url": invitation_url})
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class MyTeamInvitationWithdrawView(APIView):
    """Withdraw one of the user's team's open invitations (its captain only); its link no longer works."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: InvitationSerializer,
            400: OpenApiResponse(description="Answered or withdrawn already"),
            403: OpenApiResponse(description="Not the team's captain"),
        },
    )
    def post(self, request: Request, slug: str, token: str) -> Response:
        challenge = _challenge(request, slug)
        team = _my_team(request, challenge)
        try:
            invitation = services.invitation_withdraw(team=team, token=token, by=request.user)
        except Invitation.DoesNotExist as error:
            raise Http404("No such invitation.") from error
        context = {"invitation_url": invitation_url_builder(request._request, challenge)}
        return Response(InvitationSerializer(invitation, context=context).data)


class MyTeamLeaveView(APIView):
    """Leave the user's team; they compete under their own name afterwards."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, slug: str) -> Response:
        challenge = _challenge(request, slug)
        _my_team(request, challenge)
        services.team_leave(challenge=challenge, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyTeamMemberRemoveView(APIView):
    """Remove a member from the user's team (its captain only)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: MyTeamSerializer})
    def post(self, request: Request, slug: str, user_id: int) -> Response:
        challenge = _challenge(request, slug)
        team = _my_team(request, challenge)
        member = User.objects.filter(pk=user_id).first()
        if member is None:
            raise Http404("No such user.")
        services.team_member_remove(team=team, member=member, removed_by=request.user)
        return _my_team_response(request, challenge, team)


class MyTeamCaptainView(APIView):
    """Hand the captaincy of the user's team to another member (its captain only)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=CaptainSerializer, responses={200: MyTeamSerializer})
    def post(self, request: Request, slug: str) -> Response:
        challenge = _challenge(request, slug)
        team = _my_team(request, challenge)
        body = CaptainSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member = User.objects.filter(pk=body.validated_data["user"]).first()
        if member is None:
            raise Http404("No such user.")
        team = services.team_captain_hand_over(team=team, to=member, by=request.user)
        return _my_team_response(request, challenge, team)


def _invitation(request: Request, slug: str, token: str) -> tuple[Challenge, Invitation]:
    challenge = _challenge(request, slug)
    try:
        invitation = invitation_get(token=token)
    except Invitation.DoesNotExist as error:
        raise Http404("No such invitation.") from error
    if invitation.team.challenge_id != challenge.pk:
        raise Http404("No such invitation.")
    return challenge, invitation


class InvitationDetailView(APIView):
    """An invitation, by its token: the team, who sent it, whether the user may accept it."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=InvitationDetailSerializer)
    def get(self, request: Request, slug: str, token: str) -> Response:
        _, invitation = _invitation(request, slug, token)
        data = {
            "team": invitation.team.name,
            "invited_by": invitation.invited_by.username,
            "status": invitation.status,
            "is_for_you": invitation_is_for(invitation=invitation, user=request.user),
        }
        return Response(InvitationDetailSerializer(data).data)


class InvitationAcceptView(APIView):
    """Accept an invitation: join its team (and the challenge, if public and not joined yet)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: MyTeamSerializer,
            400: OpenApiResponse(
                description="Answered, someone else's, in a team already, other side, frozen"
            ),
        },
    )
    def post(self, request: Request, slug: str, token: str) -> Response:
        challenge, _ = _invitation(request, slug, token)
        membership = services.invitation_accept(token=token, user=request.user)
        return _my_team_response(request, challenge, membership.team)


class InvitationDeclineView(APIView):
    """Decline an invitation; it can no longer be accepted."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: InvitationDetailSerializer})
    def post(self, request: Request, slug: str, token: str) -> Response:
        _, invitation = _invitation(request, slug, token)
        invitation = services.invitation_decline(token=token, user=request.user)
        data = {
            "team": invitation.team.name,
            "invited_by": invitation.invited_by.username,
            "status": invitation.status,
            "is_for_you": True,
        }
        return Response(InvitationDetailSerializer(data).data)
