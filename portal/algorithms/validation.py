"""External validation: an organizer re-runs chosen algorithm submissions on a validation phase's cases.

A validation phase (``Phase.is_validation``) holds another dataset (e.g. a second centre's cases, with or
without clinical data) and takes no participant submissions. ``validation_reruns_create`` makes, for each
chosen SUCCEEDED algorithm submission of the challenge, a submission of kind RERUN owned by the organizer
(no team), whose image is the original's archive reused by its stored name and digest (no new upload, no
new image check), and one job per case of the validation phase on the ``gpu`` queue, the first runnable
case as its sanity job. A case lacking an input the phase's containers read is not run: the re-run lists
it (``ValidationRun.skipped_cases``) and the evaluation leaves it out (``RerunKind.cases_not_run``), since
the gap is the data's, not the algorithm's. When its jobs have ended the re-run is scored by the same
evaluation step as any submission, and the validation phase's own leaderboard lists each re-run under the
original's team; that board is published only by an organizer (``leaderboard_settings_get``).

A re-run is the organizer's work: its sentences speak of the re-run, not of a team's limits, and once every
re-run on the phase has ended the organizers who made them get one e-mail of how each ended
(``validation_end_tell``), never one per re-run; the original's team is told nothing and sees none of it
among its submissions.

The rule on consent: a participant accepts the challenge's data-use terms with or without consent that the
organizers run their team's algorithm again on validation data (``DataTermsAcceptance.consents_to_reruns``,
issue 10). A submission is re-run only when its creator's latest acceptance gave that consent; otherwise
it is refused with one sentence.
"""

import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.algorithms import services
from portal.algorithms.kind import AlgorithmKind
from portal.algorithms.models import AlgorithmImage, Job, ValidationRun
from portal.algorithms.selectors import algorithm_settings_get, phase_cases_missing_inputs
from portal.challenges.models import Phase
from portal.datasets.models import Case
from portal.datasets.selectors import data_terms_consent_to_reruns
from portal.errors import PortalError
from portal.submissions.models import Submission, SubmissionStateChange
from portal.submissions.selectors import phase_case_list, phase_get_for_submissions
from portal.submissions.services import submission_transition

MAX_RERUNS = 20
"""Submissions one request re-runs at most: each is a job per validation case on the ``gpu`` queue."""


class RerunRefused(PortalError):
    """A re-run the organizer asked for that cannot be made."""


def validation_reruns_create(*, phase: Phase, user: User, submissions: Sequence[int]) -> list[ValidationRun]:
    """Re-run the algorithm submissions ``submissions`` (ids, in order) on the validation phase ``phase``
    as an organizer of its challenge: one RERUN submission each, EVALUATING, with its jobs queued after the
    commit; returned in the order asked.

    ``PermissionDenied`` for anyone but an organizer of the challenge. ``RerunRefused`` with one sentence
    when the phase is not a validation phase of algorithms, none of its cases can run, no submission or
    more than ``MAX_RERUNS`` or one twice is named, or a submission is missing, of another challenge, not
    an algorithm submission, not SUCCEEDED, run with another interface set, without its stored image, not
    consented to by its creator, or already re-run on this phase (a re-run that failed or was cancelled
    may be made again). The originals and the phase are locked while they are checked.
    """
    if not user_is_organizer(user=user, challenge=phase.challenge_id):
        raise PermissionDenied("Only an organizer of the challenge re-runs submissions on validation data.")
    ids = list(submissions)
    with transaction.atomic():
        Phase.objects.select_for_update().filter(pk=phase.pk).first()
        list(Submission.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        problem = _phase_problem(phase=phase) or _request_problem(ids=ids)
        if problem is not None:
            raise problem
        originals = {
            original.pk: original
            for original in Submission.objects.filter(pk__in=ids).select_related("phase")
        }
        for pk in ids:
            problem = _original_problem(phase=phase, pk=pk, original=originals.get(pk))
            if problem is not None:
                raise problem
        runnable, skipped = _cases_split(phase=phase)
        return [
            _rerun_create(phase=phase, user=user, original=originals[pk], runnable=runnable, skipped=skipped)
            for pk in ids
        ]


def _phase_problem(*, phase: Phase) -> PortalError | None:
    if not phase.is_validation:
        return RerunRefused(
            f"{phase.title} is not a validation phase; re-runs go to a phase an organizer marked as one.",
            code="not_validation_phase",
        )
    if phase.submission_kind != Phase.SubmissionKind.ALGORITHM:
        return RerunRefused(
            f"{phase.title} does not run algorithm containers; set its submission kind to algorithm first.",
            code="not_an_algorithm_phase",
        )
    if not phase_case_list(phase=phase).exists():
        return RerunRefused(
            f"{phase.title} has no cases yet; import the validation dataset first.", code="no_cases"
        )
    return None


def _request_problem(*, ids: Sequence[int]) -> PortalError | None:
    if not ids:
        return RerunRefused("Pick at least one submission to re-run.", code="nothing_chosen")
    if len(ids) > MAX_RERUNS:
        return RerunRefused(
            f"One request re-runs at most {MAX_RERUNS} submissions; pick fewer.", code="too_many"
        )
    if len(set(ids)) != len(ids):
        return RerunRefused("A submission is named twice; name each one once.", code="named_twice")
    return None


def _original_problem(*, phase: Phase, pk: int, original: Submission | None) -> PortalError | None:
    """The first reason ``original`` (the submission ``pk``) cannot be re-run on ``phase``; None when it
    can."""
    if original is None:
        return RerunRefused(
            f"There is no submission {pk}; pick one of the challenge's.", code="no_such_submission"
        )
    if original.phase.challenge_id != phase.challenge_id:
        return RerunRefused(
            f"Submission {pk} was made to another challenge; re-run this challenge's submissions only.",
            code="other_challenge",
        )
    if original.kind != Submission.Kind.ALGORITHM:
        return RerunRefused(
            f"Submission {pk} is not an algorithm submission; only a container can be run on other cases.",
            code="not_algorithm",
        )
    if original.status != Submission.Status.SUCCEEDED:
        return RerunRefused(
            f"Submission {pk} is {original.get_status_display().lower()}; only a submission that succeeded "
            "(was scored) is re-run.",
            code="not_succeeded",
        )
    image = AlgorithmImage.objects.filter(submission=original).first()
    if image is None or image.status != AlgorithmImage.Status.ACCEPTED or not image.file:
        return RerunRefused(
            f"Submission {pk}'s image archive is no longer stored, so it cannot be run again.",
            code="image_gone",
        )
    theirs = algorithm_settings_get(phase=original.phase).interface_set
    ours = algorithm_settings_get(phase=phase).interface_set
    if theirs != ours:
        return RerunRefused(
            f"Submission {pk}'s container reads the {theirs} inputs but {phase.title} gives {ours}; set the "
            "validation phase's interface set to the one the submission was made for.",
            code="other_interface_set",
        )
    if not data_terms_consent_to_reruns(user_id=original.creator_id, challenge=phase.challenge_id):
        return RerunRefused(
            f"The creator of submission {pk} has not consented, in the data-use terms they accepted, to "
            "their algorithm being run again on validation data, so it is not re-run.",
            code="no_consent",
        )
    earlier = (
        ValidationRun.objects.filter(submission__phase=phase, original=original)
        .exclude(submission__status__in=(Submission.Status.FAILED, Submission.Status.CANCELLED))
        .values_list("submission_id", flat=True)
        .first()
    )
    if earlier is not None:
        return RerunRefused(
            f"Submission {pk} is already re-run on this phase as submission {earlier}; use that one.",
            code="already_rerun",
        )
    return None


def _cases_split(*, phase: Phase) -> tuple[list[Case], list[str]]:
    """The phase's cases that have every input its containers read, by name, and one sentence for each
    that does not; ``RerunRefused`` when no case can run."""
    gaps = {gap.case_name: gap for gap in phase_cases_missing_inputs(phase=phase)}
    cases = list(phase_case_list(phase=phase))
    runnable = [case for case in cases if case.name not in gaps]
    skipped = [
        f"Case {case.name} has no {', '.join(gaps[case.name].missing)}, which the containers read: it was "
        "not run, nor scored."
        for case in cases
        if case.name in gaps
    ]
    if not runnable:
        raise RerunRefused(
            f"No case of {phase.title} has every input its containers read; import the missing files first.",
            code="no_runnable_case",
        )
    return runnable, skipped


def _rerun_create(
    *, phase: Phase, user: User, original: Submission, runnable: Sequence[Case], skipped: Sequence[str]
) -> ValidationRun:
    image = original.algorithm_image
    submission = Submission(
        phase=phase,
        creator=user,
        team=None,
        kind=Submission.Kind.RERUN,
        sha256=hashlib.sha256(f"rerun:{original.pk}:{image.sha256}".encode()).hexdigest(),
        size_bytes=original.size_bytes,
        status=Submission.Status.PENDING,
    )
    submission.file.name = original.file.name
    submission.save()
    SubmissionStateChange.objects.create(
        submission=submission,
        from_status="",
        to_status=submission.status,
        note=f"Re-run of submission {original.pk} on {phase.title}.",
    )
    AlgorithmImage.objects.create(
        submission=submission,
        phase=phase,
        file=image.file.name,
        sha256=image.sha256,
        size_bytes=image.size_bytes,
        image_id=image.image_id,
        user=image.user,
        entrypoint=image.entrypoint,
        status=AlgorithmImage.Status.ACCEPTED,
    )
    run = ValidationRun.objects.create(submission=submission, original=original, skipped_cases=list(skipped))
    submission_transition(submission=submission, to_status=Submission.Status.CHECKING)
    submission_transition(
        submission=submission,
        to_status=Submission.Status.EVALUATING,
        note=f"Its image is submission {original.pk}'s, checked when it was submitted; its jobs come next.",
    )
    _rerun_jobs_create(submission=submission, runnable=runnable)
    return run


def _rerun_jobs_create(*, submission: Submission, runnable: Sequence[Case]) -> None:
    """One QUEUED job per runnable case, the first (by name) the sanity job, and a worker asked after the
    commit. The sanity case is a validation case: the organizer, not a team, reads its log."""
    Job.objects.create(submission=submission, case=runnable[0], is_sanity=True)
    Job.objects.bulk_create(Job(submission=submission, case=case) for case in runnable[1:])
    services.jobs_dispatch(count=1)


ORGANIZERS_ONLY = "Only the challenge's organizers re-run submissions on its validation phases."


def validation_phase_get_for_organizer(*, user: User, slug: str) -> Phase:
    """The validation phase with this slug, for an organizer of its challenge. ``Phase.DoesNotExist``
    when the user may not see its challenge or it is not a validation phase (a 404); ``PermissionDenied``
    for anyone else who sees the challenge (a 403)."""
    phase = phase_get_for_submissions(user=user, slug=slug)
    if not phase.is_validation:
        raise Phase.DoesNotExist(f"{phase.title} is not a validation phase.")
    if not user_is_organizer(user=user, challenge=phase.challenge_id):
        raise PermissionDenied(ORGANIZERS_ONLY)
    return phase


def validation_reruns_current(*, phase: Phase, originals: Sequence[int]) -> dict[int, int]:
    """The re-run on ``phase`` of each of the submissions ``originals`` that has one not failed nor
    cancelled (running or scored), as {original id: re-run submission id}: those need not run again."""
    runs = (
        ValidationRun.objects.filter(submission__phase=phase, original_id__in=originals)
        .exclude(submission__status__in=(Submission.Status.FAILED, Submission.Status.CANCELLED))
        .values_list("original_id", "submission_id")
    )
    return dict(runs)


def validation_run_list(*, phase: Phase) -> QuerySet[ValidationRun]:
    """The phase's re-runs, newest first, with the original submissions, their teams and creators."""
    return ValidationRun.objects.filter(submission__phase=phase).select_related(
        "submission", "original__team", "original__creator", "original__phase"
    )


@dataclass(frozen=True)
class RerunSource:
    """A submission an organizer may pick to re-run on a validation phase, and whether its creator
    consented (a submission without consent is listed, marked, and refused if picked)."""

    submission: Submission
    consents: bool


def validation_sources(*, phase: Phase) -> list[RerunSource]:
    """The challenge's SUCCEEDED algorithm submissions of its other (not validation) phases, newest
    first, each with its creator's consent to re-runs."""
    originals = (
        Submission.objects.filter(
            phase__challenge_id=phase.challenge_id,
            phase__is_validation=False,
            kind=Submission.Kind.ALGORITHM,
            status=Submission.Status.SUCCEEDED,
        )
        .select_related("phase", "team", "creator")
        .order_by("-created_at", "-pk")
    )
    consent: dict[int, bool] = {}
    sources = []
    for original in originals:
        if original.creator_id not in consent:
            consent[original.creator_id] = data_terms_consent_to_reruns(
                user_id=original.creator_id, challenge=phase.challenge_id
            )
        sources.append(RerunSource(submission=original, consents=consent[original.creator_id]))
    return sources


RERUN_ENDED = (Submission.Status.SUCCEEDED, Submission.Status.FAILED, Submission.Status.CANCELLED)


def validation_end_tell(*, phase_id: int) -> None:
    """A re-run on the validation phase ``phase_id`` has just ended (inside the transaction that ended it):
    once none of the phase's re-runs is still running, the organizers who made those not yet reported are
    e-mailed once, after the commit, how each ended (``reported_at`` marks them). A re-run is the
    organizer's work: its creator gets no e-mail of its own, and its original's team none at all.

    The phase's row is locked first, so that of two re-runs ending at once the second to commit sees the
    first ended and sends the one e-mail."""
    Phase.objects.select_for_update().filter(pk=phase_id).first()
    runs = ValidationRun.objects.filter(submission__phase_id=phase_id)
    if runs.exclude(submission__status__in=RERUN_ENDED).exists():
        return
    unreported = list(runs.filter(reported_at__isnull=True).values_list("pk", flat=True))
    if not unreported:
        return
    ValidationRun.objects.filter(pk__in=unreported).update(reported_at=timezone.now())
    transaction.on_commit(partial(_validation_summary_send, run_ids=unreported))


def _validation_summary_send(*, run_ids: Sequence[int]) -> None:
    """E-mail each organizer who made some of the re-runs ``run_ids`` how every one of them ended."""
    runs = list(
        ValidationRun.objects.filter(pk__in=run_ids)
        .select_related("submission__phase", "submission__creator", "original__team", "original__creator")
        .order_by("submission_id")
    )
    phase = runs[0].submission.phase
    succeeded = sum(run.submission.status == Submission.Status.SUCCEEDED for run in runs)
    lines = [
        f"Every re-run on {phase.title} has ended: {succeeded} of {len(runs)} succeeded. These results are "
        "kept apart from the challenge's ranking and published only by an organizer.",
        "",
        *(_rerun_line(run) for run in runs),
    ]
    recipients = sorted({run.submission.creator.email for run in runs if run.submission.creator.email})
    send_mail(f"The re-runs on {phase.title} have ended", "\n".join(lines), None, recipients)


def _rerun_line(run: ValidationRun) -> str:
    original = run.original
    who = original.team.name if original.team is not None else original.creator.username
    head = f"Re-run {run.submission_id} of submission {original.pk} ({who}):"
    rerun = run.submission
    if rerun.status == Submission.Status.SUCCEEDED:
        means = ", ".join(f"{key} {value:.4g}" for key, value in rerun.metrics_mean.items())
        return f"{head} scored; mean over the cases: {means}."
    if rerun.status == Submission.Status.CANCELLED:
        return f"{head} cancelled."
    return f"{head} failed. {rerun.error}".strip()


class RerunKind(AlgorithmKind):
    """The re-run kind of submission: an algorithm submission's image run by an organizer on a validation
    phase's cases as jobs, then scored like any submission; no upload of its own, so nothing to check."""

    value = Submission.Kind.RERUN
    is_organizers_own = True

    def check(self, *, submission: Submission, scratch: Path) -> list[str]:
        return []

    def scoring_start(self, *, submission: Submission) -> None:
        if not submission.jobs.exists():
            runnable, _ = _cases_split(phase=submission.phase)
            _rerun_jobs_create(submission=submission, runnable=runnable)

    def check_only_start(self, *, submission: Submission) -> bool:
        return False

    def cases_not_run(self, *, submission: Submission) -> frozenset[str]:
        skipped = Case.objects.filter(pk__in=phase_case_list(phase=submission.phase).values("pk")).exclude(
            jobs__submission=submission
        )
        return frozenset(skipped.values_list("name", flat=True))

    def ended_tell(self, *, submission: Submission) -> bool:
        validation_end_tell(phase_id=submission.phase_id)
        return True

    def file_in_use(self, *, name: str) -> bool:
        return False

    def files_expire(self, *, now: datetime.datetime) -> int:
        return 0
