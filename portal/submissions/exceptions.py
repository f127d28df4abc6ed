"""Errors of the submissions app, each with a sentence a participant can act on."""

from portal.errors import PortalError


class SubmissionRefused(PortalError):
    """A submission was not accepted: the phase is closed, a limit is reached, or the user may not submit.

    A ``PortalError`` so every entry point (API, web form, admin) shows its sentence; ``code`` says which
    rule refused it (``phase_closed``, ``not_participant``, ``wrong_kind``, ``daily_limit``, ``total_limit``).
    """


class UploadTooLarge(SubmissionRefused):
    """An upload larger than its phase takes, refused before (or while) its body is read: HTTP 413."""


class InvalidTransition(Exception):
    """A status change the submission state machine does not allow; a bug, never the participant's doing."""
