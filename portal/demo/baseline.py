"""The demo's baseline of the final phase: the reference algorithm ``threshold`` (Tmax > 6 s), submitted by a
team of its own through the same upload, checks and jobs as any participant's image; and two variants of
it (the same code with other arguments, ``BASELINE_VARIANTS``), each a team of its own, so that the demo
has three algorithms to combine into an ensemble as DeepISLES combined three.

The image is built from the repository's Dockerfile on the offline base image (``docker/reference/build.sh``:
about two minutes the first time, with debootstrap and a Docker engine); later runs find it and the
submission already there. A variant is an image ``FROM`` it whose only change is its command (built in a
second). Without a Docker engine the demo runs on without a baseline and says why.
"""

import io
import json
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
class BaselineVariant:
    """The ``threshold`` algorithm run with other arguments, as a team of its own."""

    image: str
    username: str
    team_name: str
    arguments: tuple[str, ...]


BASELINE_VARIANTS = (
    BaselineVariant(
        image="isles-reference/threshold-core",
        username="baseline-core",
        team_name="Baseline: core (Tmax > 6 s and relative CBF < 30 %)",
        arguments=("--with-cbf",),
    ),
    BaselineVariant(
        image="isles-reference/threshold-tmax8",
        username="baseline-tmax8",
        team_name="Baseline: threshold (Tmax > 8 s)",
        arguments=("--tmax-threshold-s", "8"),
    ),
)


@dataclass(frozen=True)
class DemoBaseline:
    """The baseline submission, or None with the sentence that says why there is none."""

    submission: Submission | None
    note: str


def _image_present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _threshold_image_build(client: docker.DockerClient, *, say: Callable[[str], object]) -> str | None:
    """Build the ``threshold`` image from the repository's code, or bring it up to date; None when it is,
    else the sentence that says why not. The build's layers are cached, so an image of today's code is found
    in a fraction of a second, and one built by an earlier demo from older code is rebuilt instead of being
    run with arguments it does not know."""
    present = _image_present(client, BASELINE_IMAGE)
    if not present:
        say(f"Building {BASELINE_IMAGE} for the baseline (the first time only, about two minutes).")
    built = subprocess.run(
        [str(BUILD_SCRIPT), "threshold"],
        check=False,
        stdout=subprocess.DEVNULL if present else None,
        stderr=subprocess.PIPE if present else None,
    )
    if built.returncode == 0:
        return None
    said = built.stderr.decode(errors="replace").strip().splitlines() if built.stderr else []
    why = f"({said[-1]})" if said else "(see above)"
    return (
        f"Building {BASELINE_IMAGE} failed {why}, so the final phase has no baseline; fix that and run the "
        f"demo again, or build it yourself with {BUILD_SCRIPT} threshold."
    )


def demo_baseline_register(*, phase: Phase, user: User, say: Callable[[str], object]) -> DemoBaseline:
    """Submit the ``threshold`` image to ``phase`` as ``user`` (the baseline team's member), once; build the
    image of today's code first. ``say`` tells the person running the demo what takes a while.
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
    problem = _threshold_image_build(client, say=say)
    if problem is not None:
        return DemoBaseline(submission=None, note=problem)
    submission = algorithm_baseline_register(phase=phase, user=user, image_tag=BASELINE_IMAGE)
    return DemoBaseline(
        submission=submission,
        note=f"The baseline is submission {submission.pk}; the worker runs it on the hidden cases.",
    )


def demo_baseline_variant_register(
    *,
    phase: Phase,
    user: User,
    variant: BaselineVariant,
    baseline: DemoBaseline,
    say: Callable[[str], object],
) -> DemoBaseline:
    """Submit ``variant`` to ``phase`` as ``user`` (its team's member), once, its image built from the
    baseline's image of today's code; none when the baseline itself has none (its note says why)."""
    existing = (
        Submission.objects.filter(phase=phase, creator=user)
        .exclude(status__in=(Submission.Status.FAILED, Submission.Status.CANCELLED))
        .first()
    )
    if existing is not None:
        return DemoBaseline(submission=existing, note=f"{variant.team_name} is submission {existing.pk}.")
    if baseline.submission is None:
        return DemoBaseline(submission=None, note=baseline.note)
    client = docker.from_env()
    problem = _threshold_image_build(client, say=say)
    if problem is not None:
        return DemoBaseline(submission=None, note=problem)
    dockerfile = f"FROM {BASELINE_IMAGE}\nCMD {json.dumps(list(variant.arguments))}\n"
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=variant.image, rm=True)
    submission = algorithm_baseline_register(phase=phase, user=user, image_tag=variant.image)
    return DemoBaseline(submission=submission, note=f"{variant.team_name} is submission {submission.pk}.")
