"""The people who run a challenge: its organizers and expert readers (who read blinded studies and
annotate in campaigns), added by username or e-mail address and removed by an organizer.

The rules are ``accounts.services.challenge_person_add`` and ``challenge_role_remove``: nobody who takes
part in the challenge joins its inside (the one-person-one-side rule, with its sentence), and the last
organizer stays.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.accounts.models import ChallengeRole
from portal.accounts.selectors import challenge_inside_role_list
from portal.accounts.services import challenge_person_add, challenge_role_remove
from portal.organizers.forms.people import PersonAddForm
from portal.organizers.views.access import challenge_organized_or_refused


@login_required
def people_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The challenge's organizers and expert readers, and the form that adds one."""
    challenge = challenge_organized_or_refused(request, slug)
    form = PersonAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            role = challenge_person_add(
                challenge=challenge,
                username_or_email=form.cleaned_data["username_or_email"],
                role=ChallengeRole.Role(form.cleaned_data["role"]),
                by=request.user,
            )
        except ValidationError as error:
            form.add_error("username_or_email", error)
        else:
            messages.success(
                request,
                f"{role.user.username} is now {role.get_role_display().lower()} of {challenge.title}.",
            )
            return redirect("organizer-people", slug=challenge.slug)
    roles = challenge_inside_role_list(challenge=challenge)
    return render(request, "organizers/people.html", {"challenge": challenge, "form": form, "roles": roles})


@login_required
@require_POST
def person_remove_view(request: HttpRequest, slug: str, role_id: int) -> HttpResponse:
    """Take an organizer's or expert reader's role in the challenge away."""
    challenge = challenge_organized_or_refused(request, slug)
    role = challenge_inside_role_list(challenge=challenge).filter(pk=role_id).first()
    if role is None:
        raise Http404("No such organizer or reader in this challenge.")
    try:
        challenge_role_remove(role=role, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("organizer-people", slug=challenge.slug)
    messages.success(
        request, f"{role.user.username} is no longer {role.get_role_display().lower()} of {challenge.title}."
    )
    if role.user_id == request.user.pk and role.role == ChallengeRole.Role.ORGANIZER:
        return redirect("challenge-detail", slug=challenge.slug)  # their organizer pages are closed now
    return redirect("organizer-people", slug=challenge.slug)
