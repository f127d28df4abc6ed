"""Errors of the datasets app, each with a sentence an organizer can act on."""


class DatasetImportError(Exception):
    """An import stopped: a file of the release is unreadable or the release is not what it claims to be.

    The message names the file by its path in the release; nothing of the failed run is kept.
    """
