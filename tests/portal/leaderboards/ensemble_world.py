"""The world of the ensemble tests: three teams' algorithm submissions whose jobs stored real small NIfTI
masks, scored by the real evaluation step, and their majority vote built and scored, so that every number
on the ensemble's pages comes from the same code as in production. Test modules make it with
``ensemble_world_make`` and ``ensemble_built`` from their fixtures (``django_capture_on_commit_callbacks``
runs each step's next step, as a worker would)."""

import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from django.core.files.base import ContentFile
from django.test import Client

from portal.accounts.models import ChallengeRole, User
from portal.algorithms.models import Job
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, GroundTruth
from portal.leaderboards import ensembles
from portal.leaderboards.models import Ensemble
from portal.submissions.models import Submission
from portal.submissions.services import submission_evaluate
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, TeamMembershipFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory, ImageFactory

OnCommit = Callable[..., AbstractContextManager[Any]]
"""pytest-django's ``django_capture_on_commit_callbacks``."""

SHAPE_XYZ = (6, 5, 4)
SPACING_MM = (0.5, 0.5, 2.0)
CASES = ("sub-stroke0100", "sub-stroke0101", "sub-stroke0102")
Box = tuple[slice, slice, slice]  # (z, y, x)
# The reference lesion of every case, and each member's: three different masks, so that the majority differs
# from each of them. Member "Gamma" has no output for the last case (its job failed).
REFERENCE: Box = (slice(0, 2), slice(0, 2), slice(0, 2))
MEMBERS: dict[str, tuple[Box, ...]] = {
    "Alpha": ((slice(0, 2), slice(0, 2), slice(0, 2)),) * 3,
    "Beta": (
        (slice(0, 2), slice(0, 3), slice(0, 3)),
        (slice(0, 1), slice(0, 2), slice(0, 2)),
        (slice(1, 3), slice(1, 4), slice(1, 4)),
    ),
    "Gamma": ((slice(1, 3), slice(0, 2), slice(0, 3)), (slice(0, 2), slice(0, 3), slice(0, 2))),
}


def mask_array(box: Box) -> np.ndarray:
    voxels = np.zeros(tuple(reversed(SHAPE_XYZ)), dtype=np.uint8)
    voxels[box] = 1
    return voxels


def nifti(voxels: np.ndarray, *, spacing_mm: tuple[float, ...] = SPACING_MM) -> bytes:
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(spacing_mm)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.nii.gz"
        sitk.WriteImage(image, str(path))
        return path.read_bytes()


@dataclass(frozen=True)
class EnsembleWorld:
    phase: Phase
    cases: tuple[Case, ...]
    organizer: User
    participant: User
    members: dict[str, Submission]

    def client(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client


def _algorithm_submission(*, phase: Phase, name: str, cases: tuple[Case, ...]) -> Submission:
    """A team's algorithm submission whose jobs stored ``MEMBERS[name]``'s masks, scored by the evaluation."""
    team = TeamFactory(challenge=phase.challenge, name=name)
    user = ChallengeRoleFactory(
        challenge=phase.challenge, role=ChallengeRole.Role.PARTICIPANT, user__username=name.lower()
    ).user
    TeamMembershipFactory(team=team, user=user)
    submission = Submission.objects.create(
        phase=phase,
        creator=user,
        team=team,
        kind=Submission.Kind.ALGORITHM,
        file=ContentFile(name.encode(), name="image.tar.gz"),
        sha256=name.lower().ljust(64, "0"),
        size_bytes=len(name),
        status=Submission.Status.EVALUATING,
    )
    for case, box in zip(cases, MEMBERS[name], strict=False):
        job = Job(submission=submission, case=case, status=Job.Status.SUCCEEDED)
        job.segmentation.save("segmentation.nii.gz", ContentFile(nifti(mask_array(box))), save=False)
        job.save()
    for case in cases[len(MEMBERS[name]) :]:
        Job.objects.create(
            submission=submission, case=case, status=Job.Status.FAILED, failure="Out of memory."
        )
    submission_evaluate(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SUCCEEDED
    return submission


def ensemble_world_make(*, capture: OnCommit) -> EnsembleWorld:
    """Three teams' algorithm submissions (Alpha, Beta, Gamma) on three hidden test cases, each scored by
    the evaluation from the masks its jobs stored (Gamma's last job failed), and an organizer."""
    phase = PhaseFactory(submission_kind=Phase.SubmissionKind.ALGORITHM, split=Split.TEST)
    cases = []
    for name in CASES:
        case = CaseFactory(dataset=phase.dataset, name=name, split=Split.TEST)
        ImageFactory(
            case=case, interface="non-contrast-ct", shape=list(SHAPE_XYZ), spacing_mm=list(SPACING_MM)
        )
        content = nifti(mask_array(REFERENCE))
        GroundTruth.objects.create(
            case=case,
            file=ContentFile(content, name="mask.nii.gz"),
            sha256=str(hash(content)).ljust(64, "0")[:64],
            shape=list(SHAPE_XYZ),
            spacing_mm=list(SPACING_MM),
            lesion_volume_ml=0.004,
            source_encoding="uint8 {0, 1}",
        )
        cases.append(case)
    organizer = ChallengeRoleFactory(
        challenge=phase.challenge, role=ChallengeRole.Role.ORGANIZER, user__username="organizer"
    ).user
    with capture(execute=True):
        members = {
            name: _algorithm_submission(phase=phase, name=name, cases=tuple(cases)) for name in MEMBERS
        }
    return EnsembleWorld(phase, tuple(cases), organizer, members["Alpha"].creator, members)


def ensemble_built(*, world: EnsembleWorld, capture: OnCommit) -> Ensemble:
    """The majority vote of the three members, built and scored."""
    with capture(execute=True):
        ensemble = ensembles.ensemble_create(
            phase=world.phase,
            user=world.organizer,
            members=[member.pk for member in world.members.values()],
            rule="majority_vote",
        )
    ensemble.refresh_from_db()
    return ensemble
