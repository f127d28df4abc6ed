"""What a kind of submission must do, and the registry of kinds: submissions are plug-ins of this app.

The submissions app owns a submission's life cycle (limits, the state machine, the check and evaluation
steps, scoring, cleanup); a kind says what its upload is and where its masks come from. Predictions (an
archive of masks, ``portal.submissions.predictions``) and algorithm containers (``portal.algorithms.kind``)
each implement ``SubmissionKind`` in their own module and register themselves when Django starts, so this
app never imports the apps above it. Other apps ask the kind of a submission for its masks
(``submission_masks_copy`` in the services), never branch on the kind themselves.
"""

import datetime
from pathlib import Path
from typing import ClassVar

from portal.submissions.models import Submission


class SubmissionKind:
    """One kind of submission; the defaults suit a kind whose upload is all there is (predictions)."""

    value: ClassVar[str]
    """The ``Phase.SubmissionKind`` value of the phases that take this kind."""
    is_organizers_own: ClassVar[bool] = False
    """The organizers' own work (an ensemble, a validation re-run): no team's, counted toward no limit, so
    what the portal tells of it speaks to the organizer, never of a team's limits."""

    def check(self, *, submission: Submission, scratch: Path) -> list[str]:
        """Check the stored upload with no lock held; one sentence per problem, none when it may be scored.
        ``scratch`` is a folder of the check's own, removed afterwards."""
        raise NotImplementedError

    def scoring_start(self, *, submission: Submission) -> None:
        """Start scoring a locked submission that passed its checks and is now EVALUATING: queue its
        evaluation (``submission_evaluation_queue``) after the commit, or the work that comes first."""
        raise NotImplementedError

    def check_only_start(self, *, submission: Submission) -> bool:
        """Start what a locked check-only try that passed its checks still runs before it is CHECKED, and
        say whether there is such work (the submission then goes EVALUATING, and the kind ends it with
        ``submission_check_only_pass`` or FAILED); False, the default, when the checks are all it runs.
        Nothing started here may score it or run it on the phase's cases."""
        return False

    def masks_copy(self, *, submission: Submission, folder: Path) -> dict[str, Path]:
        """Local copies of the submission's masks, by case name, in ``folder`` (storage may be remote)."""
        raise NotImplementedError

    def cases_not_run(self, *, submission: Submission) -> frozenset[str]:
        """Names of the phase's cases the submission was not run on for a reason that is the data's, not
        the submission's (a validation case lacking an input its containers read): they are not scored.
        None by default: a case without a mask is the submission's miss and gets the worst values."""
        return frozenset()

    def ended_tell(self, *, submission: Submission) -> bool:
        """The locked submission has just ended (scored, failed or cancelled), inside the transaction that
        ended it: tell whom its end concerns (after the commit), and say whether that replaces the e-mail
        to its creator about this one submission. By default nothing more is told, and the creator is
        e-mailed (False)."""
        return False

    def steps_requeue(self, *, submission: Submission) -> int:
        """Queue again the locked EVALUATING submission's own unfinished work (an organizer re-queues a stuck
        submission); how much was queued, 0 when it has none and its evaluation itself is stuck."""
        return 0

    def steps_stop(self, *, submission: Submission) -> None:
        """Stop the locked submission's own work not yet started (an organizer stopped it)."""

    def file_forget(self, *, submission: Submission) -> None:
        """Forget, in this kind's own rows, the upload of a submission whose file is being removed."""

    def file_in_use(self, *, name: str) -> bool:
        """Whether this kind's own rows still name the stored file ``name``."""
        return False

    def files_expire(self, *, now: datetime.datetime) -> int:
        """Remove this kind's stored files no one needs any more (e.g. uploads never completed); how many."""
        return 0


_KINDS: dict[str, SubmissionKind] = {}


def submission_kind_register(kind: SubmissionKind) -> None:
    """Make ``kind`` the implementation of its ``value`` (registering a value again replaces it)."""
    _KINDS[kind.value] = kind


def submission_kind_get(value: str) -> SubmissionKind:
    """The kind registered for ``value``; ``LookupError`` when its app is not installed."""
    try:
        return _KINDS[value]
    except KeyError:
        raise LookupError(f"No submission kind {value!r} is registered; is its app installed?") from None


def submission_kinds() -> tuple[SubmissionKind, ...]:
    """Every registered kind."""
    return tuple(_KINDS.values())
