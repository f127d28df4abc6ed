"""Everything that can happen to a submission of any kind: creation under the phase's limits, the state
machine, the check and the evaluation, re-scoring, and the cleanup of files.

A submission moves ``PENDING -> CHECKING -> EVALUATING -> SUCCEEDED`` (or ``FAILED``, or ``CANCELLED``).
``submission_create`` (predictions) and the algorithms app (a container) store the upload first, then
``submission_register`` saves the row under the limits and queues the check after the commit. What is
particular to a kind (how its upload is checked, how scoring starts, where its masks come from) is asked
of the kind (``portal.submissions.kinds``); this module never branches on it. The check, the evaluation
and a re-scoring are steps of the step engine (``portal.steps``): ``SubmissionCheck``,
``SubmissionEvaluation`` and ``RescoringRun`` say what each does, the engine claims, runs, records or
fails it with a sentence, and the sweeper takes over from a dead worker. An organizer re-queues a stuck
submission or fails it with a sentence (``submission_requeue``, ``submission_stop``). The results'
publisher (the leaderboards) is told when a phase's results change (``portal.submissions.publication``).

A check-only try (``Submission.check_only``) goes through the same upload, rules of who may submit and
check step, but never to scoring: once its checks pass (and whatever its kind still runs to finish them,
``SubmissionKind.check_only_start``) it ends ``CHECKED``. It does not count toward the phase's limits
and has its own cap, ``CHECK_ONLY_DAILY_LIMIT``.

One submission of a team (or of a participant without a team) is evaluated at a time: the evaluation
step claims a submission only when no other submission of the same submitter in the phase has started
evaluating; otherwise it leaves it EVALUATING and queues itself again ``EVALUATION_WAIT_SECONDS`` later.
"""

import datetime
import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.mail import send_mail, send_mass_mail
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from evaluation.archives import ArchiveLimits
from evaluation.io import read_mask, size_text
from evaluation.profiles import PROFILES, profile_get, profile_with_volumes
from evaluation.scoring import score_case, union_bounding_box
from portal.accounts.models import ChallengeRole, Team, User
from portal.accounts.selectors import user_email_verified, user_is_organizer
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case, Dataset, GroundTruthVersion
from portal.errors import PortalError
from portal.steps.services import (
    CLAIM_FIELDS,
    Step,
    step_is_held,
    step_register,
    step_release,
    step_requeue,
    step_run,
)
from portal.storage import private_storage
from portal.submissions import selectors, tasks
from portal.submissions.exceptions import InvalidTransition, SubmissionRefused, UploadTooLarge
from portal.submissions.kinds import submission_kind_get, submission_kinds
from portal.submissions.models import (
    CaseResult,
    GroundTruthSwitch,
    Rescoring,
    Submission,
    SubmissionStateChange,
)
from portal.submissions.publication import (
    phase_results_changed,
    submission_case_results_visible_to,
    submission_ended_tell,
)

logger = logging.getLogger(__name__)

Status = Submission.Status

# The bounds of any archive of masks the portal opens (predictions, an annotation campaign's masks).
ARCHIVE_LIMITS = ArchiveLimits(max_members=2000, max_total_bytes=8 * 1024**3, max_ratio=500)
# How long a submission that failed (other than by its checks) or was cancelled keeps its upload.
FAILED_FILES_KEPT = datetime.timedelta(days=7)
MAX_STEP_ATTEMPTS = 3
# Check-only tries a team (or a participant without a team) may make to a phase per UTC day, whatever the
# phase's limits: each takes a worker's time (a container's one sanity case for an algorithm), and they
# count toward nothing else, so this is what keeps them from flooding the queues.
CHECK_ONLY_DAILY_LIMIT = 3
CHECK_ONLY_SENTENCE = "Check only: not scored, not counted."
EVALUATION_WAIT_SECONDS = 30
UNEXPECTED_ERROR = "An unexpected error occurred; the organizers have been told. Your quota was not spent."
ORGANIZERS_OWN_UNEXPECTED = "An unexpected error occurred; the worker's log holds its traceback."
WRONG_KIND = {
    Phase.SubmissionKind.ALGORITHM: "This phase takes algorithm containers, not archives of predicted masks.",
    Phase.SubmissionKind.PREDICTIONS: (
        "This phase takes archives of predicted masks, not algorithm containers."
    ),
}

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.CHECKING, Status.FAILED, Status.CANCELLED}),
    Status.CHECKING: frozenset({Status.EVALUATING, Status.CHECKED, Status.FAILED, Status.CANCELLED}),
    Status.EVALUATING: frozenset({Status.SUCCEEDED, Status.CHECKED, Status.FAILED, Status.CANCELLED}),
}
# The end a check-only try never reaches (it is never scored), and the one only it reaches.
NOT_FOR_CHECK_ONLY = frozenset({Status.SUCCEEDED})
ONLY_FOR_CHECK_ONLY = frozenset({Status.CHECKED})


def submission_create(*, phase: Phase, user: User, upload: File, check_only: bool = False) -> Submission:
    """Store the uploaded predictions archive, then create a PENDING submission and queue its checks.

    The file is written to private storage first, under its content's hash, so nothing is lost if the
    rest fails. Raises ``SubmissionRefused`` (a ``ValidationError``) when the phase is not open, takes
    algorithm containers, the user is not a participant, or the team (or the participant without a
    team) has used the phase's daily or total limit; for a ``check_only`` try, ``CHECK_ONLY_DAILY_LIMIT``
    instead of the phase's limits. The limits hold under concurrency: the team's (or user's) row is
    locked before the submissions are counted.
    """
    submission = Submission(
        phase=phase,
        creator=user,
        kind=Phase.SubmissionKind.PREDICTIONS,
        size_bytes=upload.size or 0,
        status=Status.PENDING,
        check_only=check_only,
    )
    submission.sha256 = _sha256(upload)
    _file_store(submission=submission, upload=upload)
    with transaction.atomic():
        submission_register(submission=submission)
    return submission


def submission_register(*, submission: Submission) -> None:
    """Save a new submission whose file is stored, under the phase's rules, PENDING, and queue its checks.

    The caller is inside ``transaction.atomic``; the checks are queued after the commit. The creator's
    team (or the creator without a team) is locked before the submissions are counted, so the limits
    hold under concurrency. Raises ``SubmissionRefused`` as ``submission_create`` does, for either kind.
    """
    user = submission.creator
    submission.team = selectors.submission_team_for(challenge=submission.phase.challenge, user=user)
    _submitter_lock(team=submission.team, user=user)
    _submission_check_allowed(
        phase=submission.phase,
        user=user,
        team=submission.team,
        kind=submission.kind,
        check_only=submission.check_only,
    )
    submission.save()
    SubmissionStateChange.objects.create(
        submission=submission,
        from_status="",
        to_status=Status.PENDING,
        note=f"Uploaded. {CHECK_ONLY_SENTENCE}" if submission.check_only else "Uploaded.",
    )
    transaction.on_commit(partial(tasks.submission_check_task.delay, submission_id=submission.pk))


def submission_refusal_check(*, phase: Phase, user: User, kind: str, check_only: bool = False) -> None:
    """Raise ``SubmissionRefused`` now when a submission of ``kind`` (a check-only try when ``check_only``)
    by the user would be refused.

    For a long upload, so a participant learns before sending gigabytes; ``submission_register`` applies
    the same rule again, under the lock, when the upload is whole.
    """
    team = selectors.submission_team_for(challenge=phase.challenge, user=user)
    _submission_check_allowed(phase=phase, user=user, team=team, kind=kind, check_only=check_only)


def submission_upload_size_check(*, phase: Phase, size_bytes: int | None) -> None:
    """Raise ``UploadTooLarge`` (HTTP 413) when a predictions upload to the phase is over its cap.

    Called with the request's Content-Length before its body is read (None when it has none), and with
    the bytes received so far while the body streams, so a body without a length is stopped at the cap
    too (``portal.submissions.uploads``).
    """
    if size_bytes is not None and size_bytes > phase.upload_max_bytes:
        raise UploadTooLarge(
            f"The upload is larger than {phase.upload_max_mb:,} MB, the most this phase takes; send the "
            "masks gzipped (.nii.gz) in a .zip or .tar.gz.",
            code="too_large",
        )


def submission_transition(*, submission: Submission, to_status: Status, note: str = "") -> None:
    """Move a locked submission to ``to_status``, save it and record the change with its time.

    The caller holds the row's lock inside ``transaction.atomic``. Other fields the caller changed are
    saved too; the step's attempt counter starts again. Raises ``InvalidTransition`` for a change the
    state machine does not allow: a check-only try never SUCCEEDS (it is never scored) and only a
    check-only try ends CHECKED. On SUCCEEDED, FAILED or CANCELLED the kind tells whom the end concerns
    (``SubmissionKind.ended_tell``) and the results' publisher is told (``submission_ended_tell``); on
    SUCCEEDED, CHECKED or FAILED the creator is emailed after the commit, unless the kind told them itself.
    """
    from_status = submission.status
    allowed = ALLOWED_TRANSITIONS.get(from_status, frozenset()) - (
        NOT_FOR_CHECK_ONLY if submission.check_only else ONLY_FOR_CHECK_ONLY
    )
    if to_status not in allowed:
        raise InvalidTransition(f"Submission {submission.pk} cannot go from {from_status} to {to_status}.")
    submission.status = to_status
    submission.attempt = 0
    step_release(submission)
    submission.save()
    SubmissionStateChange.objects.create(
        submission=submission, from_status=from_status, to_status=to_status, note=note
    )
    told = False
    if to_status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED):
        told = submission_kind_get(submission.kind).ended_tell(submission=submission)
        submission_ended_tell(submission_id=submission.pk)
    if to_status in (Status.SUCCEEDED, Status.CHECKED, Status.FAILED) and not told:
        transaction.on_commit(partial(_submission_notify, submission_id=submission.pk))


def submission_check(*, submission_id: int) -> None:
    """Check a PENDING submission's upload, as its kind says: FAILED with every problem listed, or
    EVALUATING and scored as its kind says, or, for a check-only try, CHECKED (``SubmissionCheck``).

    A submission in any other status (or deleted) is left alone. Failed checks spend no quota, since
    FAILED submissions do not count toward the limits.
    """
    step_run(CHECK, pk=submission_id)


def submission_evaluate(*, submission_id: int) -> None:
    """Score an EVALUATING submission case by case, record the means and move it to SUCCEEDED
    (``SubmissionEvaluation``).

    Idempotent: cases that already have a result are not scored again, and a submission in another
    status is left alone. Waits (queues itself again) while another submission of the same team is
    being evaluated. A failure leaves it FAILED with a sentence and emails the creator.
    """
    step_run(EVALUATION, pk=submission_id)


def submission_evaluation_queue(*, submission_id: int) -> None:
    """Queue the evaluation of a submission that is EVALUATING, after the caller's transaction commits."""
    transaction.on_commit(partial(tasks.submission_evaluate_task.delay, submission_id=submission_id))


def submission_masks_copy(*, submission: Submission, folder: Path) -> dict[str, Path]:
    """Local copies of the submission's masks by case name, in ``folder``, as its kind gives them (an
    archive's masks, an algorithm's segmentations); storage may be remote."""
    return submission_kind_get(submission.kind).masks_copy(submission=submission, folder=folder)


def submission_cancel(*, submission_id: int, user: User) -> Submission:
    """Cancel a PENDING or CHECKING submission for its team (or its creator without a team), or as an
    organizer of the challenge; the change is recorded like any other.

    A cancelled submission does not count toward the limits; a check already running finds it CANCELLED
    when it records and leaves it so. Raises ``Submission.DoesNotExist`` when the user may not see it and
    ``ValidationError`` (code ``not_cancellable``) once it is being evaluated or has ended.
    """
    with transaction.atomic():
        selectors.submission_get_visible_to(user=user, submission_id=submission_id)
        submission = Submission.objects.select_for_update(of=("self",)).get(pk=submission_id)
        if submission.status not in (Status.PENDING, Status.CHECKING):
            raise ValidationError(
                f"Submission {submission.pk} is {submission.get_status_display().lower()}; only a pending "
                "or checking submission can be cancelled.",
                code="not_cancellable",
            )
        submission_transition(submission=submission, to_status=Status.CANCELLED, note=f"Cancelled by {user}.")
    return submission


ACTIVE = (Status.PENDING, Status.CHECKING, Status.EVALUATING)
"""Statuses of a submission whose steps have not ended: an organizer may re-queue or stop it."""


def _organizer_lock(*, submission_id: int, user: User) -> Submission:
    """The submission, locked, for an organizer of its challenge. ``Submission.DoesNotExist`` when the
    user may not see it; ``PermissionDenied`` for its own team; ``ValidationError`` once it has ended."""
    submission = selectors.submission_get_visible_to(user=user, submission_id=submission_id)
    if not user_is_organizer(user=user, challenge=submission.phase.challenge_id):
        raise PermissionDenied("Only an organizer of the challenge re-queues or stops a submission.")
    submission = (
        Submission.objects.select_for_update(of=("self",)).select_related("phase").get(pk=submission_id)
    )
    if submission.status not in ACTIVE:
        raise ValidationError(
            f"Submission {submission.pk} is {submission.get_status_display().lower()}: it has ended.",
            code="ended",
        )
    return submission


def submission_requeue(*, submission_id: int, user: User) -> Submission:
    """Queue a stuck submission's current step again, as an organizer of its challenge, its attempts
    counted afresh: its check (PENDING, CHECKING), its algorithm's unfinished jobs, or its evaluation.

    Refused with a sentence (code ``held``) while a live worker holds the step: it is not stuck. Raises as
    ``_organizer_lock`` does. The re-queue is recorded among the submission's changes.
    """
    with transaction.atomic():
        submission = _organizer_lock(submission_id=submission_id, user=user)
        if step_is_held(submission):
            raise ValidationError(
                f"A worker is working on submission {submission.pk} right now (its last sign of life was at "
                f"{submission.heartbeat_at:%H:%M:%S} UTC); re-queue it only if that stops.",
                code="held",
            )
        requeued = 0
        if submission.status == Status.EVALUATING:
            requeued = submission_kind_get(submission.kind).steps_requeue(submission=submission)
        if not requeued:
            step_requeue(submission)
            submission.save(update_fields=CLAIM_FIELDS)
            step = EVALUATION if submission.status == Status.EVALUATING else CHECK
            transaction.on_commit(partial(step.queue, submission.pk))
        what = f"{requeued} unfinished job(s)" if requeued else f"its {_step_name(submission)}"
        SubmissionStateChange.objects.create(
            submission=submission,
            from_status=submission.status,
            to_status=submission.status,
            note=f"{what.capitalize()} queued again by {user.username}.",
        )
    return submission


def submission_stop(*, submission_id: int, user: User, reason: str) -> Submission:
    """FAIL a submission whose steps have not ended, as an organizer of its challenge, with ``reason``
    told to its team (FAILED submissions spend no quota); its algorithm's jobs still queued are cancelled.

    ``reason`` is a sentence of at most 500 characters (``ValidationError`` otherwise); raises as
    ``_organizer_lock`` does.
    """
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise ValidationError("Say in a sentence (at most 500 characters) why the submission is stopped.")
    with transaction.atomic():
        submission = _organizer_lock(submission_id=submission_id, user=user)
        submission.error = f"An organizer stopped this submission: {reason}"
        if not submission_kind_get(submission.kind).is_organizers_own:
            submission.error += " It did not count toward your limits."
        submission_transition(
            submission=submission, to_status=Status.FAILED, note=f"Stopped by {user.username}."
        )
        submission_kind_get(submission.kind).steps_stop(submission=submission)
    return submission


def _step_name(submission: Submission) -> str:
    return "evaluation" if submission.status == Status.EVALUATING else "check"


def submission_steps_register() -> None:
    """Let the step engine's sweeper watch the checks and the evaluations of submissions."""
    step_register(CHECK)
    step_register(EVALUATION)
    step_register(RESCORING)


def submission_file_remove(*, submission_id: int) -> bool:
    """Remove the stored upload of a FAILED, CANCELLED or CHECKED submission; True when a file was removed.

    The submission forgets the file's name (so does its algorithm image). Uploads are stored under their
    content's hash, so two submissions of the same bytes share one file: it is removed only when no other
    row names it (another submission, an algorithm image, an upload not yet completed), and only after
    the row's change is committed. A submission in another status, or whose file is gone, is left alone.
    """
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .filter(pk=submission_id, status__in=(Status.FAILED, Status.CANCELLED, Status.CHECKED))
            .exclude(file="")
            .first()
        )
        if submission is None:
            return False
        name = submission.file.name
        Submission.objects.filter(pk=submission_id).update(file="")
        submission_kind_get(submission.kind).file_forget(submission=submission)
        in_use = Submission.objects.filter(file=name).exists() or any(
            kind.file_in_use(name=name) for kind in submission_kinds()
        )
    if in_use:
        return False
    private_storage().delete(name)
    logger.info("Removed %s, the upload of submission %s.", name, submission_id)
    return True


def submission_files_cleanup(*, now: datetime.datetime | None = None) -> int:
    """Remove the stored uploads no one needs any more and return how many files were removed.

    The archive of a submission refused by its checks, or of a check-only try that passed them, is
    removed at once (``SubmissionCheck.record`` and ``submission_check_only_pass`` do so; this catches one
    whose removal did not happen). Other FAILED and CANCELLED submissions keep
    their files ``FAILED_FILES_KEPT`` after their last change, for organizers to look into, then lose
    them. Uploads of algorithm images never completed are deleted ``UPLOAD_EXPIRY`` (24 h) after they
    started. Files of submissions still being checked or evaluated, and of scored ones (a new ground
    truth version re-scores them), are kept. Safe to run twice, and beside submissions being made.
    """
    now = timezone.now() if now is None else now
    ended_statuses = (Status.FAILED, Status.CANCELLED, Status.CHECKED)
    ended = Submission.objects.filter(status__in=ended_statuses).exclude(file="")
    refused = ended.filter((Q(status=Status.FAILED) & ~Q(problems=[])) | Q(status=Status.CHECKED))
    refused_ids = refused.values_list("pk", flat=True)
    expired = (
        ended.annotate(ended_at=Max("state_changes__at"))
        .filter(ended_at__lt=now - FAILED_FILES_KEPT)
        .values_list("pk", flat=True)
    )
    removed = sum(
        submission_file_remove(submission_id=submission_id)
        for submission_id in sorted({*refused_ids, *expired})
    )
    return removed + sum(kind.files_expire(now=now) for kind in submission_kinds())


def submission_select_final(*, submission_id: int, user: User) -> Submission:
    """Make a SUCCEEDED submission the one its team (or creator without a team) counts as final in its
    phase; the submitter's other submissions to the phase stop being final.

    Only the submitter (a member of the team) chooses. The submitter's row is locked so two choices made
    at once leave exactly one final submission. Raises ``Submission.DoesNotExist`` when the user may not
    see it, ``PermissionDenied`` for an organizer of another team's submission and ``ValidationError``
    (code ``not_succeeded``) for a submission that was not scored.
    """
    with transaction.atomic():
        submission = selectors.submission_get_visible_to(user=user, submission_id=submission_id)
        if not selectors.submission_is_submitter(submission=submission, user=user):
            raise PermissionDenied("Only the team that made a submission chooses its final one.")
        _submitter_lock(team=submission.team, user=submission.creator)
        submission.refresh_from_db()
        if submission.status != Status.SUCCEEDED:
            raise ValidationError(
                "Only a submission that was scored can be your final one.", code="not_succeeded"
            )
        selectors.submission_list_of_submitter(
            phase=submission.phase, team=submission.team, user=submission.creator
        ).filter(is_final_selection=True).exclude(pk=submission.pk).update(is_final_selection=False)
        submission.is_final_selection = True
        submission.save(update_fields=["is_final_selection"])
    return submission


class OverlapLabel(IntEnum):
    """The voxel values of the overlap label volume of a submission's mask against the ground truth."""

    BACKGROUND = 0
    TRUE_POSITIVE = 1
    FALSE_POSITIVE = 2
    FALSE_NEGATIVE = 3


def submission_case_overlap_label(*, submission: Submission, case: Case) -> bytes:
    """The ground truth against the submission's mask of one case, as one uint8 ``.nii.gz`` label volume.

    Voxels are ``OverlapLabel`` values (1 true positive, 2 false positive, 3 false negative, 0 elsewhere),
    against the ground-truth version the phase is scored on; a case without a mask counts as an empty mask.
    The volume is the box of the ground truth's grid (the case's NCCT geometry) around the labelled voxels,
    its first voxel when there are none, placed there by its origin: a lesion fills a small part of a
    head, and the viewer, which puts the box back in place, then inflates and reads megabytes fewer.
    Both masks are binarised as the evaluation does (``> 0``). The volume is kept in private storage under
    ``selectors.submission_case_overlap_key``, so it is computed once per mask and ground truth.
    The caller checks who may see it. Raises ``LookupError`` when the case has no ground truth and
    ``ValueError`` (a sentence naming both sizes) when the mask is not on the case's grid.
    """
    ground_truth = selectors.phase_case_ground_truth(phase=submission.phase, case=case)
    if ground_truth is None:
        raise LookupError(f"Case {case.name} has no ground truth to compare with.")
    key = selectors.submission_case_overlap_key(submission=submission, ground_truth=ground_truth)
    name = f"reviews/{key[:2]}/{key}.nii.gz"
    storage = private_storage()
    if storage.exists(name):
        with storage.open(name, "rb") as cached:
            return cached.read()
    with tempfile.TemporaryDirectory(prefix="submission-review-") as folder_name:
        folder = Path(folder_name)
        ground_truth_path = phase_ground_truth_copy(phase=submission.phase, case=case, folder=folder)
        prediction_path = submission_masks_copy(submission=submission, folder=folder / "masks").get(case.name)
        content = _overlap_label_bytes(ground_truth_path=ground_truth_path, prediction_path=prediction_path)
    # Two first views at once both compute; the second save gets another name and the key's file stays.
    storage.save(name, ContentFile(content))
    return content


def _overlap_label_bytes(*, ground_truth_path: Path, prediction_path: Path | None) -> bytes:
    ground_truth = read_mask(ground_truth_path).array
    prediction = np.zeros_like(ground_truth) if prediction_path is None else read_mask(prediction_path).array
    if prediction.shape != ground_truth.shape:
        raise ValueError(
            f"The mask is {size_text(prediction.shape[::-1])} voxels but the ground truth is "
            f"{size_text(ground_truth.shape[::-1])}."
        )
    label = np.zeros(ground_truth.shape, dtype=np.uint8)
    label[ground_truth & prediction] = OverlapLabel.TRUE_POSITIVE
    label[~ground_truth & prediction] = OverlapLabel.FALSE_POSITIVE
    label[ground_truth & ~prediction] = OverlapLabel.FALSE_NEGATIVE
    reader: Any = sitk.ImageFileReader()  # Any: SimpleITK's methods carry no annotations
    reader.SetFileName(str(ground_truth_path))
    reader.ReadImageInformation()
    image: Any = sitk.GetImageFromArray(label)
    image.SetSpacing(reader.GetSpacing())
    image.SetOrigin(reader.GetOrigin())
    image.SetDirection(reader.GetDirection())
    box = union_bounding_box(ground_truth, prediction)
    if any(axis.start == axis.stop for axis in box):  # nothing labelled: the first voxel
        box = tuple(slice(0, 1) for _ in box)
    # SimpleITK's slicing (x, y, z) moves the origin to the box's first voxel.
    cropped = image[tuple(reversed(box))]
    output = ground_truth_path.with_name("overlap.nii.gz")
    sitk.WriteImage(cropped, str(output), useCompression=True)
    return output.read_bytes()


def _sha256(upload: File) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _file_store(*, submission: Submission, upload: File) -> None:
    """Write the upload under its content-addressed name, unless those bytes are already stored."""
    storage = submission.file.storage
    name = submission.file.field.generate_filename(submission, upload.name or "")
    if not storage.exists(name):
        name = storage.save(name, upload)
    submission.file.name = name


def _submitter_lock(*, team: Team | None, user: User) -> None:
    """Lock the row the limits are counted for, so concurrent submissions of one submitter take turns."""
    if team is not None:
        Team.objects.select_for_update().filter(pk=team.pk).first()
    else:
        User.objects.select_for_update().filter(pk=user.pk).first()


def _submission_check_allowed(
    *, phase: Phase, user: User, team: Team | None, kind: str, check_only: bool
) -> None:
    if phase.is_validation:
        raise SubmissionRefused(
            "This is an external-validation phase: it takes no submissions, and the organizers run chosen "
            "algorithms on it.",
            code="validation_phase",
        )
    if not phase.is_open:
        raise SubmissionRefused("This phase does not take submissions now.", code="phase_closed")
    if phase.submission_kind != kind:
        raise SubmissionRefused(WRONG_KIND[phase.submission_kind], code="wrong_kind")
    if not ChallengeRole.objects.filter(
        user=user, challenge_id=phase.challenge_id, role=ChallengeRole.Role.PARTICIPANT
    ).exists():
        raise SubmissionRefused("Join the challenge before you submit to it.", code="not_participant")
    if not user_email_verified(user=user) and not Submission.objects.filter(creator=user).exists():
        raise SubmissionRefused(
            f"Confirm your e-mail address before your first submission: follow the link we sent to "
            f"{user.email}, or ask for a new one at {reverse('account_email')}.",
            code="email_unverified",
        )
    whose, has = ("Your team", "its") if team is not None else ("You", "your")
    day_start = timezone.now().astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if check_only:
        tries = selectors.submission_list_check_only(phase=phase, team=team, user=user, since=day_start)
        if tries.count() >= CHECK_ONLY_DAILY_LIMIT:
            raise SubmissionRefused(
                f"{whose} {'has' if team else 'have'} used {has} {CHECK_ONLY_DAILY_LIMIT} check-only tries "
                "of this phase for today; the next one is possible after 00:00 UTC, and real submissions "
                "are not affected.",
                code="check_only_limit",
            )
        return
    counted = selectors.submission_list_counted(phase=phase, team=team, user=user)
    if counted.count() >= phase.total_submission_limit:
        raise SubmissionRefused(
            f"{whose} {'has' if team else 'have'} used all {_submissions(phase.total_submission_limit)} "
            "of this phase.",
            code="total_limit",
        )
    if counted.filter(created_at__gte=day_start).count() >= phase.daily_submission_limit:
        raise SubmissionRefused(
            f"{whose} {'has' if team else 'have'} used {has} {_submissions(phase.daily_submission_limit)} "
            "for today; the next one is possible after 00:00 UTC.",
            code="daily_limit",
        )


def _submissions(count: int) -> str:
    return f"{count} submission" if count == 1 else f"{count} submissions"


def _submission_lock_waiting(*, submission_id: int) -> Submission | None:
    """The submission row, locked for this transaction, waiting for the lock; None if it was deleted."""
    return (
        Submission.objects.select_for_update(of=("self",))
        .select_related("phase")
        .filter(pk=submission_id)
        .first()
    )


class SubmissionStep(Step[Submission, Any]):
    """What the check and the evaluation of a submission share: its row, its failure, its sentences."""

    model = Submission
    max_attempts = MAX_STEP_ATTEMPTS
    unexpected = UNEXPECTED_ERROR
    afterword = "Your quota was not spent; the organizers have been told."

    def rows(self) -> QuerySet[Submission]:
        return Submission.objects.select_related("phase")

    def fail(self, row: Submission, *, sentence: str, note: str) -> None:
        if submission_kind_get(row.kind).is_organizers_own:
            # The engine's own sentences tell a participant about their quota; an organizer's ensemble or
            # re-run spends none, and its reader is the organizer.
            sentence = sentence.replace(self.unexpected, ORGANIZERS_OWN_UNEXPECTED)
            sentence = sentence.replace(self.afterword, "")
        row.error = sentence.strip()
        submission_transition(submission=row, to_status=Status.FAILED, note=note)


class SubmissionCheck(SubmissionStep):
    """PENDING -> CHECKING -> EVALUATING (scored as the kind says) or FAILED with one sentence per problem;
    a check-only try that passes ends CHECKED, or runs what its kind still checks first (EVALUATING).

    A check is claimed again only when its worker died, so past ``MAX_STEP_ATTEMPTS`` claims the submission
    FAILS: an archive that kills workers cannot loop for ever.
    """

    name = "submission check"
    statuses = (Status.PENDING, Status.CHECKING)

    def queue(self, pk: int) -> None:
        tasks.submission_check_task.delay(submission_id=pk)

    def begin(self, row: Submission) -> list[str]:
        if row.status == Status.PENDING:
            submission_transition(submission=row, to_status=Status.CHECKING)
        return []

    def work(self, row: Submission, scratch: Path) -> list[str]:
        return submission_kind_get(row.kind).check(submission=row, scratch=scratch)

    def record(self, row: Submission, result: list[str]) -> None:
        if result:
            row.problems = result
            several = len(result) > 1
            row.error = (
                f"The archive has {len(result)} problem{'s' if several else ''}; "
                f"fix {'them' if several else 'it'} and submit again "
                "(this one did not count toward your limits)."
            )
            submission_transition(submission=row, to_status=Status.FAILED, note="Checks failed.")
            # A refused upload leaves nothing behind (the cleanup task catches a removal that fails here).
            transaction.on_commit(partial(submission_file_remove, submission_id=row.pk), robust=True)
            return
        if not row.check_only:
            submission_transition(submission=row, to_status=Status.EVALUATING, note="Checks passed.")
            submission_kind_get(row.kind).scoring_start(submission=row)
        elif submission_kind_get(row.kind).check_only_start(submission=row):
            submission_transition(
                submission=row,
                to_status=Status.EVALUATING,
                note=f"Checks passed; the sanity case runs, nothing is scored. {CHECK_ONLY_SENTENCE}",
            )
        else:
            submission_check_only_pass(submission=row, note="Checks passed.")


def submission_check_only_pass(*, submission: Submission, note: str) -> None:
    """End a locked check-only try that passed every check CHECKED, with ``note`` (what passed), and
    remove its upload after the commit: nothing of it is scored or kept.

    Called by the check step, or by the kind once the work its ``check_only_start`` began has passed (a
    container's sanity case). Raises ``InvalidTransition`` for a submission that is not a check-only try.
    """
    submission_transition(
        submission=submission, to_status=Status.CHECKED, note=f"{note} {CHECK_ONLY_SENTENCE}"
    )
    transaction.on_commit(partial(submission_file_remove, submission_id=submission.pk), robust=True)


class SubmissionEvaluation(SubmissionStep):
    """EVALUATING -> SUCCEEDED with every case scored on the phase's ground-truth version, or FAILED.

    One submission of a submitter is evaluated at a time: the submitter's row is locked before the
    submission's, and a submission whose submitter has another one being evaluated waits (queues itself
    again ``EVALUATION_WAIT_SECONDS`` later). The result of the work is the ground-truth version scored.
    """

    name = "submission evaluation"
    statuses = (Status.EVALUATING,)

    def queue(self, pk: int) -> None:
        tasks.submission_evaluate_task.delay(submission_id=pk)

    def lock(self, pk: int, *, nowait: bool) -> Submission | None:
        row = Submission.objects.filter(pk=pk).values("team_id", "creator_id").first()
        if row is None:
            return None
        if row["team_id"] is not None:
            Team.objects.select_for_update().filter(pk=row["team_id"]).first()
        else:
            User.objects.select_for_update().filter(pk=row["creator_id"]).first()
        return super().lock(pk, nowait=nowait)

    def ready(self, row: Submission) -> bool:
        if row.check_only:
            logger.info("Submission %s is a check-only try; it is never evaluated.", row.pk)
            return False
        running = (
            selectors.submission_list_of_submitter(phase=row.phase, team=row.team, user=row.creator)
            .filter(status=Status.EVALUATING, evaluation_started_at__isnull=False)
            .exclude(pk=row.pk)
            .first()
        )
        if running is None:
            return True
        logger.info("Submission %s waits for submission %s to be evaluated.", row.pk, running.pk)
        transaction.on_commit(
            partial(
                tasks.submission_evaluate_task.apply_async,
                kwargs={"submission_id": row.pk},
                countdown=EVALUATION_WAIT_SECONDS,
            )
        )
        return False

    def begin(self, row: Submission) -> list[str]:
        if row.evaluation_started_at is not None:
            return []
        row.evaluation_started_at = timezone.now()
        return ["evaluation_started_at"]

    def work(self, row: Submission, scratch: Path) -> int:
        _cases_score(submission=row, folder=scratch)
        return row.phase.ground_truth_version

    def record(self, row: Submission, result: int) -> None:
        """Record the means of the results on version ``result`` and move the submission to SUCCEEDED.

        If the phase switched versions while the cases were scored, the submission is re-scored on the new
        one after the commit. The phase's row is locked, so a switch either commits first (and is seen
        here) or after (and its re-scoring of the phase finds this submission SUCCEEDED).
        """
        current_version = _phase_ground_truth_version_lock(phase_id=row.phase_id)
        results = list(CaseResult.objects.filter(submission=row, ground_truth_version=result))
        profile = profile_get(name=row.phase.metric_profile)
        row.metrics_mean = _metric_means(results=results, keys=profile.metric_keys)
        submission_transition(
            submission=row, to_status=Status.SUCCEEDED, note=f"Scored on {len(results)} cases."
        )
        if current_version != result:
            rescoring_request(phase_id=row.phase_id, version=current_version)
        phase_results_changed(phase_id=row.phase_id)


CHECK = SubmissionCheck()
EVALUATION = SubmissionEvaluation()


def _cases_score(*, submission: Submission, folder: Path) -> None:
    """Score every case of the phase that has no complete result on the phase's ground-truth version yet
    (but the cases its kind did not run for the data's sake, ``SubmissionKind.cases_not_run``), recording
    each result as soon as it is known; ``folder`` is the caller's scratch folder. A result without every
    value the portal now stores with a case's scores (one scored before lesion counts were stored) is
    scored again and replaced.

    The version is the one ``submission.phase`` held when it was read, so a switch of versions meanwhile
    cannot mix two versions' masks in one set of results.
    """
    phase = submission.phase
    profile = profile_with_volumes(name=phase.metric_profile)
    stored = CaseResult.objects.filter(submission=submission, ground_truth_version=phase.ground_truth_version)
    scored = {
        case_id
        for case_id, metrics in stored.values_list("case_id", "metrics")
        if all(key in metrics for key in profile.metric_keys)
    }
    not_run = submission_kind_get(submission.kind).cases_not_run(submission=submission)
    cases = [
        case
        for case in selectors.phase_case_list(phase=phase)
        if case.pk not in scored and case.name not in not_run
    ]
    if not cases:
        return
    masks = submission_masks_copy(submission=submission, folder=folder / "masks")
    for case in cases:
        score = score_case(
            profile=profile,
            case_id=case.name,
            ground_truth_path=phase_ground_truth_copy(phase=phase, case=case, folder=folder),
            prediction_path=masks.get(case.name),
        )
        CaseResult.objects.update_or_create(
            submission=submission,
            case=case,
            ground_truth_version=phase.ground_truth_version,
            defaults={
                "metrics": dict(score.metrics),
                "error": score.message or "",
                "notes": list(score.notes),
            },
        )


def phase_ground_truth_copy(*, phase: Phase, case: Case, folder: Path) -> Path:
    """A local copy (storage may be remote) of the case's mask in the version the phase is scored on, in
    ``folder``; ``LookupError`` (a sentence) when the case has none in that version."""
    ground_truth = selectors.phase_case_ground_truth(phase=phase, case=case)
    if ground_truth is None:
        raise LookupError(
            f"Case {case.name} has no ground truth in version {phase.ground_truth_version}, "
            "the version its phase is scored on."
        )
    path = folder / f"{case.name}_ground_truth.nii.gz"
    with ground_truth.file.open("rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path


def _phase_ground_truth_version_lock(*, phase_id: int) -> int:
    """Lock the phase's row for this transaction and return the ground-truth version it is scored on."""
    return Phase.objects.select_for_update().values_list("ground_truth_version", flat=True).get(pk=phase_id)


def phase_ground_truth_version_set(*, phase: Phase, version: int, user: User) -> Phase:
    """Score the phase on another ground-truth version of its dataset, and re-score its submissions.

    Only an organizer of the challenge may (``PermissionDenied`` otherwise). The version must be one of
    the dataset's and hold a mask for every case of the phase (``ValidationError`` with a sentence
    otherwise). A ``Rescoring`` then scores every SUCCEEDED submission on the new version after the
    commit, keeping the results on the earlier ones, and the leaderboard is rebuilt from the new
    version's results. The switch is recorded (``GroundTruthSwitch``, shown on the phase's page) and,
    after the commit, each participant of the challenge is e-mailed. Choosing the version the phase
    already has changes nothing, queues nothing and tells no one. It is ``phase_scoring_set`` with only
    the version changed.
    """
    with transaction.atomic():
        _phase_ground_truth_version_lock(phase_id=phase.pk)
        phase.refresh_from_db(fields=list(SCORING_FIELDS))
        phase_scoring_set(
            phase=phase, scoring=replace(PhaseScoring.of(phase), ground_truth_version=version), user=user
        )
    return phase


@dataclass(frozen=True)
class PhaseScoring:
    """What a phase is scored on: a dataset of its challenge, one split of its cases, a ground-truth
    version of that dataset and a metric profile (``evaluation.profiles``)."""

    dataset: Dataset
    split: str
    ground_truth_version: int
    metric_profile: str

    @classmethod
    def of(cls, phase: Phase) -> "PhaseScoring":
        return cls(
            dataset=phase.dataset,
            split=phase.split,
            ground_truth_version=phase.ground_truth_version,
            metric_profile=phase.metric_profile,
        )


SCORING_FIELDS = ("dataset", "split", "ground_truth_version", "metric_profile")
"""The phase's fields whose change re-scores its submissions (``phase_scoring_set``)."""


def phase_scoring_changes(*, phase: Phase, scoring: PhaseScoring) -> tuple[str, ...]:
    """The fields of ``SCORING_FIELDS`` in which ``scoring`` differs from what the phase is scored on."""
    current = PhaseScoring.of(phase)
    return tuple(name for name in SCORING_FIELDS if getattr(current, name) != getattr(scoring, name))


def _phase_scoring_problems(*, phase: Phase, scoring: PhaseScoring) -> dict[str, PortalError]:
    """Each field of ``scoring`` the phase cannot be scored on, with the sentence that says why."""
    dataset, version = scoring.dataset, scoring.ground_truth_version
    if dataset.challenge_id != phase.challenge_id:
        return {
            "dataset": PortalError(
                f"Dataset {dataset} belongs to another challenge; score the phase on one of this "
                "challenge's.",
                code="dataset_of_another_challenge",
            )
        }
    problems: dict[str, PortalError] = {}
    if scoring.metric_profile not in PROFILES:
        problems["metric_profile"] = PortalError(
            f"There is no metric profile called {scoring.metric_profile!r}; choose one of "
            f"{', '.join(sorted(PROFILES))}.",
            code="no_such_profile",
        )
    cases = Case.objects.filter(dataset=dataset, split=scoring.split).order_by("name")
    if not cases.exists():
        split = Split(scoring.split).label.lower() if scoring.split in Split.values else scoring.split
        problems["split"] = PortalError(
            f"Dataset {dataset} has no {split} cases, so the phase would score nothing: import them first or "
            "choose the other split.",
            code="split_without_cases",
        )
    numbers = list(GroundTruthVersion.objects.filter(dataset=dataset).values_list("number", flat=True))
    if version not in numbers:
        known = ", ".join(str(number) for number in numbers) or "none yet"
        problems["ground_truth_version"] = PortalError(
            f"Dataset {dataset} has no ground-truth version {version}; pick one of its versions ({known}).",
            code="no_such_version",
        )
    elif without := [case.name for case in cases.exclude(ground_truths__version=version)]:
        problems["ground_truth_version"] = PortalError(
            f"Version {version} has no mask for {len(without)} case(s) of this phase "
            f"({', '.join(without)}); make a version that covers them.",
            code="version_incomplete",
        )
    return problems


def phase_scoring_set(*, phase: Phase, scoring: PhaseScoring, user: User) -> tuple[str, ...]:
    """Score the phase on ``scoring`` and re-score its submissions when that changes what it is scored on;
    returns the fields that changed (empty: nothing changed, nothing queued).

    Only an organizer of the challenge may (``PermissionDenied``). ``ValidationError`` maps each field
    that cannot be to its sentence: a dataset of another challenge, a split without cases, a version the
    dataset does not have or that lacks a mask for a case of the split, an unknown profile. A new version
    keeps the results on the earlier ones, and is recorded and told to the participants as
    ``phase_ground_truth_version_set`` says. A new dataset, split or profile leaves no stored per-case
    result valid, so the results of the phase's submissions are deleted. Either way the phase's one
    ``Rescoring`` then scores every SUCCEEDED submission on the new basis after the commit, and the
    leaderboard is rebuilt from its results.
    """
    if not user_is_organizer(user=user, challenge=phase.challenge_id):
        raise PermissionDenied("Only an organizer of the challenge chooses what a phase is scored on.")
    with transaction.atomic():
        _phase_ground_truth_version_lock(phase_id=phase.pk)
        phase.refresh_from_db(fields=list(SCORING_FIELDS))
        problems = _phase_scoring_problems(phase=phase, scoring=scoring)
        if problems:
            raise ValidationError(problems)
        changed = phase_scoring_changes(phase=phase, scoring=scoring)
        if not changed:
            return changed
        _phase_scoring_idle_check(phase=phase, changed=changed)
        if "ground_truth_version" in changed:
            switch = GroundTruthSwitch.objects.create(
                phase=phase,
                from_version=phase.ground_truth_version,
                to_version=scoring.ground_truth_version,
                switched_by=user,
            )
            transaction.on_commit(partial(_ground_truth_switch_notify, switch_id=switch.pk))
        if set(changed) - {"ground_truth_version"}:
            CaseResult.objects.filter(submission__phase=phase).delete()
        for name in changed:
            setattr(phase, name, getattr(scoring, name))
        phase.save(update_fields=list(changed))
        rescoring_request(phase_id=phase.pk, version=phase.ground_truth_version)
    return changed


def _phase_scoring_idle_check(*, phase: Phase, changed: tuple[str, ...]) -> None:
    """Refuse a new dataset, split or profile while a submission of the phase is being scored: its
    results, read on the old basis, would be recorded after the new one deleted the stale ones. (Jobs
    still running are fine: the scoring step reads the phase when it starts; a new version alone is
    caught when the results are recorded, ``SubmissionEvaluation.record``.)"""
    basis = [name for name in changed if name != "ground_truth_version"]
    scoring = Submission.objects.filter(
        phase=phase, status=Status.EVALUATING, evaluation_started_at__isnull=False
    )
    count = scoring.count()
    if basis and count:
        raise ValidationError(
            {
                basis[0]: PortalError(
                    f"{_submissions(count)} of this phase {'is' if count == 1 else 'are'} being scored right "
                    "now; change what the phase is scored on in a minute, once the scoring is done.",
                    code="scoring_in_progress",
                )
            }
        )


def phase_submission_kind_set(*, phase: Phase, submission_kind: str) -> Phase:
    """Make the phase take another kind of submission; refused (``ValidationError`` on
    ``submission_kind``) once it has any submission, whose files, checks and jobs are of the kind it has."""
    if submission_kind == phase.submission_kind:
        return phase
    count = Submission.objects.filter(phase=phase).count()
    if count:
        was = Phase.SubmissionKind(phase.submission_kind).label.lower()
        wanted = Phase.SubmissionKind(submission_kind).label.lower()
        raise ValidationError(
            {
                "submission_kind": PortalError(
                    f"This phase already has {_submissions(count)} of {was}, so it cannot take {wanted} "
                    "instead: create another phase for them.",
                    code="kind_has_submissions",
                )
            }
        )
    phase.submission_kind = submission_kind
    phase.save(update_fields=["submission_kind"])
    return phase


def _ground_truth_switch_notify(*, switch_id: int) -> None:
    """E-mail the challenge's participants that their phase's scores move to another ground truth."""
    switch = GroundTruthSwitch.objects.select_related("phase__challenge").get(pk=switch_id)
    phase = switch.phase
    recipients = sorted(
        set(
            User.objects.filter(
                challenge_roles__challenge_id=phase.challenge_id,
                challenge_roles__role=ChallengeRole.Role.PARTICIPANT,
                is_active=True,
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients:
        return
    subject = f"{phase.title}: scores now use ground-truth version {switch.to_version}"
    body = (
        f"The organizers of {phase.challenge.title} switched the ground truth that {phase.title} is scored "
        f"on from version {switch.from_version} to version {switch.to_version} "
        f"({switch.switched_at:%Y-%m-%d %H:%M} UTC). Every scored submission is scored again on the new "
        "version, and the leaderboard follows its results."
    )
    # One message per participant, so no one learns the others' addresses.
    send_mass_mail([(subject, body, None, [email]) for email in recipients])


def phase_results_complete(*, phase: Phase, user: User) -> int:
    """Score again, as an organizer of the challenge, the results of the phase's scored submissions that
    lack a value the portal now stores with each case's scores (lesion counts, for results scored before
    they were stored, which the biomarkers page shows as "not stored"): a re-scoring on the phase's
    version after the commit (``RescoringRun``), which scores only those cases. How many results will be
    scored again. ``PermissionDenied`` for anyone else; ``PortalError`` with a sentence when none lacks
    anything."""
    if not user_is_organizer(user=user, challenge=phase.challenge_id):
        raise PermissionDenied("Only an organizer of the challenge has its results scored again.")
    incomplete = selectors.phase_case_results_incomplete(phase=phase).count()
    if incomplete == 0:
        raise PortalError(
            f"Every scored result of {phase.title} holds its lesion volumes and counts; there is nothing to "
            "score again.",
            code="results_complete",
        )
    with transaction.atomic():
        rescoring_request(phase_id=phase.pk, version=phase.ground_truth_version)
    return incomplete


def rescoring_request(*, phase_id: int, version: int) -> None:
    """Ask for the phase's SUCCEEDED submissions to be scored on ``version``, after the caller's
    transaction commits; nothing new when such a re-scoring is already waiting (it will find every
    submission scored by the time it starts)."""
    waiting = Rescoring.objects.filter(
        phase_id=phase_id, ground_truth_version=version, status=Rescoring.Status.QUEUED
    )
    if waiting.exists():
        return
    rescoring = Rescoring.objects.create(phase_id=phase_id, ground_truth_version=version)
    transaction.on_commit(partial(RESCORING.queue, rescoring.pk))


class RescoringRun(Step[Rescoring, int]):
    """QUEUED -> RUNNING -> SUCCEEDED (the number of submissions scored again, the results' publisher told)
    or FAILED with a sentence.

    Safe to run twice, or after a worker died part way: cases that already have a result on the version are
    not scored again, and the means are recomputed from the stored results. Submissions still being
    evaluated re-score themselves when they record their results (``SubmissionEvaluation.record``).
    """

    name = "re-scoring"
    model = Rescoring
    statuses = (Rescoring.Status.QUEUED, Rescoring.Status.RUNNING)
    max_attempts = MAX_STEP_ATTEMPTS

    def queue(self, pk: int) -> None:
        tasks.rescoring_run_task.delay(rescoring_id=pk)

    def begin(self, row: Rescoring) -> list[str]:
        row.status = Rescoring.Status.RUNNING
        return ["status"]

    def work(self, row: Rescoring, scratch: Path) -> int:
        submission_ids = list(
            Submission.objects.filter(phase_id=row.phase_id, status=Status.SUCCEEDED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for submission_id in submission_ids:
            _submission_rescore(submission_id=submission_id, version=row.ground_truth_version)
        return len(submission_ids)

    def record(self, row: Rescoring, result: int) -> None:
        row.status, row.finished_at, row.submissions_rescored = (
            Rescoring.Status.SUCCEEDED,
            timezone.now(),
            result,
        )
        row.save()
        phase_results_changed(phase_id=row.phase_id)

    def fail(self, row: Rescoring, *, sentence: str, note: str) -> None:
        row.status, row.finished_at, row.error = Rescoring.Status.FAILED, timezone.now(), sentence
        row.save()


RESCORING = RescoringRun()


def rescoring_run(*, rescoring_id: int) -> None:
    """Score the phase's scored submissions on the re-scoring's version (``RescoringRun``); a repeat does
    nothing."""
    step_run(RESCORING, pk=rescoring_id)


def _submission_rescore(*, submission_id: int, version: int) -> None:
    """Score a SUCCEEDED submission on ``version`` and update its means, if its phase is still scored on it.

    Cases already scored on that version are skipped; results on other versions are kept. A submission
    in another status is left alone.
    """
    submission = Submission.objects.select_related("phase").filter(pk=submission_id).first()
    if (
        submission is None
        or submission.status != Status.SUCCEEDED
        or submission.phase.ground_truth_version != version
    ):
        logger.info("Submission %s is not scored on version %s; nothing to re-score.", submission_id, version)
        return
    with tempfile.TemporaryDirectory(prefix="submission-rescore-") as folder:
        _cases_score(submission=submission, folder=Path(folder))
    with transaction.atomic():
        submission = _submission_lock_waiting(submission_id=submission_id)
        if submission is None or submission.status != Status.SUCCEEDED:
            return
        if submission.phase.ground_truth_version != version:
            return
        results = list(CaseResult.objects.filter(submission=submission, ground_truth_version=version))
        profile = profile_get(name=submission.phase.metric_profile)
        submission.metrics_mean = _metric_means(results=results, keys=profile.metric_keys)
        submission.save(update_fields=["metrics_mean"])


def _metric_means(*, results: list[CaseResult], keys: tuple[str, ...]) -> dict[str, float]:
    """The mean of each metric over the case results; empty when there are none."""
    if not results:
        return {}
    return {key: sum(float(result.metrics[key]) for result in results) / len(results) for key in keys}


def _submission_notes_lines(*, submission: Submission) -> list[str]:
    """The notes on how the masks were read, for the creator: per case where they may read per-case
    results, otherwise only how many masks had one (hidden test cases are never named)."""
    if not submission_case_results_visible_to(user=submission.creator, submission=submission):
        sentence = selectors.submission_masks_noted_sentence(submission=submission)
        return [] if sentence is None else [sentence]
    return [
        f"{result.case.name}: {note}"
        for result in selectors.submission_case_result_list(submission=submission)
        for note in result.notes
    ]


def _submission_notify(*, submission_id: int) -> None:
    """Email the creator how their submission ended; a scored one's e-mail adds the notes on how its
    masks were read (``_submission_notes_lines``)."""
    submission = Submission.objects.select_related("creator", "phase").get(pk=submission_id)
    phase = submission.phase
    if submission.status == Status.CHECKED:
        subject = f"Your check-only try {submission.pk} to {phase.title} passed every check"
        body = (
            f"Submission {submission.pk} to {phase} passed every check a real submission gets. "
            f"{CHECK_ONLY_SENTENCE}"
        )
    elif submission.status == Status.SUCCEEDED:
        subject = f"Your submission {submission.pk} to {phase.title} was scored"
        means = ", ".join(f"{key} {value:.4g}" for key, value in submission.metrics_mean.items())
        body = "\n".join(
            [
                f"Submission {submission.pk} to {phase} was scored. Mean over the cases: {means}.",
                *_submission_notes_lines(submission=submission),
            ]
        )
    else:
        what = "check-only try" if submission.check_only else "submission"
        subject = f"Your {what} {submission.pk} to {phase.title} failed"
        body = "\n".join(
            [
                f"Submission {submission.pk} to {phase} failed.",
                *([CHECK_ONLY_SENTENCE] if submission.check_only else []),
                submission.error,
                *submission.problems,
            ]
        )
    send_mail(subject, body, None, [submission.creator.email])
