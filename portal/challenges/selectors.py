"""Reads about challenges: who may see which, their phases and their announcements."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import organizer_of
from portal.challenges.models import Announcement, Challenge, Phase


def challenge_list_visible_to(*, user: User) -> QuerySet[Challenge]:
    """Public challenges, and the hidden ones the user holds a role in."""
    if not user.is_authenticated:
        return Challenge.objects.filter(is_public=True)
    has_role = ChallengeRole.objects.filter(user=user, challenge=OuterRef("pk"))
    return Challenge.objects.filter(Q(is_public=True) | Exists(has_role))


def challenge_get_visible_to(*, user: User, slug: str) -> Challenge:
    """The challenge with this slug if the user may see it; ``Challenge.DoesNotExist`` otherwise."""
    return challenge_list_visible_to(user=user).get(slug=slug)


def challenge_list_organized_by(*, user: User) -> QuerySet[Challenge]:
    """The challenges the user organizes, by title."""
    return Challenge.objects.filter(organizer_of(user, challenge="pk")).order_by("title")


def phase_list(*, challenge: Challenge) -> QuerySet[Phase]:
    """The challenge's phases in their order, with their datasets."""
    return challenge.phases.select_related("dataset").order_by("order", "opens_at")


def announcement_list(*, challenge: Challenge) -> QuerySet[Announcement]:
    """The challenge's announcements, the latest first, with their authors."""
    return Announcement.objects.filter(challenge=challenge).select_related("author").order_by("-created_at")
