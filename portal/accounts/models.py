"""Users, the roles they hold in a challenge, and teams."""

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person with a login. Custom from day one so fields can be added without a painful migration."""

    email = models.EmailField("email address", unique=True)

    def __str__(self) -> str:
        return self.username


class ChallengeRole(models.Model):
    """What a user is in one challenge: an organizer, a participant or an expert reader (one row per role)."""

    class Role(models.TextChoices):
        ORGANIZER = "ORGANIZER", "Organizer"
        PARTICIPANT = "PARTICIPANT", "Participant"
        READER = "READER", "Expert reader"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="challenge_roles"
    )
    challenge = models.ForeignKey("challenges.Challenge", on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "challenge", "role"], name="one_row_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display().lower()} of {self.challenge}"


class Team(models.Model):
    """A group of participants who submit together to one challenge; limits count per team."""

    challenge = models.ForeignKey("challenges.Challenge", on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams")
    captain = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The member who may remove others: the creator, or whom the captain handed it to.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("name"), "challenge", name="team_name_unique_in_challenge_any_case"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A participant's place in a team. The challenge is repeated here so the database itself refuses a
    second team for the same person in the same challenge."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    challenge = models.ForeignKey("challenges.Challenge", on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "user"], name="one_team_per_challenge"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    """A team's invitation to one person: to an e-mail address, or to whoever holds its link first.

    Its token is the secret of the link; an e-mail invitation is accepted only by the user with that
    address.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        ACCEPTED = "ACCEPTED", "Accepted"
        DECLINED = "DECLINED", "Declined"
        WITHDRAWN = "WITHDRAWN", "Withdrawn"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    token = models.CharField(max_length=64, unique=True, default=_invitation_token, editable=False)
    email = models.EmailField(blank=True, help_text="Empty: whoever opens the link first may accept.")
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"Invitation to {self.team} ({self.email or 'by link'})"


class ParticipationRequest(models.Model):
    """A person's request to take part in a challenge whose organizers approve participants
    (``Challenge.participant_approval``): until an organizer approves it, they are no participant (no
    submission, no download). Approval makes the participant role; a rejection keeps its reason."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Waiting for approval"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participation_requests"
    )
    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="participation_requests"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why, as the organizer wrote it; e-mailed to the person.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "challenge"], name="one_participation_request"),
        ]

    def __str__(self) -> str:
        return f"{self.user} asks to take part in {self.challenge} ({self.get_status_display().lower()})"
