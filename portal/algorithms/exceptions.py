"""The errors that mean an algorithm worker's infrastructure failed (an upload's errors are
``portal.uploads.exceptions``)."""

import docker.errors
import requests.exceptions

# A job that raises one of these is retried (the task's ``retry_on``): the engine went away, the disk is
# full. An algorithm's own failure is never one of them; it is recorded as a sentence and not retried.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    OSError,
)
