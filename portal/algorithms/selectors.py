"""Reads of the algorithms app that encode a rule: a phase's sandbox settings, which case runs first, and
who reads which job's log."""

import uuid
from collections.abc import Sequence

from django.db.models import Count, Q

from inference.contract import INTERFACE_SETS, InterfaceKind
from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.algorithms.models import AlgorithmSettings, AlgorithmUpload, Job
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.submissions.models import Submission
from portal.submissions.selectors import submission_is_submitter


def algorithm_settings_get(*, phase: Phase) -> AlgorithmSettings:
    """The phase's algorithm settings, or the defaults (unsaved) when an organizer has set none."""
    found = AlgorithmSettings.objects.filter(phase=phase).first()
    return AlgorithmSettings(phase=phase) if found is None else found


def algorithm_upload_get_for(*, user: User, upload_id: uuid.UUID | str) -> AlgorithmUpload:
    """The user's own upload; ``AlgorithmUpload.DoesNotExist`` for anyone else's (shown as a 404)."""
    return AlgorithmUpload.objects.select_related("phase").get(pk=upload_id, user=user)


LOGS_OF_ORGANIZERS = "This phase shows its jobs' logs to its organizers only."
LOGS_OF_HIDDEN_CASES = (
    "Logs of hidden test cases are shown to the organizers only: an algorithm can print anything about the "
    "images it reads."
)


def job_list_for_submission(*, submission: Submission, user: User) -> list[Job]:
    """The submission's jobs, the sanity job first, then by case name; each with ``log_hidden``: why the
    user may not read its log (a sentence), or "" when they may.

    Organizers read every log. The submitting team reads the logs of the phase that shows them to
    participants, and never those of a hidden test case, whatever the phase's settings say: a container
    can print anything about a hidden image into its log.
    """
    jobs = list(submission.jobs.select_related("case").order_by("-is_sanity", "case__name"))
    if user_is_organizer(user=user, challenge=submission.phase.challenge_id):
        hidden = {job.pk: "" for job in jobs}
    elif not (
        algorithm_settings_get(phase=submission.phase).logs_visible_to_participants
        and submission_is_submitter(submission=submission, user=user)
    ):
        hidden = {job.pk: LOGS_OF_ORGANIZERS for job in jobs}
    else:
        hidden = {job.pk: LOGS_OF_HIDDEN_CASES if job.case.split == Split.TEST else "" for job in jobs}
    for job in jobs:
        job.log_hidden = hidden[job.pk]  # an attribute of this read, as an annotation would be
    return jobs


def algorithm_sanity_case(*, phase: Phase, cases: Sequence[Case]) -> Case:
    """The case a submission's algorithm runs on first (``cases`` are the phase's, by name), whose log its
    team may read and whose failure stops the others.

    On a phase of hidden test cases it is the first training case of the phase's dataset holding every
    image the phase's containers read, so that its log tells nothing hidden; without one (or on a phase
    of training cases) it is the phase's first case.
    """
    if phase.split != Split.TEST:
        return cases[0]
    interface_set = INTERFACE_SETS[algorithm_settings_get(phase=phase).interface_set]
    needed = {interface.slug for interface in interface_set.inputs if interface.kind == InterfaceKind.IMAGE}
    with_inputs = (
        Case.objects.filter(dataset_id=phase.dataset_id, split=Split.TRAIN)
        .annotate(inputs=Count("images", filter=Q(images__interface__in=needed)))
        .filter(inputs=len(needed))
        .order_by("name")
    )
    return with_inputs.first() or cases[0]
