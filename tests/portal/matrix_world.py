"""One world in which every URL of the portal can be filled, for the permission matrix.

A public challenge with a training and a hidden test split, a predictions phase on the training cases
(per-case scores shown to participants), an algorithm phase on the hidden test cases (logs shown to
participants, but never those of hidden cases) and a phase whose leaderboard is not published; two teams
with a scored submission of each kind (the algorithm ones with jobs: the sanity case on a training case,
then the hidden ones), a pending one of team A, an image upload in progress, the leaderboards ranked, a
blinded reader study of team A's algorithm against the reference with its invited reader, and an
annotation campaign of a hidden case given to the same reader with one saved revision; beside it, a
hidden challenge of the same organizer, and an open invitation of team A by link. Its people: team A's
member, team B's member (each their team's captain), the reader, a staff user without any role, and the
organizer (and anonymous visitors, who need no row).

Submission ids, team names and the hidden cases' logs are tell-tale: finding one in what another person
receives is a leak.
"""

import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from rest_framework.authtoken.models import Token

from inference.contract import ISLES24
from portal.accounts.models import ChallengeRole, Invitation, ParticipationRequest, Team, TeamMembership, User
from portal.accounts.services import challenge_role_grant
from portal.algorithms import services as algorithm_services
from portal.algorithms.models import AlgorithmImage, AlgorithmSettings, Job
from portal.annotations import services as annotation_services
from portal.annotations.models import AnnotationAssignment, AnnotationCampaign
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import Case, DataCard, Dataset, DatasetImport, GroundTruth, GroundTruthVersion
from portal.datasets.services import data_terms_accept, release_upload_start
from portal.leaderboards.ensembles import ensemble_create
from portal.leaderboards.models import LeaderboardSettings
from portal.leaderboards.services import leaderboard_rebuild
from portal.readerstudies import services as study_services
from portal.readerstudies.models import ReaderStudy, ReadingItem
from portal.storage import private_file_signed_url
from portal.submissions.models import CaseResult, Submission
from tests.portal.accounts.factories import UserFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory, nifti_bytes

SHAPE = (6, 5, 4)
SPACING_MM = (0.5, 0.5, 2.0)
TRAIN_CASES = ("sub-stroke0001", "sub-stroke0002")
TEST_CASES = ("sub-stroke0100", "sub-stroke0101")
TEAM_A, TEAM_B = "Alpha Stroke Lab", "Beta Perfusion Group"
SUBMISSION_IDS = {
    "a_predictions": 71101,
    "a_pending": 71102,
    "a_algorithm": 71103,
    "b_predictions": 72101,
    "b_algorithm": 72103,
}
HIDDEN_LOG = "log-of-a-hidden-case"
"""What every job on a hidden case printed: only organizers read it."""
PEOPLE = ("anonymous", "team_a", "team_b", "reader", "staff", "organizer")
"""The columns of the matrix, in order."""


def mask_bytes(*, lesion: bool = True) -> bytes:
    """A mask on every case's grid: all lesion, or empty."""
    return nifti_bytes(shape=SHAPE, spacing_mm=SPACING_MM, fill=1 if lesion else 0)


def predictions_zip(case_names: tuple[str, ...]) -> bytes:
    """An archive of one mask per case, as a participant uploads it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in case_names:
            archive.writestr(f"{name}.nii.gz", mask_bytes())
    return buffer.getvalue()


@dataclass(frozen=True)
class World:
    people: dict[str, User | None]
    tokens: dict[str, str]
    ids: dict[str, object]
    """What fills the matrix's URLs: ``{name}`` in a URL is ``ids[name]``."""
    markers: dict[str, tuple[str, ...]]
    """Per team ('team_a', 'team_b'): its name and submission ids, which nobody outside it may read in
    the answers that list or show submissions."""
    hidden: tuple[str, ...]
    """The hidden cases' names."""


def _case(dataset: Dataset, name: str, split: str) -> Case:
    case = CaseFactory(dataset=dataset, name=name, split=split)
    for interface in ISLES24.required_images:  # every input an ISLES'24 container reads
        ImageFactory(case=case, interface=interface.slug, shape=list(SHAPE), spacing_mm=list(SPACING_MM))
    content = mask_bytes()
    GroundTruth.objects.create(
        case=case,
        file=ContentFile(content, name="mask.nii.gz"),
        sha256=hashlib.sha256(content).hexdigest(),
        shape=list(SHAPE),
        spacing_mm=list(SPACING_MM),
        lesion_volume_ml=0.06,
        source_encoding="uint8 {0, 1}",
    )
    return case


def _scores(submission: Submission, cases: list[Case], dice: float) -> None:
    CaseResult.objects.bulk_create(
        CaseResult(
            submission=submission,
            case=case,
            metrics={
                "dice": dice,
                "absolute_volume_difference_ml": 1 - dice,
                "absolute_lesion_count_difference": 0,
                "lesion_f1": dice,
                "reference_volume_ml": 0.06,
                "predicted_volume_ml": 0.06 * dice,
            },
        )
        for case in cases
    )


def _predictions(*, name: str, phase: Phase, user: User, team: Team, status: str) -> Submission:
    content = predictions_zip(TRAIN_CASES)
    return Submission.objects.create(
        pk=SUBMISSION_IDS[name],
        phase=phase,
        creator=user,
        team=team,
        kind=Phase.SubmissionKind.PREDICTIONS,
        file=ContentFile(content, name="predictions.zip"),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        status=status,
    )


def _algorithm(
    *, name: str, phase: Phase, user: User, team: Team, sanity: Case, cases: list[Case]
) -> Submission:
    archive = f"the image archive of {team.name}".encode()
    submission = Submission.objects.create(
        pk=SUBMISSION_IDS[name],
        phase=phase,
        creator=user,
        team=team,
        kind=Phase.SubmissionKind.ALGORITHM,
        file=ContentFile(archive, name="image.tar.gz"),
        sha256=hashlib.sha256(archive).hexdigest(),
        size_bytes=len(archive),
        status=Submission.Status.SUCCEEDED,
    )
    AlgorithmImage.objects.create(
        submission=submission,
        phase=phase,
        file=submission.file.name,
        sha256=submission.sha256,
        size_bytes=submission.size_bytes,
        image_id=f"sha256:{submission.sha256}",
        status=AlgorithmImage.Status.ACCEPTED,
    )
    for case in (sanity, *cases):
        job = Job(
            submission=submission,
            case=case,
            is_sanity=case == sanity,
            status=Job.Status.SUCCEEDED,
            stdout_tail="segmenting the sanity case" if case == sanity else HIDDEN_LOG,
        )
        job.segmentation.save("segmentation.nii.gz", ContentFile(mask_bytes()), save=False)
        job.save()
    return submission


@dataclass(frozen=True)
class _Cast:
    team_a: User
    team_b: User
    reader: User
    staff: User
    organizer: User
    teams: dict[str, Team]

    @property
    def people(self) -> dict[str, User | None]:
        return {"anonymous": None, **{person: getattr(self, person) for person in PEOPLE[1:]}}


def _cast(challenge: Challenge) -> _Cast:
    """The people of the matrix, each given their role by the one service that keeps people on one side."""
    users = {person: UserFactory(username=person, is_staff=person == "staff") for person in PEOPLE[1:]}
    teams = {}
    for person, team_name in (("team_a", TEAM_A), ("team_b", TEAM_B)):
        challenge_role_grant(user=users[person], challenge=challenge, role=ChallengeRole.Role.PARTICIPANT)
        teams[person] = Team.objects.create(challenge=challenge, name=team_name, captain=users[person])
        TeamMembership.objects.create(team=teams[person], user=users[person], challenge=challenge)
    challenge_role_grant(user=users["reader"], challenge=challenge, role=ChallengeRole.Role.READER)
    challenge_role_grant(user=users["organizer"], challenge=challenge, role=ChallengeRole.Role.ORGANIZER)
    return _Cast(teams=teams, **users)


def _phases(challenge: Challenge, dataset: Dataset) -> dict[str, Phase]:
    """The training phase (predictions), the final one (algorithms, on the hidden cases), one whose
    leaderboard is not published and an external-validation one (the organizers re-run algorithms on it),
    with their settings."""
    phases = {
        slug: PhaseFactory(
            challenge=challenge,
            dataset=dataset,
            slug=slug,
            title=slug.capitalize(),
            order=order,
            split=split,
            submission_kind=kind,
            daily_submission_limit=10,
            total_submission_limit=20,
        )
        for order, (slug, split, kind) in enumerate(
            [
                ("training", Split.TRAIN, Phase.SubmissionKind.PREDICTIONS),
                ("final", Split.TEST, Phase.SubmissionKind.ALGORITHM),
                ("unpublished", Split.TRAIN, Phase.SubmissionKind.PREDICTIONS),
                ("validation", Split.TEST, Phase.SubmissionKind.ALGORITHM),
            ]
        )
    }
    Phase.objects.filter(pk=phases["validation"].pk).update(is_validation=True)
    phases["validation"].is_validation = True
    AlgorithmSettings.objects.create(phase=phases["final"], logs_visible_to_participants=True)
    AlgorithmSettings.objects.create(phase=phases["validation"])
    LeaderboardSettings.objects.create(phase=phases["training"], show_case_scores_to_participants=True)
    LeaderboardSettings.objects.create(phase=phases["final"])
    LeaderboardSettings.objects.create(
        phase=phases["unpublished"], publication=LeaderboardSettings.Publication.MANUAL
    )
    return phases


def _submissions(
    cast: _Cast, phases: dict[str, Phase], train: list[Case], test: list[Case]
) -> dict[str, Submission]:
    """Each team's scored predictions and algorithm, team A's pending predictions; the ranks."""
    submissions = {}
    for person, team in cast.teams.items():
        user, side = getattr(cast, person), person.removeprefix("team_")
        name = f"{side}_predictions"
        submissions[name] = _predictions(
            name=name, phase=phases["training"], user=user, team=team, status=Submission.Status.SUCCEEDED
        )
        _scores(submissions[name], train, dice=0.8 if side == "a" else 0.7)
        name = f"{side}_algorithm"
        submissions[name] = _algorithm(
            name=name, phase=phases["final"], user=user, team=team, sanity=train[0], cases=test
        )
        _scores(submissions[name], test, dice=0.6 if side == "a" else 0.5)
    submissions["a_pending"] = _predictions(
        name="a_pending",
        phase=phases["training"],
        user=cast.team_a,
        team=cast.teams["team_a"],
        status=Submission.Status.PENDING,
    )
    for phase in (phases["training"], phases["final"]):
        leaderboard_rebuild(phase=phase)
    return submissions


def _study(
    cast: _Cast, dataset: Dataset, submission: Submission, on_commit: Callable[..., Any]
) -> tuple[ReaderStudy, ReadingItem]:
    """A prepared study of the hidden cases, the reference against team A's algorithm, and the reader's
    first item. Its title names the team: the reader must never read it."""
    with on_commit(execute=True):
        study = study_services.reader_study_create(
            created_by=cast.organizer,
            challenge=dataset.challenge,
            dataset=dataset,
            split=Split.TEST,
            title=f"{TEAM_A} against the reference",
            sources=[study_services.REFERENCE, submission],
        )
    reader = study_services.study_reader_invite(study=study, user=cast.reader, invited_by=cast.organizer)
    return study, reader.items.order_by("position")[0]


def _campaign(
    cast: _Cast, dataset: Dataset, case: Case, on_commit: Callable[..., Any]
) -> AnnotationAssignment:
    """A prepared campaign of one hidden case for the reader, who has saved one revision."""
    with on_commit(execute=True):
        campaign = annotation_services.annotation_campaign_create(
            created_by=cast.organizer,
            challenge=dataset.challenge,
            dataset=dataset,
            title="Hidden case, drawn again",
            cases=[case],
            images=["non-contrast-ct"],
            starting_mask=AnnotationCampaign.StartingMask.EMPTY,
            annotators=[cast.reader],
        )
    assignment = AnnotationAssignment.objects.get(campaign_case__campaign=campaign, annotator=cast.reader)
    annotation_services.mask_revision_save(
        assignment_id=assignment.pk, user=cast.reader, content=mask_bytes()
    )
    return assignment


def world_build(*, on_commit: Callable[..., Any]) -> World:
    """Build the world; ``on_commit`` is pytest-django's ``django_capture_on_commit_callbacks``, which runs
    the preparation of the study and of the campaign as their services queue it."""
    challenge = ChallengeFactory(slug="isles24", title="ISLES 2024")
    dataset = DatasetFactory(challenge=challenge, slug="release")
    GroundTruthVersion.objects.create(dataset=dataset, number=1, source=GroundTruthVersion.Source.IMPORT)
    train = [_case(dataset, name, Split.TRAIN) for name in TRAIN_CASES]
    test = [_case(dataset, name, Split.TEST) for name in TEST_CASES]
    phases = _phases(challenge, dataset)
    cast = _cast(challenge)
    # Data-use terms the two teams' members have accepted, so that their downloads pass the terms' gate.
    DataCard.objects.create(challenge=challenge, licence="CC BY-NC 4.0", terms="For research only.")
    for member in (cast.team_a, cast.team_b):
        data_terms_accept(user=member, challenge=challenge, consents_to_reruns=True)
    submissions = _submissions(cast, phases, train, test)
    # The organizer's release archive on its way, and an import that ended with its report.
    release_upload = release_upload_start(
        challenge=challenge, user=cast.organizer, file_name="isles24.tar.gz", total_bytes=1000
    )
    dataset_import = DatasetImport.objects.create(
        dataset=dataset,
        source_path="isles24.tar.gz",
        split=Split.TRAIN,
        cases_imported=2,
        status=DatasetImport.Status.SUCCEEDED,
        report={"cases": 2, "images": 2, "masks": 2, "missing_files": {}, "problems": []},
    )
    upload = algorithm_services.algorithm_upload_start(
        phase=phases["final"], user=cast.team_a, total_bytes=1000
    )
    study, item = _study(cast, dataset, submissions["a_algorithm"], on_commit)
    # The organizer's ensemble of the two algorithms; its build is queued after a commit that never comes.
    ensemble = ensemble_create(
        phase=phases["final"],
        user=cast.organizer,
        members=[submissions["a_algorithm"].pk, submissions["b_algorithm"].pk],
        rule="majority_vote",
    )
    assignment = _campaign(cast, dataset, test[0], on_commit)
    hidden_challenge = ChallengeFactory(slug="isles25-private", title="ISLES 2025", is_public=False)
    invitation = Invitation.objects.create(
        team=cast.teams["team_a"], invited_by=cast.team_a, token="an-invitation-of-team-a-by-link"
    )
    challenge_role_grant(user=cast.organizer, challenge=hidden_challenge, role=ChallengeRole.Role.ORGANIZER)
    # A public challenge organized by someone of no column: the organizer column is refused its organizer
    # pages as the others are. The organizer may create challenges, as the site admin lets organizers do.
    other_challenge = ChallengeFactory(slug="isles23", title="ISLES 2023")
    other_organizer = challenge_role_grant(
        user=UserFactory(username="elsewhere"), challenge=other_challenge, role=ChallengeRole.Role.ORGANIZER
    )
    cast.organizer.user_permissions.add(
        Permission.objects.get(content_type__app_label="challenges", codename="add_challenge")
    )
    # Someone of no column asked to take part (made while the organizers approved participants).
    participation_request = ParticipationRequest.objects.create(
        user=UserFactory(username="applicant"), challenge=challenge
    )

    people = cast.people
    # A signed link to a hidden case's mask: the signature is the permission, whoever holds it.
    signed_mask_url = private_file_signed_url(test[0].ground_truths.get().file.name, max_age_s=3600)
    ids: dict[str, object] = {
        "challenge": challenge.slug,
        "hidden_challenge": hidden_challenge.slug,
        "other_challenge": other_challenge.slug,
        "dataset": dataset.slug,
        "dataset_pk": dataset.pk,
        **{slug: phase.slug for slug, phase in phases.items()},
        "final_pk": phases["final"].pk,
        "train_case": train[0].pk,
        "test_case": test[0].pk,
        "train_mask": train[0].ground_truths.get().pk,
        "test_mask": test[0].ground_truths.get().pk,
        "train_image": train[0].images.get(interface="non-contrast-ct").pk,
        "test_image": test[0].images.get(interface="non-contrast-ct").pk,
        **SUBMISSION_IDS,
        "upload": upload.pk,
        "release_upload": release_upload.pk,
        "dataset_import": dataset_import.pk,
        "study": study.pk,
        "ensemble": ensemble.pk,
        "item": item.token,
        "mask": item.token_a,
        "campaign": assignment.campaign_case.campaign_id,
        "assignment": assignment.pk,
        "invitation": invitation.token,
        "team_a_user": cast.team_a.pk,
        "reader_role": ChallengeRole.objects.get(user=cast.reader, challenge=challenge).pk,
        "other_organizer_role": other_organizer.pk,
        "participation_request": participation_request.pk,
        "signed_file": signed_mask_url.split("/")[-2],
    }
    return World(
        people=people,
        tokens={person: Token.objects.create(user=user).key for person, user in people.items() if user},
        ids=ids,
        markers={
            person: (team.name, *(str(pk) for name, pk in SUBMISSION_IDS.items() if name[0] == person[-1]))
            for person, team in cast.teams.items()
        },
        hidden=TEST_CASES,
    )
