"""The account page with its API token, and the page of a locked-out login (signing up, logging in and out,
e-mail confirmation and passwords are django-allauth's pages)."""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.accounts.lockout import login_cooloff_seconds, login_lockout_sentence
from portal.accounts.selectors import user_email_verified
from portal.accounts.services import token_get_or_create, token_regenerate


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The user's details and API token."""
    token = token_get_or_create(user=request.user)
    return render(
        request,
        "accounts/account.html",
        {"token": token, "email_verified": user_email_verified(user=request.user)},
    )


@login_required
@require_POST
def token_regenerate_view(request: HttpRequest) -> HttpResponse:
    """Replace the API token; scripts using the old one must be updated."""
    token_regenerate(user=request.user)
    messages.success(request, "Your API token was replaced; the old one no longer works.")
    return redirect("account")


def login_locked_out(
    request: HttpRequest, response: HttpResponse | None = None, credentials: Mapping[str, Any] | None = None
) -> HttpResponse:
    """The page a locked-out login gets instead of the form: django-axes' ``AXES_LOCKOUT_CALLABLE``."""
    username = str((credentials or {}).get("username") or "")
    page = render(
        request,
        "registration/locked_out.html",
        {"sentence": login_lockout_sentence(username=username)},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    page["Retry-After"] = str(login_cooloff_seconds())
    return page
