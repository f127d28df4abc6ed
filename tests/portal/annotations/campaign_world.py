"""A small annotation campaign world: a dataset of three training cases (a 6x5x4 CT, a Tmax map whose
right half is over 6 s, and an imported reference mask), a phase scored on them, and people in every
role a campaign knows. Shared by the service, API and browser tests."""

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from django.core.files.base import ContentFile

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, GroundTruth, GroundTruthVersion
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory, ImageFactory

SHAPE = (6, 5, 4)
"""Voxels along x, y, z."""
SPACING_MM = (0.5, 0.5, 2.0)
CASE_NAMES = ("sub-stroke0001", "sub-stroke0002", "sub-stroke0003")


def volume_bytes(
    voxels: np.ndarray, *, shape: Sequence[int] = SHAPE, spacing_mm: Sequence[float] = SPACING_MM
) -> bytes:
    """The bytes of a .nii.gz of ``voxels`` (z, y, x) with the given spacing."""
    assert voxels.shape == tuple(reversed(shape))
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(tuple(spacing_mm))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.nii.gz"
        sitk.WriteImage(image, str(path))
        return path.read_bytes()


def tmax_map() -> np.ndarray:
    """A Tmax map (z, y, x) in seconds: 9 s on the right half (x >= 3), 2 s elsewhere."""
    tmax = np.full(tuple(reversed(SHAPE)), 2.0, dtype=np.float32)
    tmax[:, :, 3:] = 9.0
    return tmax


def empty_mask() -> np.ndarray:
    return np.zeros(tuple(reversed(SHAPE)), dtype=np.uint8)


@dataclass(frozen=True)
class CampaignWorld:
    phase: Phase
    cases: tuple[Case, ...]
    people: dict[str, User]


def campaign_world_create(*, split: str = Split.TRAIN) -> CampaignWorld:
    """Build the world (the browser tests need it in a transactional database too); ``split`` is the
    cases' and the phase's (the hidden test cases, for a campaign whose consensus re-scores a phase)."""
    phase = PhaseFactory(split=split, title="Training leaderboard" if split == Split.TRAIN else "Final")
    GroundTruthVersion.objects.create(
        dataset=phase.dataset, number=1, source=GroundTruthVersion.Source.IMPORT
    )
    cases = []
    for name in CASE_NAMES:
        case = CaseFactory(dataset=phase.dataset, name=name, split=split)
        ImageFactory(case=case, interface="non-contrast-ct", shape=list(SHAPE), spacing_mm=list(SPACING_MM))
        ImageFactory(
            case=case,
            interface="preprocessed-tmax-map",
            shape=list(SHAPE),
            spacing_mm=list(SPACING_MM),
            pixel_type="float32",
            content=volume_bytes(tmax_map()),
        )
        content = volume_bytes(empty_mask())
        GroundTruth.objects.create(
            case=case,
            file=ContentFile(content, name="mask.nii.gz"),
            sha256=hashlib.sha256(content).hexdigest(),
            shape=list(SHAPE),
            spacing_mm=list(SPACING_MM),
            lesion_volume_ml=0.0,
            source_encoding="uint8 {0, 1}",
        )
        cases.append(case)
    people = {"outsider": UserFactory(username="outsider")}
    for username, role in (
        ("organizer", ChallengeRole.Role.ORGANIZER),
        ("reader", ChallengeRole.Role.READER),
        ("second_reader", ChallengeRole.Role.READER),
        ("third_reader", ChallengeRole.Role.READER),
        ("participant", ChallengeRole.Role.PARTICIPANT),
    ):
        people[username] = ChallengeRoleFactory(
            challenge=phase.challenge, role=role, user__username=username
        ).user
    return CampaignWorld(phase, tuple(cases), people)
