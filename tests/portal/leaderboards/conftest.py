"""A phase with three hidden test cases and three scored submitters (two teams and a participant without
one), a person in every role, and per-case results small enough to rank by hand."""

from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from django.test import Client

from portal.accounts.models import ChallengeRole, Team, User
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, GroundTruth
from portal.leaderboards.models import LeaderboardSettings
from portal.submissions.models import CaseResult, Submission
from tests.portal.accounts.factories import (
    ChallengeRoleFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory

CASES = ("sub-stroke0100", "sub-stroke0101", "sub-stroke0102")
METRICS = ("dice", "absolute_volume_difference_ml", "absolute_lesion_count_difference", "lesion_f1")

# Per submitter, per case: dice, volume difference (ml), lesion count difference, lesion F1. The ranks
# these give are worked out by hand in test_services.py.
TABLE: Mapping[str, tuple[tuple[float, float, float, float], ...]] = {
    "Alpha": ((0.9, 1.0, 0, 1.0), (0.5, 5.0, 1, 0.5), (0.8, 2.0, 0, 1.0)),
    "Beta": ((0.8, 2.0, 0, 0.5), (0.6, 1.0, 0, 1.0), (0.7, 3.0, 1, 0.0)),
    "carol": ((0.7, 3.0, 0, 0.5), (0.4, 9.0, 2, 0.0), (0.9, 1.0, 0, 1.0)),
}
REFERENCE_VOLUMES_ML = (10.0, 20.0, 40.0)
CLINICAL = tuple(
    {
        "admission_data": {"demographic_baseline": {"nihss_admission": nihss}},
        "outcome_data": {"outcome": {"mrs_90d": mrs}},
    }
    for nihss, mrs in ((4, 1), (9, 2), (15, "n/a"))
)


def case_metrics(values: tuple[float, float, float, float], reference_ml: float) -> dict[str, float]:
    metrics = dict(zip(METRICS, values, strict=True))
    metrics["reference_volume_ml"] = reference_ml
    metrics["predicted_volume_ml"] = reference_ml + values[1]
    return metrics


def succeeded_submission(*, phase: Phase, creator: User, team: Team | None) -> Submission:
    """A SUCCEEDED submission of the phase's kind, without results yet."""
    return Submission.objects.create(
        phase=phase,
        creator=creator,
        team=team,
        kind=phase.submission_kind,
        file="submissions/example.zip",
        sha256="0" * 64,
        size_bytes=1,
        status=Submission.Status.SUCCEEDED,
    )


def ground_truth_recorded(*, case: Case, version: int, lesion_volume_ml: float) -> GroundTruth:
    """The row of a case's reference mask with its lesion volume (the file itself is not needed by the
    derived case attributes, which read the volume)."""
    return GroundTruth.objects.create(
        case=case,
        version=version,
        file="x",
        sha256="0" * 64,
        shape=[1, 1, 1],
        spacing_mm=[1, 1, 1],
        lesion_volume_ml=lesion_volume_ml,
    )


def scored_submission(
    *, phase: Phase, creator: User, team: Team | None, rows: tuple[tuple[float, float, float, float], ...]
) -> Submission:
    """A SUCCEEDED submission with one result per case of the phase."""
    submission = succeeded_submission(phase=phase, creator=creator, team=team)
    cases = Case.objects.filter(dataset=phase.dataset, split=phase.split).order_by("name")
    CaseResult.objects.bulk_create(
        CaseResult(submission=submission, case=case, metrics=case_metrics(values, reference_ml))
        for case, values, reference_ml in zip(cases, rows, REFERENCE_VOLUMES_ML, strict=True)
    )
    return submission


@dataclass(frozen=True)
class Board:
    phase: Phase
    people: dict[str, User | None]
    teams: dict[str, Team]
    submissions: dict[str, Submission]

    def settings(self, **changes: object) -> LeaderboardSettings:
        settings, _ = LeaderboardSettings.objects.get_or_create(phase=self.phase)
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.save()
        return settings

    def scored_on_training_cases(self) -> None:
        """Make the phase one of training cases (whose reference masks are published with the release),
        where an organizer may show participants their per-case scores."""
        Case.objects.filter(dataset=self.phase.dataset, split=Split.TRAIN).delete()
        Case.objects.filter(dataset=self.phase.dataset).update(split=Split.TRAIN)
        self.phase.split = Split.TRAIN
        self.phase.save(update_fields=["split"])

    def client_for(self, who: str) -> Client:
        client = Client()
        user = self.people[who]
        if user is not None:
            client.force_login(user)
        return client


@pytest.fixture
def board(db: None) -> Board:
    """Alpha (participant and a teammate), Beta (other_team), carol alone; an organizer, a reader, an
    outsider and an anonymous visitor. Every submitter has one scored submission; no ranks yet."""
    challenge = ChallengeFactory(slug="isles24", title="ISLES 2024")
    phase = PhaseFactory(challenge=challenge, slug="final", title="Final", split=Split.TEST)
    for name, clinical in zip(CASES, CLINICAL, strict=True):
        CaseFactory(dataset=phase.dataset, name=name, split=Split.TEST, **clinical)
    CaseFactory(dataset=phase.dataset, name="sub-stroke0001", split=Split.TRAIN)
    people: dict[str, User | None] = {"anonymous": None, "outsider": UserFactory(username="outsider")}
    for who, role in [
        ("participant", ChallengeRole.Role.PARTICIPANT),
        ("teammate", ChallengeRole.Role.PARTICIPANT),
        ("other_team", ChallengeRole.Role.PARTICIPANT),
        ("carol", ChallengeRole.Role.PARTICIPANT),
        ("organizer", ChallengeRole.Role.ORGANIZER),
        ("reader", ChallengeRole.Role.READER),
    ]:
        people[who] = ChallengeRoleFactory(challenge=challenge, role=role, user__username=who).user
    teams = {name: TeamFactory(challenge=challenge, name=name) for name in ("Alpha", "Beta")}
    TeamMembershipFactory(team=teams["Alpha"], user=people["participant"])
    TeamMembershipFactory(team=teams["Alpha"], user=people["teammate"])
    TeamMembershipFactory(team=teams["Beta"], user=people["other_team"])
    submissions = {
        "Alpha": scored_submission(
            phase=phase, creator=people["participant"], team=teams["Alpha"], rows=TABLE["Alpha"]
        ),
        "Beta": scored_submission(
            phase=phase, creator=people["other_team"], team=teams["Beta"], rows=TABLE["Beta"]
        ),
        "carol": scored_submission(phase=phase, creator=people["carol"], team=None, rows=TABLE["carol"]),
    }
    return Board(phase=phase, people=people, teams=teams, submissions=submissions)
