"""Login lockout (django-axes, see the settings): what a locked-out client is told, and its address.

The login page and the API's token endpoint say the same sentence; both answer 429 with ``Retry-After``.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def login_cooloff_seconds() -> int:
    """How long a lockout lasts (``LOGIN_COOLOFF_MINUTES``), in seconds."""
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def login_lockout_sentence(*, username: str) -> str:
    """Why the login was refused and when to try again, for ``username`` as it was typed."""
    minutes = round(login_cooloff_seconds() / 60)
    who = f"as {username} " if username else ""
    return (
        f"Too many failed attempts to log in {who}from your address: logging in is paused for {minutes}"
        f" minute{'s' if minutes != 1 else ''}. Try again after that."
    )


def client_address(request: HttpRequest) -> str:
    """The client's address, by the rule the API's throttles use (``TRUSTED_PROXY_COUNT``).

    The connection's address unless trusted proxies put the client's in X-Forwarded-For, so a client
    cannot escape its count by sending that header itself; whatever is not an address counts as the
    connection's.
    """
    address = BaseThrottle().get_ident(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return str(request.META.get("REMOTE_ADDR", ""))
    return address
