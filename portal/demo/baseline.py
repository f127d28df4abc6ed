"""The demo's baseline of the final phase: the reference algorithm ``threshold`` (Tmax > 6 s), submitted by a
team of its own through the same upload, checks and jobs as any participant's image.

The image is built from the repository's Dockerfile on the offline base image (``docker/reference/build.sh``:
about two minutes the first time, with debootstrap and a Docker engine); later runs find it and the
submission already there. Without a Docker engine the demo runs on without a baseline and says why.
"""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from django.conf import settings

from portal.accounts.models import User
from portal.algorithms.services import algorithm_baseline_register
from portal.challenges.models import Phase
from portal.submissions.models import Submission

BASELINE_IMAGE = "isles-reference/threshold"
BASELINE_USERNAME = "baseline"
BASELINE_TEAM_NAME = "Baseline: threshold (Tmax > 6 s)"
BUILD_SCRIPT = Path(settings.BASE_DIR) / "docker" / "reference" / "build.sh"


@dataclass(frozen=True)
class DemoBaseline:
    """The baseline submission, or None with the sentence that says why there is none."""

    submission: Submission | None
    note: str


def _image_present(client: docker.DockerClient) -> bool:
    try:
        client.images.get(BASELINE_IMAGE)
    except docker.errors.ImageNotFound:
        return False
    return True


def demo_baseline_register(*, phase: Phase, user: User, say: Callable[[str], object]) -> DemoBaseline:
    """Submit the ``threshold`` image to ``phase`` as ``user`` (the baseline team's member), once; build the
    image if needed. ``say`` tells the person running the demo what takes a while.
    """
    existing = (
        Submission.objects.filter(phase=phase, creator=user)
        .exclude(status__in=(Submission.Status.FAILED, Submission.Status.CANCELLED))
        .first()
    )
    if existing is not None:
        return DemoBaseline(submission=existing, note=f"The baseline is submission {existing.pk}.")
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException:
        return DemoBaseline(
            submission=None,
            note="No Docker engine answers, so the final phase has no baseline and runs no algorithm; "
            "start one (see the README) and run the demo again.",
        )
    if not _image_present(client):
        say(f"Building {BASELINE_IMAGE} for the baseline (the first time only, about two minutes).")
        built = subprocess.run([str(BUILD_SCRIPT), "threshold"], check=False)
        if built.returncode != 0:
            return DemoBaseline(
                submission=None,
                note=f"Building {BASELINE_IMAGE} failed (see above), so the final phase has no baseline; "
                f"fix that and run the demo again, or build it yourself with {BUILD_SCRIPT} threshold.",
            )
    submission = algorithm_baseline_register(phase=phase, user=user, image_tag=BASELINE_IMAGE)
    return DemoBaseline(
        submission=submission,
        note=f"The baseline is submission {submission.pk}; the worker runs it on the hidden cases.",
    )
