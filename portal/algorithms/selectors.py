"""Reads of the algorithms app that encode a rule: a phase's sandbox settings, and who reads job logs."""

import uuid

from django.db.models import QuerySet

from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.algorithms.models import AlgorithmSettings, AlgorithmUpload, Job
from portal.challenges.models import Phase
from portal.submissions.models import Submission
from portal.submissions.selectors import submission_is_submitter


def algorithm_settings_get(*, phase: Phase) -> AlgorithmSettings:
    """The phase's algorithm settings, or the defaults (unsaved) when an organizer has set none."""
    found = AlgorithmSettings.objects.filter(phase=phase).first()
    return AlgorithmSettings(phase=phase) if found is None else found


def algorithm_upload_get_for(*, user: User, upload_id: uuid.UUID | str) -> AlgorithmUpload:
    """The user's own upload; ``AlgorithmUpload.DoesNotExist`` for anyone else's (shown as a 404)."""
    return AlgorithmUpload.objects.select_related("phase").get(pk=upload_id, user=user)


def job_list_for_submission(*, submission: Submission) -> QuerySet[Job]:
    """The submission's jobs, the sanity job first, then by case name."""
    return submission.jobs.select_related("case").order_by("-is_sanity", "case__name")


def job_logs_visible_to(*, user: User, submission: Submission) -> bool:
    """Whether the user may read the logs of the submission's jobs: organizers of the challenge always,
    the submitting team only when the phase's algorithm settings show logs to participants."""
    if user_is_organizer(user=user, challenge=submission.phase.challenge_id):
        return True
    settings = algorithm_settings_get(phase=submission.phase)
    return settings.logs_visible_to_participants and submission_is_submitter(submission=submission, user=user)
