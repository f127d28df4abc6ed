"""One person, one side, and one rule for "organizer of this challenge".

Someone who takes part in a challenge (its participant role, or a member of one of its teams) never reads
or annotates its hidden test cases and never organizes it; an organizer or expert reader never takes part.
Django's ``is_staff`` grants nothing on challenge data.
"""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from portal.accounts.admin import ChallengeRoleForm
from portal.accounts.models import ChallengeRole
from portal.accounts.selectors import user_is_organizer, user_roles
from portal.challenges.models import Split
from portal.readerstudies import services as study_services
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamMembershipFactory, UserFactory
from tests.portal.readerstudies.conftest import StudyMaker, StudyWorld

Role = ChallengeRole.Role


def _api_join(user: object, slug: str) -> int:
    token = Token.objects.create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client.post(f"/api/challenges/{slug}/join/").status_code


def test_an_expert_reader_cannot_join_the_challenge_through_the_api(study_world: StudyWorld) -> None:
    reader = study_world.person("reader")

    status = _api_join(reader, study_world.phase.challenge.slug)

    assert status == 400
    assert Role.PARTICIPANT not in user_roles(user=reader, challenge=study_world.phase.challenge)


def test_a_participant_cannot_be_invited_to_read_hidden_test_cases(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    study = make_study(split=Split.TEST)
    participant = study_world.person("participant")

    with pytest.raises(ValidationError, match="takes part"):
        study_services.study_reader_invite(
            study=study, user=participant, invited_by=study_world.person("organizer")
        )

    assert not study.readers.filter(user=participant).exists()
    assert Role.READER not in user_roles(user=participant, challenge=study.challenge)


def test_a_team_member_without_a_participant_role_is_on_the_participants_side(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    member = TeamMembershipFactory(
        team__challenge=study_world.phase.challenge, challenge=study_world.phase.challenge
    ).user
    study = make_study(split=Split.TEST)

    with pytest.raises(ValidationError, match="takes part"):
        study_services.study_reader_invite(
            study=study, user=member, invited_by=study_world.person("organizer")
        )


def test_the_invited_reader_of_hidden_cases_becomes_an_expert_reader_and_then_cannot_join(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    newcomer = UserFactory()
    study = make_study(split=Split.TEST)

    study_services.study_reader_invite(study=study, user=newcomer, invited_by=study_world.person("organizer"))

    assert user_roles(user=newcomer, challenge=study.challenge) == {Role.READER}
    assert _api_join(newcomer, study.challenge.slug) == 400


def test_the_admin_refuses_a_role_that_puts_a_person_on_both_sides(study_world: StudyWorld) -> None:
    form = ChallengeRoleForm(
        data={
            "user": study_world.person("participant").pk,
            "challenge": study_world.phase.challenge.pk,
            "role": Role.READER,
        }
    )

    assert not form.is_valid()
    assert "takes part" in str(form.errors)


def test_is_staff_alone_grants_nothing_on_challenge_data(
    client: Client, make_study: StudyMaker, study_world: StudyWorld
) -> None:
    staff = UserFactory(is_staff=True)
    study = make_study()
    client.force_login(staff)

    assert not user_is_organizer(user=staff, challenge=study.challenge)
    assert client.get(reverse("readerstudy-results", args=[study.pk])).status_code == 404
    assert client.get(reverse("submission-detail", args=[study_world.submission.pk])).status_code == 404
    assert client.get(f"/api/phases/{study_world.phase.slug}/submissions/").json() == []


def test_an_organizer_of_another_challenge_sees_nothing_of_this_one(
    client: Client, make_study: StudyMaker, study_world: StudyWorld
) -> None:
    elsewhere = ChallengeRoleFactory(role=Role.ORGANIZER).user
    study = make_study()
    client.force_login(elsewhere)

    assert client.get(reverse("readerstudy-results", args=[study.pk])).status_code == 404
    assert client.get(reverse("submission-detail", args=[study_world.submission.pk])).status_code == 404
