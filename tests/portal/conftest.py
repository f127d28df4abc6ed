"""A challenge with one training and one hidden test case, and a person in each role (and none)."""

from dataclasses import dataclass

import pytest

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import Dataset, Image
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory


@dataclass(frozen=True)
class ChallengeWithPeople:
    challenge: Challenge
    dataset: Dataset
    train_image: Image
    test_image: Image
    people: dict[str, User | None]

    def release_test_images(self) -> Phase:
        """Open a phase that takes predicted masks on the hidden test cases."""
        return PhaseFactory(
            challenge=self.challenge,
            dataset=self.dataset,
            split=Split.TEST,
            submission_kind=Phase.SubmissionKind.PREDICTIONS,
        )


@pytest.fixture
def world(db: None) -> ChallengeWithPeople:
    """A public challenge whose only phase takes algorithm containers (the test images stay hidden)."""
    challenge = ChallengeFactory(slug="isles24", title="ISLES 2024")
    dataset = DatasetFactory(challenge=challenge, slug="release")
    PhaseFactory(
        challenge=challenge,
        dataset=dataset,
        slug="final",
        title="Final",
        split=Split.TEST,
        submission_kind=Phase.SubmissionKind.ALGORITHM,
    )
    train_case = CaseFactory(
        dataset=dataset,
        name="sub-stroke0001",
        split=Split.TRAIN,
        admission_data={"baseline": {"nihss": 12}},
        outcome_data={"outcome": {"mrs_90d": 2}},
    )
    test_case = CaseFactory(dataset=dataset, name="sub-stroke0100", split=Split.TEST)
    people: dict[str, User | None] = {"anonymous": None, "outsider": UserFactory(username="outsider")}
    for role in ChallengeRole.Role:
        people[role.value.lower()] = ChallengeRoleFactory(
            challenge=challenge, role=role, user__username=role.value.lower()
        ).user
    return ChallengeWithPeople(
        challenge=challenge,
        dataset=dataset,
        train_image=ImageFactory(case=train_case),
        test_image=ImageFactory(case=test_case),
        people=people,
    )
