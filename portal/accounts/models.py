"""Users, the roles they hold in a challenge, and teams."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "name"], name="team_name_unique_in_challenge"),
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
