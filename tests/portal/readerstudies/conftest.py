"""A phase of three hidden test cases with reference masks, a team's succeeded predictions submission
stored in tell-tale encodings, and a person in every role a reader study knows; and, for the studies of
algorithms, a final phase on the same cases with a succeeded algorithm submission whose jobs wrote
segmentations."""

import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.files.base import ContentFile

from portal.accounts.models import ChallengeRole, Team, User
from portal.algorithms.models import Job
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, GroundTruth
from portal.readerstudies import services
from portal.readerstudies.models import ReaderStudy
from portal.submissions.models import Submission
from tests.portal.accounts.factories import (
    ChallengeRoleFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory, ImageFactory

SHAPE = (6, 5, 4)
SPACING_MM = (0.5, 0.5, 2.0)
CASE_NAMES = ("sub-stroke0100", "sub-stroke0101", "sub-stroke0102")
TEAM_NAME = "Penumbra Labs"
TOOL_NOTE = "PenumbraNet v2"
SUBMISSION_ID = 4242
"""An id no other row of the tests has, so that finding it in what a reader receives means a leak."""
ALGORITHM_SUBMISSION_ID = 4343
"""The algorithm submission's id, as tell-tale as ``SUBMISSION_ID``."""


def lesion(corner: int) -> np.ndarray:
    """A z, y, x array of the case grid with a 2x2x2 lesion starting at ``corner`` along every axis."""
    voxels = np.zeros(tuple(reversed(SHAPE)), dtype=np.uint8)
    voxels[corner : corner + 2, corner : corner + 2, corner : corner + 2] = 1
    return voxels


def image_bytes(voxels: np.ndarray, *, suffix: str, spacing: bool = True, note: str = "") -> bytes:
    image = sitk.GetImageFromArray(voxels)
    if spacing:
        image.SetSpacing(SPACING_MM)
    if note:
        image.SetMetaData("descrip", note)
        image.SetMetaData("aux_file", note)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"mask{suffix}"
        sitk.WriteImage(image, str(path))
        return path.read_bytes()


def submission_masks() -> dict[str, bytes]:
    """The team's masks: case 0 equals the reference but as uint16 {0, 65535} in an .mha without spacing;
    case 1 is float64 with the team's tool in its header; case 2 is missing (shown as an empty mask)."""
    return {
        f"{CASE_NAMES[0]}.mha": image_bytes(
            lesion(0).astype(np.uint16) * 65535, suffix=".mha", spacing=False
        ),
        f"{CASE_NAMES[1]}_lesion-msk.nii.gz": image_bytes(
            lesion(2).astype(np.float64), suffix=".nii.gz", note=TOOL_NOTE
        ),
    }


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def submission_make(
    *, phase: Phase, creator: User, members: dict[str, bytes], team: object = None, pk: int | None = None
) -> Submission:
    content = zip_bytes(members)
    return Submission.objects.create(
        pk=pk,
        phase=phase,
        creator=creator,
        team=team,
        kind=Phase.SubmissionKind.PREDICTIONS,
        file=ContentFile(content, name="predictions.zip"),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        status=Submission.Status.SUCCEEDED,
    )


def _ground_truth(case: Case) -> None:
    content = image_bytes(lesion(0), suffix=".nii.gz")
    GroundTruth.objects.create(
        case=case,
        file=ContentFile(content, name="mask.nii.gz"),
        sha256=hashlib.sha256(content).hexdigest(),
        shape=list(SHAPE),
        spacing_mm=list(SPACING_MM),
        lesion_volume_ml=8 * 0.5 * 0.5 * 2.0 / 1000,
        source_encoding="uint8 {0, 1}",
    )


@dataclass(frozen=True)
class StudyWorld:
    phase: Phase
    cases: tuple[Case, ...]
    submission: Submission
    people: dict[str, User | None]

    def person(self, role: str) -> User:
        user = self.people[role]
        assert user is not None
        return user


def study_world_create() -> StudyWorld:
    """Build the world (also used by the browser test, which needs it in a transactional database)."""
    phase = PhaseFactory(split=Split.TEST, submission_kind=Phase.SubmissionKind.PREDICTIONS)
    cases = []
    for index, name in enumerate(CASE_NAMES):
        case = CaseFactory(dataset=phase.dataset, name=name, split=Split.TEST)
        # About 40 HU, mid grey in the brain window: the browser tests' pictures (a window dragged, a mask
        # over the CT) must not depend on the factory's fill, which follows the order the tests run in. Each
        # case's CT differs by a unit, so that no two are the same file (the reading page reuses a file it
        # already shows, by its digest).
        ImageFactory(
            case=case,
            interface="non-contrast-ct",
            shape=list(SHAPE),
            spacing_mm=list(SPACING_MM),
            fill=40 + index,
        )
        _ground_truth(case)
        cases.append(case)
    people: dict[str, User | None] = {"anonymous": None, "outsider": UserFactory(username="outsider")}
    for username, role in (
        ("organizer", ChallengeRole.Role.ORGANIZER),
        ("participant", ChallengeRole.Role.PARTICIPANT),
        ("reader", ChallengeRole.Role.READER),
        ("other_reader", ChallengeRole.Role.READER),
        ("uninvited_reader", ChallengeRole.Role.READER),
    ):
        people[username] = ChallengeRoleFactory(
            challenge=phase.challenge, role=role, user__username=username
        ).user
    team = TeamFactory(challenge=phase.challenge, name=TEAM_NAME)
    TeamMembershipFactory(team=team, user=people["participant"])
    submission = submission_make(
        phase=phase, creator=people["participant"], members=submission_masks(), team=team, pk=SUBMISSION_ID
    )
    return StudyWorld(phase, tuple(cases), submission, people)


def algorithm_segmentations() -> dict[str, bytes]:
    """What the team's algorithm wrote per case, by case name: the lesion one voxel further in each case,
    as a float32 image without spacing (containers often write it so)."""
    return {
        name: image_bytes(lesion(1).astype(np.float32), suffix=".nii.gz", spacing=False)
        for name in CASE_NAMES
    }


def algorithm_submission_make(
    *,
    world: StudyWorld,
    creator: User,
    segmentations: dict[str, bytes],
    team: Team | None = None,
    pk: int | None = None,
) -> Submission:
    """A succeeded algorithm submission to the final phase on the world's cases (made by the first call), as
    its jobs leave it: a
    SUCCEEDED job holding its segmentation for each case of ``segmentations``, a FAILED one for the rest."""
    algorithm_phases = Phase.objects.filter(
        challenge=world.phase.challenge, submission_kind=Phase.SubmissionKind.ALGORITHM
    )
    phase = algorithm_phases.first() or PhaseFactory(
        challenge=world.phase.challenge,
        dataset=world.phase.dataset,
        split=Split.TEST,
        submission_kind=Phase.SubmissionKind.ALGORITHM,
        title="Final: algorithm container",
        order=world.phase.order + 1,
    )
    image_archive = b"an image archive the jobs ran"
    submission = Submission.objects.create(
        pk=pk,
        phase=phase,
        creator=creator,
        team=team,
        kind=Phase.SubmissionKind.ALGORITHM,
        file=ContentFile(image_archive, name="image.tar.gz"),
        sha256=hashlib.sha256(image_archive).hexdigest(),
        size_bytes=len(image_archive),
        status=Submission.Status.SUCCEEDED,
    )
    for case in world.cases:
        job = Job(submission=submission, case=case, is_sanity=case == world.cases[0])
        if case.name in segmentations:
            job.status = Job.Status.SUCCEEDED
            job.segmentation.save("segmentation.nii.gz", ContentFile(segmentations[case.name]), save=False)
        else:
            job.status, job.failure = Job.Status.FAILED, "The container wrote no segmentation."
        job.save()
    return submission


@pytest.fixture
def study_world(db: None) -> StudyWorld:
    return study_world_create()


def source_words() -> list[str]:
    """What would name a source: its team, tool, kind, and the submission's id (one no other row has)."""
    return [
        TEAM_NAME,
        TOOL_NOTE,
        "reference",
        "ground",
        "participant",
        "submission",
        "algorithm",
        str(SUBMISSION_ID),
        str(ALGORITHM_SUBMISSION_ID),
    ]


def source_leaks(text: str) -> list[str]:
    """The source words found in ``text``, as whole words ("preference" does not hide "reference")."""
    return [word for word in source_words() if re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE)]


StudyMaker = Callable[..., ReaderStudy]


@pytest.fixture
def make_study(study_world: StudyWorld, django_capture_on_commit_callbacks: Callable) -> StudyMaker:
    """Create a study of the world's phase (reference against the submission by default), prepared."""

    def make(**options: object) -> ReaderStudy:
        arguments = {
            "created_by": study_world.person("organizer"),
            "challenge": study_world.phase.challenge,
            "dataset": study_world.phase.dataset,
            "split": Split.TEST,
            "title": "Reference against Penumbra Labs",
            "sources": [services.REFERENCE, study_world.submission],
            "asks_quality_rating": True,
            "asks_comment": True,
        } | options
        with django_capture_on_commit_callbacks(execute=True):
            study = services.reader_study_create(**arguments)
        study.refresh_from_db()
        return study

    return make


@pytest.fixture
def study(make_study: StudyMaker, study_world: StudyWorld) -> ReaderStudy:
    """A prepared study with two invited readers."""
    made = make_study()
    for username in ("reader", "other_reader"):
        services.study_reader_invite(
            study=made, user=study_world.person(username), invited_by=study_world.person("organizer")
        )
    return made
