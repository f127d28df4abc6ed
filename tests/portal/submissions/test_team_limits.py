"""The phase's limits across team moves: what a participant submitted counts toward the team they join,
and toward themselves when they leave it, for the rest of the phase."""

import pytest

from portal.accounts.services import invitation_accept, team_invite, team_leave
from portal.submissions.exceptions import SubmissionRefused
from portal.submissions.models import Submission
from portal.submissions.selectors import submission_list_counted
from portal.submissions.services import submission_create
from tests.portal.submissions.conftest import OpenPhase


def _submit(open_phase: OpenPhase, user: object) -> Submission:
    return submission_create(phase=open_phase.phase, user=user, upload=open_phase.upload_good())


def _join(open_phase: OpenPhase, user: object) -> None:
    invitation = team_invite(
        team=open_phase.team, invited_by=open_phase.participant, invitation_url=lambda token: token
    )
    invitation_accept(token=invitation.token, user=user)


def test_submissions_made_alone_count_toward_the_team_one_joins(open_phase: OpenPhase) -> None:
    for _ in range(2):
        _submit(open_phase, open_phase.loner)
    _join(open_phase, open_phase.loner)

    with pytest.raises(SubmissionRefused) as refusal:
        _submit(open_phase, open_phase.participant)

    assert refusal.value.code == "daily_limit"
    assert refusal.value.messages == [
        "Your team has used its 2 submissions for today; the next one is possible after 00:00 UTC."
    ]
    counted = submission_list_counted(
        phase=open_phase.phase, team=open_phase.team, user=open_phase.participant
    )
    assert counted.count() == 2


def test_submissions_made_in_a_team_count_toward_a_member_who_leaves_it(open_phase: OpenPhase) -> None:
    _submit(open_phase, open_phase.teammate)
    _submit(open_phase, open_phase.participant)
    team_leave(challenge=open_phase.phase.challenge, user=open_phase.teammate)

    _submit(open_phase, open_phase.teammate)
    with pytest.raises(SubmissionRefused) as refusal:
        _submit(open_phase, open_phase.teammate)

    assert refusal.value.messages == [
        "You have used your 2 submissions for today; the next one is possible after 00:00 UTC."
    ]
    assert Submission.objects.filter(creator=open_phase.teammate, team__isnull=True).count() == 1


def test_a_former_members_submissions_stay_with_the_team(open_phase: OpenPhase) -> None:
    _submit(open_phase, open_phase.teammate)
    team_leave(challenge=open_phase.phase.challenge, user=open_phase.teammate)

    counted = submission_list_counted(
        phase=open_phase.phase, team=open_phase.team, user=open_phase.participant
    )

    assert counted.count() == 1
