"""A phase that takes predicted masks on two hidden test cases, its people, and archives of masks."""

import hashlib
import io
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token

from portal.accounts.models import ChallengeRole, Team, User
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, GroundTruth
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, TeamMembershipFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory, ImageFactory

SHAPE = (6, 5, 4)
SPACING_MM = (0.5, 0.5, 2.0)
CASE_NAMES = ("sub-stroke0100", "sub-stroke0101")


def mask_bytes(
    *,
    shape: Sequence[int] = SHAPE,
    lesion: bool = True,
    suffix: str = ".nii.gz",
    spacing_mm: Sequence[float] = SPACING_MM,
) -> bytes:
    """A uint8 mask (x, y, z = ``shape``) with a 2x2x2 lesion in a corner, or empty; on the cases'
    spacing unless ``spacing_mm`` says another."""
    voxels = np.zeros(tuple(reversed(shape)), dtype=np.uint8)
    if lesion:
        voxels[:2, :2, :2] = 1
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(tuple(spacing_mm[: len(shape)]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"mask{suffix}"
        sitk.WriteImage(image, str(path))
        return path.read_bytes()


def zip_bytes(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def tar_gz_bytes(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def good_masks() -> dict[str, bytes]:
    """One correct mask per case, inside a folder as participants often send them."""
    return {f"predictions/{name}_lesion-msk.nii.gz": mask_bytes() for name in CASE_NAMES}


def upload(content: bytes, name: str = "predictions.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/zip")


@dataclass(frozen=True)
class OpenPhase:
    phase: Phase
    cases: tuple[Case, ...]
    participant: User
    teammate: User
    team: Team
    loner: User

    def upload_good(self) -> SimpleUploadedFile:
        return upload(zip_bytes(good_masks()))


def _ground_truth(case: Case) -> GroundTruth:
    content = mask_bytes()
    sha256 = hashlib.sha256(content).hexdigest()
    return GroundTruth.objects.create(
        case=case,
        file=ContentFile(content, name="mask.nii.gz"),
        sha256=sha256,
        shape=list(SHAPE),
        spacing_mm=list(SPACING_MM),
        lesion_volume_ml=8 * 0.5 * 0.5 * 2.0 / 1000,
        source_encoding="uint8 {0, 1}",
    )


@pytest.fixture
def open_phase(db: None) -> OpenPhase:
    """An open predictions phase (2 per day, 3 in total) on two test cases whose ground truth is known."""
    phase = PhaseFactory(
        submission_kind=Phase.SubmissionKind.PREDICTIONS,
        split=Split.TEST,
        daily_submission_limit=2,
        total_submission_limit=3,
    )
    cases = []
    for name in CASE_NAMES:
        case = CaseFactory(dataset=phase.dataset, name=name, split=Split.TEST)
        ImageFactory(case=case, interface="non-contrast-ct", shape=list(SHAPE), spacing_mm=list(SPACING_MM))
        _ground_truth(case)
        cases.append(case)
    CaseFactory(dataset=phase.dataset, name="sub-stroke0001", split=Split.TRAIN)
    team = TeamFactory(challenge=phase.challenge, name="Penumbra")
    people = []
    for username in ("participant", "teammate", "loner"):
        people.append(
            ChallengeRoleFactory(
                challenge=phase.challenge, role=ChallengeRole.Role.PARTICIPANT, user__username=username
            ).user
        )
    TeamMembershipFactory(team=team, user=people[0])
    TeamMembershipFactory(team=team, user=people[1])
    return OpenPhase(phase, tuple(cases), people[0], people[1], team, people[2])


@dataclass(frozen=True)
class People:
    open_phase: OpenPhase
    users: dict[str, User | None]

    def client(self, person: str) -> Client:
        user = self.users[person]
        if user is None:
            return Client()
        token, _ = Token.objects.get_or_create(user=user)
        return Client(headers={"authorization": f"Token {token.key}"})


@pytest.fixture
def people(open_phase: OpenPhase) -> People:
    """The phase's team members, a member of another team, an organizer, an expert reader and nobody."""
    challenge = open_phase.phase.challenge
    other_team = TeamFactory(challenge=challenge, name="Core")
    other = ChallengeRoleFactory(challenge=challenge, user__username="other_team").user
    TeamMembershipFactory(team=other_team, user=other)
    users: dict[str, User | None] = {
        "anonymous": None,
        "participant": open_phase.participant,
        "teammate": open_phase.teammate,
        "other_team": other,
    }
    for role in (ChallengeRole.Role.ORGANIZER, ChallengeRole.Role.READER):
        username = role.value.lower()
        users[username] = ChallengeRoleFactory(challenge=challenge, role=role, user__username=username).user
    return People(open_phase, users)
