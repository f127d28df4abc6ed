"""The one door of an organizer page of a challenge: 404 to whoever may not see the challenge, 403 to the
others who do not organize it (``accounts.selectors.user_is_organizer``), as the permission matrix says
for organizer pages."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from portal.accounts.selectors import user_is_organizer
from portal.challenges.models import Challenge
from portal.challenges.selectors import challenge_get_visible_to


def challenge_organized_or_refused(request: HttpRequest, slug: str) -> Challenge:
    """The challenge of the page, if the user organizes it; ``Http404`` or ``PermissionDenied`` otherwise."""
    try:
        challenge = challenge_get_visible_to(user=request.user, slug=slug)
    except Challenge.DoesNotExist as error:
        raise Http404("No such challenge.") from error
    if not user_is_organizer(user=request.user, challenge=challenge):
        raise PermissionDenied(f"Only an organizer of {challenge.title} opens its organizer pages.")
    return challenge
