"""A challenge with a training and a test case, their ground truth, and submissions of real mask archives,
for the review of masks against the ground truth (shared by the review tests and the browser tests)."""

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from django.core.files.base import ContentFile

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import Case, GroundTruth
from portal.submissions.models import Submission
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory

SHAPE_ZYX = (4, 5, 6)
SPACING_MM = (0.5, 0.5, 2.0)
ORIGIN_MM = (-10.0, 20.0, 5.0)


def volume_bytes(voxels: np.ndarray, *, spacing_mm: Sequence[float] = SPACING_MM) -> bytes:
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(tuple(spacing_mm))
    image.SetOrigin(ORIGIN_MM)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        return path.read_bytes()


def ground_truth_voxels(shape_zyx: Sequence[int] = SHAPE_ZYX) -> np.ndarray:
    """A 2x2x2 lesion in slices 0-1: against ``prediction_voxels``, 4 voxels each of TP, FP and FN."""
    voxels = np.zeros(tuple(shape_zyx), dtype=np.uint8)
    voxels[0:2, 0:2, 0:2] = 1
    return voxels


def prediction_voxels(shape_zyx: Sequence[int] = SHAPE_ZYX) -> np.ndarray:
    """The lesion one slice higher, in slices 1-2, stored as a participant might: uint16 {0, 65535}."""
    voxels = np.zeros(tuple(shape_zyx), dtype=np.uint16)
    voxels[1:3, 0:2, 0:2] = 65535
    return voxels


def zip_of(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def ground_truth_create(case: Case, voxels: np.ndarray) -> GroundTruth:
    content = volume_bytes(voxels)
    return GroundTruth.objects.create(
        case=case,
        file=ContentFile(content, name="mask.nii.gz"),
        sha256=hashlib.sha256(content).hexdigest(),
        shape=list(reversed(voxels.shape)),
        spacing_mm=list(SPACING_MM),
        lesion_volume_ml=float(voxels.sum()) * 0.5 * 0.5 * 2.0 / 1000,
        source_encoding="uint8 {0, 1}",
    )


def submission_create(
    phase: Phase, creator: User, masks: Mapping[str, bytes], status: str = Submission.Status.SUCCEEDED
) -> Submission:
    """A submission row holding a real archive of the masks (made directly; its rules are tested apart)."""
    content = zip_of({f"predictions/{name}_lesion-msk.nii.gz": mask for name, mask in masks.items()})
    return Submission.objects.create(
        phase=phase,
        creator=creator,
        kind=Phase.SubmissionKind.PREDICTIONS,
        file=ContentFile(content, name="predictions.zip"),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        status=status,
    )


@dataclass(frozen=True)
class ReviewWorld:
    challenge: Challenge
    train_phase: Phase
    test_phase: Phase
    train_case: Case
    test_case: Case
    participant: User
    other_participant: User
    organizer: User
    prediction: np.ndarray

    def submit(self, phase: Phase, status: str = Submission.Status.SUCCEEDED) -> Submission:
        """The participant's submission of the world's prediction for every case of the phase."""
        cases = [self.train_case] if phase == self.train_phase else [self.test_case]
        return submission_create(
            phase, self.participant, {case.name: volume_bytes(self.prediction) for case in cases}, status
        )


def review_world_create(
    *,
    ground_truth: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    ncct: np.ndarray | None = None,
) -> ReviewWorld:
    """A challenge with a training and an open test phase, one case each with an NCCT and ground truth.

    By default ``ground_truth_voxels``, ``prediction_voxels`` and a flat NCCT on the ground truth's grid.
    """
    ground_truth = ground_truth_voxels() if ground_truth is None else ground_truth
    prediction = prediction_voxels() if prediction is None else prediction
    challenge = ChallengeFactory(slug="isles24", title="ISLES 2024")
    dataset = DatasetFactory(challenge=challenge, slug="release")
    phases = {
        split: PhaseFactory(challenge=challenge, dataset=dataset, split=split, slug=f"phase-{split.lower()}")
        for split in (Split.TRAIN, Split.TEST)
    }
    cases = {}
    for split, name in ((Split.TRAIN, "sub-stroke0001"), (Split.TEST, "sub-stroke0100")):
        case = CaseFactory(dataset=dataset, name=name, split=split)
        ct = np.full(ground_truth.shape, 35, dtype=np.int16) if ncct is None else ncct
        content = volume_bytes(ct)
        ImageFactory(
            case=case,
            interface="non-contrast-ct",
            shape=list(reversed(ct.shape)),
            spacing_mm=list(SPACING_MM),
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            file=ContentFile(content, name="ncct.nii.gz"),
        )
        ground_truth_create(case, ground_truth)
        cases[split] = case
    people = {
        username: ChallengeRoleFactory(challenge=challenge, role=role, user__username=username).user
        for username, role in (
            ("participant", ChallengeRole.Role.PARTICIPANT),
            ("other", ChallengeRole.Role.PARTICIPANT),
            ("organizer", ChallengeRole.Role.ORGANIZER),
        )
    }
    return ReviewWorld(
        challenge=challenge,
        train_phase=phases[Split.TRAIN],
        test_phase=phases[Split.TEST],
        train_case=cases[Split.TRAIN],
        test_case=cases[Split.TEST],
        participant=people["participant"],
        other_participant=people["other"],
        organizer=people["organizer"],
        prediction=prediction,
    )


def read_label(content: bytes) -> sitk.Image:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "overlap.nii.gz"
        path.write_bytes(content)
        return sitk.ReadImage(str(path))


def label_counts(content: bytes) -> dict[int, int]:
    """How many voxels of the overlap volume hold each label (zeros, which depend on its box, left out)."""
    values, counts = np.unique(sitk.GetArrayFromImage(read_label(content)), return_counts=True)
    return {value: count for value, count in zip(values.tolist(), counts.tolist(), strict=True) if value != 0}
