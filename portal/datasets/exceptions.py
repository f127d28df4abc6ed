"""Errors of the datasets app, each with a sentence an organizer can act on."""

from django.core.exceptions import ValidationError

from portal.errors import PortalError, StepFailed


class DataTermsNotAccepted(PortalError):
    """A participant asked for a download before accepting the challenge's current data-use terms: a 403
    whose sentence says where to accept them."""

    http_status = 403


class DatasetImportError(StepFailed):
    """An import stopped: a file of the release is unreadable or the release is not what it claims to be.

    The message names the file by its path in the release; nothing of the failed run is kept.
    """


class GroundTruthRefused(ValidationError):
    """Masks for a new ground-truth version were refused; ``messages`` holds one sentence per problem.

    Nothing is stored when any mask has a problem.
    """


class DatasetImportRefused(PortalError):
    """An import or a release upload is refused before it starts: a folder outside the import root, an
    archive not yet whole, a file that is not an archive; the sentence says what to do instead."""


class NotAnOrganizer(PortalError):
    """Someone who does not organize the challenge asked to change its data: a 403."""

    http_status = 403
