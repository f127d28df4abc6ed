"""Where a submission's scores go once they are known, decided by the app that publishes them.

The leaderboards app sits above this one: it ranks the submissions' results, decides who may read a
submission's per-case scores and which of a team's submissions its board counts. So that this app never
imports it, the publisher registers itself when Django starts (``results_publisher_register``); without
one, per-case scores are for the challenge's organizers only and nothing is told when results change.
"""

from typing import Protocol

from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.challenges.models import Phase
from portal.submissions.models import Submission


class ResultsPublisher(Protocol):
    """The rules of the app that publishes results."""

    def case_results_visible(self, *, user: User, submission: Submission) -> bool:
        """Whether the user may read the submission's per-case scores."""
        ...

    def results_changed(self, *, phase_id: int) -> None:
        """The phase's results changed (a submission was scored or re-scored): bring what is published up to
        date. Called inside the transaction that changed them; queue work with ``transaction.on_commit``."""
        ...

    def counted_submission_sentence(self, *, phase: Phase) -> str:
        """Which of a team's submissions the phase's results count (the selected, the latest or the
        best), in a sentence shown beside "Select as final"."""
        ...

    def submission_ended(self, *, submission_id: int) -> None:
        """The submission ended (scored, failed or cancelled): what waits for it may go on (an ensemble
        of re-runs waits for its members). Called inside the transaction that ended it."""
        ...


_publishers: list[ResultsPublisher] = []


def results_publisher_register(publisher: ResultsPublisher) -> None:
    """Make ``publisher`` the one that decides and is told (registering again replaces it)."""
    _publishers[:] = [publisher]


def submission_case_results_visible_to(*, user: User, submission: Submission) -> bool:
    """Whether the user may read the submission's per-case scores: the publisher's rule, and otherwise the
    challenge's organizers only."""
    if _publishers:
        return _publishers[0].case_results_visible(user=user, submission=submission)
    return user_is_organizer(user=user, challenge=submission.phase.challenge_id)


def phase_results_changed(*, phase_id: int) -> None:
    """Tell the publisher that the phase's results changed."""
    for publisher in _publishers:
        publisher.results_changed(phase_id=phase_id)


def submission_ended_tell(*, submission_id: int) -> None:
    """Tell the publisher that the submission ended."""
    for publisher in _publishers:
        publisher.submission_ended(submission_id=submission_id)


def phase_counted_submission_sentence(*, phase: Phase) -> str:
    """Which of a team's submissions counts in the phase's results, in the publisher's sentence; without
    a publisher, nothing is ranked and the sentence says so."""
    if _publishers:
        return _publishers[0].counted_submission_sentence(phase=phase)
    return "No leaderboard counts this phase's submissions."
