"""The challenge editor: create a challenge (with the site admin's ``challenges.add_challenge``
permission; its creator becomes its first organizer) and edit one's own, with its data card.

The page parses; ``challenges.services.challenge_create``/``challenge_update`` and
``datasets.services.data_card_set`` decide, in one transaction: the sentences of a refusal are shown
beside their fields, and nothing is saved unless both agree.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portal.challenges.models import Challenge
from portal.challenges.services import challenge_create, challenge_update
from portal.datasets.models import DataCard
from portal.datasets.services import data_card_set
from portal.organizers.forms.challenge import ChallengeForm
from portal.organizers.views.access import challenge_organized_or_refused

CREATE_PERMISSION = "challenges.add_challenge"


def _data_card_save(form: ChallengeForm, challenge: Challenge) -> None:
    data = form.cleaned_data
    data_card_set(
        challenge=challenge, licence=data["licence"], citation=data["citation"], terms=data["terms"]
    )


def _refusal_show(form: ChallengeForm, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, problems in error.error_dict.items():
            form.add_error(name if name in form.fields else None, problems)
    else:
        form.add_error(None, error)


@login_required
def challenge_create_view(request: HttpRequest) -> HttpResponse:
    """A new challenge, for a user the site admin let create challenges."""
    if not request.user.has_perm(CREATE_PERMISSION):
        raise PermissionDenied("Creating a challenge needs the site admin's permission: ask them for it.")
    form = ChallengeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                challenge = challenge_create(
                    fields=form.challenge_fields(), logo=form.logo_upload(), creator=request.user
                )
                _data_card_save(form, challenge)
        except ValidationError as error:
            _refusal_show(form, error)
        else:
            messages.success(request, f"{challenge.title} is created, and you are its organizer.")
            return redirect("organizer-dashboard", slug=challenge.slug)
    return render(request, "organizers/challenge_form.html", {"form": form, "challenge": None})


@login_required
def challenge_edit_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit the challenge's own fields and its data card."""
    challenge = challenge_organized_or_refused(request, slug)
    form = ChallengeForm(request.POST or None, request.FILES or None, instance=challenge)
    if request.method == "POST" and form.is_valid():
        terms_version = _terms_version(challenge)
        try:
            with transaction.atomic():
                challenge_update(
                    challenge=challenge,
                    fields=form.challenge_fields(),
                    logo=form.logo_upload(),
                    logo_clear=form.cleaned_data.get("logo_clear", False),
                )
                _data_card_save(form, challenge)
        except ValidationError as error:
            challenge.refresh_from_db()
            _refusal_show(form, error)
        else:
            _saved_say(request, challenge, terms_version)
            return redirect("organizer-dashboard", slug=challenge.slug)
    return render(request, "organizers/challenge_form.html", {"form": form, "challenge": challenge})


def _terms_version(challenge: Challenge) -> int | None:
    return DataCard.objects.filter(challenge=challenge).values_list("terms_version", flat=True).first()


def _saved_say(request: HttpRequest, challenge: Challenge, terms_version: int | None) -> None:
    messages.success(request, f"{challenge.title} is saved.")
    now = _terms_version(challenge)
    if terms_version is not None and now != terms_version:
        messages.info(
            request,
            f"The data-use terms changed (now version {now}): every participant accepts them again before "
            "their next download.",
        )
