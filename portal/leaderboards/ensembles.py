"""Ensembles of submissions: an organizer fuses a phase's algorithm submissions into one more submission.

An ensemble (``Ensemble``) is a submission of its own kind (``Submission.Kind.ENSEMBLE``), owned by the
organizer who built it, whose members are SUCCEEDED algorithm submissions of the same phase (on a
validation phase, SUCCEEDED re-runs of algorithm submissions, ``portal.algorithms.validation``: an
ensemble of the challenge is validated by re-running its members there, then fusing the re-runs with its
rule and member order) and whose rule is one of ``evaluation.fusion``'s. ``ensemble_create`` checks the
choice under the members' locks, saves the submission (straight to EVALUATING: there is no upload to
check) and queues ``EnsembleBuild``, a step of the step engine on the ``cpu`` queue: for every case of the
phase it fuses the members' stored job outputs (never running a container again; a member without an
output for a case counts as an empty mask there, and the case's ``EnsembleMask`` lists it; a case every
member left out for the data's sake, ``SubmissionKind.cases_not_run``, gets no mask and no score) and
stores the mask on the case's ground-truth grid. Then the
submission is scored by the same evaluation step and profile as any other (``EnsembleKind.masks_copy``
gives it the fused masks) and the leaderboard lists it, marked as an ensemble and unranked unless the
organizer ranks it (``ensemble_ranked_set``). The kind registers itself from this app, above the
submissions app it plugs into.

An ensemble validated in one step (``portal.organizers.services.ensemble_validate``) is made while its
members, the re-runs on the validation phase, still run: it waits (``BuildStatus.WAITING``) until every
member has ended, then builds once. Each member's end wakes it (``ensemble_builds_wake``, told by the
submissions app through the results' publisher) with a message sent after the commit and a stamped
``heartbeat_at``, so the step sweeper sends a lost message again; a build that finds a member still running
clears the stamp and waits for the next end. A member that failed counts as a member without outputs.
"""

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import SimpleITK as sitk
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from evaluation.fusion import FusionRule, fuse
from evaluation.io import ImageRefused, read_mask, size_text
from evaluation.ranking import ScoreTable, pairwise_wilcoxon
from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.challenges.models import Phase
from portal.datasets.models import Case
from portal.errors import PortalError, StepFailed
from portal.leaderboards import services, tasks
from portal.leaderboards.models import Ensemble, EnsembleMask, EnsembleMember, LeaderboardColumn
from portal.steps.services import CLAIM_FIELDS, Step, step_register, step_requeue, step_run
from portal.storage import private_storage
from portal.submissions import selectors as submission_selectors
from portal.submissions.kinds import SubmissionKind, submission_kind_get
from portal.submissions.models import CaseResult, Submission, SubmissionStateChange
from portal.submissions.services import (
    phase_ground_truth_copy,
    submission_evaluation_queue,
    submission_masks_copy,
    submission_transition,
)

BuildStatus = Ensemble.BuildStatus
MIN_MEMBERS = 2
MAX_MEMBERS = 15
"""More members than this would make an ensemble no organizer needs, and its build take long."""


class EnsembleRefused(PortalError):
    """An ensemble that cannot be built from the members or rule chosen."""


ENDED = (Submission.Status.SUCCEEDED, Submission.Status.FAILED, Submission.Status.CANCELLED)
"""The statuses of a member whose work is over: an ensemble waiting for its members builds once all are."""


def _members_problem(
    *, phase: Phase, members: Sequence[int], rule: str, wait_for_members: bool = False
) -> PortalError | None:
    """The first reason the submissions ``members`` (ids, in order) of ``phase`` cannot make an ensemble
    with ``rule``, as one sentence; None when they can. The caller holds the members' locks."""
    if rule not in Ensemble.Rule.values:
        return EnsembleRefused(
            f"There is no fusion rule {rule!r}; choose one of {', '.join(Ensemble.Rule.values)}.",
            code="no_such_rule",
        )
    if len(set(members)) != len(members):
        return EnsembleRefused("A submission is named twice; name each member once.", code="member_twice")
    if len(members) < MIN_MEMBERS:
        return EnsembleRefused(
            f"An ensemble needs at least {MIN_MEMBERS} member submissions; pick {MIN_MEMBERS} or more.",
            code="too_few_members",
        )
    if len(members) > MAX_MEMBERS:
        return EnsembleRefused(
            f"An ensemble takes at most {MAX_MEMBERS} member submissions; pick fewer.",
            code="too_many_members",
        )
    if wait_for_members and not phase.is_validation:
        return EnsembleRefused(
            f"{phase.title} is not a validation phase; only an ensemble of re-runs waits for its members.",
            code="not_validation_phase",
        )
    found = {submission.pk: submission for submission in Submission.objects.filter(pk__in=members)}
    for pk in members:
        problem = _member_problem(
            phase=phase, pk=pk, submission=found.get(pk), wait_for_members=wait_for_members
        )
        if problem is not None:
            return problem
    return None


_KIND_ARTICLES = {
    Submission.Kind.PREDICTIONS: "an archive of predicted masks",
    Submission.Kind.ENSEMBLE: "an ensemble",
    Submission.Kind.RERUN: "a validation re-run",
}


_MEMBERS_NAMED = {Submission.Kind.ALGORITHM: "algorithm submissions", Submission.Kind.RERUN: "re-runs"}


def _member_kind(phase: Phase) -> Submission.Kind:
    """What an ensemble of the phase fuses: algorithm submissions, or on a validation phase (which takes
    none) the organizer's re-runs of them."""
    return Submission.Kind.RERUN if phase.is_validation else Submission.Kind.ALGORITHM


def _member_problem(
    *, phase: Phase, pk: int, submission: Submission | None, wait_for_members: bool
) -> PortalError | None:
    if submission is None:
        return EnsembleRefused(
            f"There is no submission {pk}; pick members from this phase's leaderboard.", code="no_such_member"
        )
    if submission.phase_id != phase.pk and phase.is_validation:
        return EnsembleRefused(
            f"Submission {pk} was made to another phase; an ensemble on {phase.title} fuses re-runs made "
            "here: re-run its members on this phase first.",
            code="member_not_rerun",
        )
    if submission.phase_id != phase.pk:
        return EnsembleRefused(
            f"Submission {pk} was made to another phase; an ensemble's members are submissions of "
            f"{phase.title}.",
            code="member_of_another_phase",
        )
    if submission.kind != _member_kind(phase):
        return EnsembleRefused(
            f"Submission {pk} is {_KIND_ARTICLES.get(submission.kind, 'of another kind')}, not "
            f"{'a re-run' if phase.is_validation else 'an algorithm'}; an ensemble fuses the stored outputs "
            f"of {_MEMBERS_NAMED[_member_kind(phase)]} only.",
            code="member_not_algorithm",
        )
    if wait_for_members:
        return None
    if submission.status != Submission.Status.SUCCEEDED:
        return EnsembleRefused(
            f"Submission {pk} is {submission.get_status_display().lower()}; only a submission that succeeded "
            "(was scored) can be a member.",
            code="member_not_succeeded",
        )
    return None


def ensemble_top_members(*, phase: Phase, count: int) -> list[int]:
    """The ids of the ``count`` best-ranked algorithm submissions on the phase's stored leaderboard (its
    ranked ensembles left out), best first: the usual choice of members ("the top three")."""
    rows = (
        phase.leaderboard_entries.filter(submission__kind=_member_kind(phase))
        .order_by("rank", "submission_id")
        .values_list("submission_id", flat=True)
    )
    return list(rows[:count])


def ensemble_create(
    *, phase: Phase, user: User, members: Sequence[int], rule: str, wait_for_members: bool = False
) -> Ensemble:
    """Build an ensemble of the submissions ``members`` (ids, in order) of ``phase`` with ``rule``, as an
    organizer of its challenge: a new submission of kind ENSEMBLE, owned by ``user``, EVALUATING, whose
    masks ``EnsembleBuild`` makes after the commit; unranked on the leaderboard. With
    ``wait_for_members`` (a validation phase's re-runs, made in the same step) the members may still run
    or have failed: the build waits (WAITING) until every one has ended.

    ``PermissionDenied`` for anyone but an organizer of the challenge; ``EnsembleRefused`` with one
    sentence when the rule is unknown, fewer than two or more than ``MAX_MEMBERS`` members are named, one is
    named twice, or a member is missing, of another phase, not an algorithm submission (on a validation
    phase: not a re-run), or not SUCCEEDED.
    The members are locked while they are checked, so none changes status before the ensemble is saved.
    """
    if not user_is_organizer(user=user, challenge=phase.challenge_id):
        raise PermissionDenied("Only an organizer of the challenge builds an ensemble of its submissions.")
    members = list(members)
    with transaction.atomic():
        list(Submission.objects.select_for_update().filter(pk__in=members).order_by("pk"))
        problem = _members_problem(phase=phase, members=members, rule=rule, wait_for_members=wait_for_members)
        if problem is not None:
            raise problem
        description = f"{Ensemble.Rule(rule).label.split(' (')[0]} of submissions {_listed(members)}"
        submission = Submission.objects.create(
            phase=phase,
            creator=user,
            team=None,
            kind=Submission.Kind.ENSEMBLE,
            sha256=hashlib.sha256(f"ensemble:{rule}:{members}".encode()).hexdigest(),
            size_bytes=0,
            status=Submission.Status.PENDING,
        )
        SubmissionStateChange.objects.create(
            submission=submission, from_status="", to_status=submission.status, note=f"{description}."
        )
        ensemble = Ensemble.objects.create(
            submission=submission,
            rule=rule,
            build_status=BuildStatus.WAITING if wait_for_members else BuildStatus.QUEUED,
            heartbeat_at=timezone.now() if wait_for_members else None,
        )
        EnsembleMember.objects.bulk_create(
            EnsembleMember(ensemble=ensemble, submission_id=pk, position=position)
            for position, pk in enumerate(members)
        )
        submission_transition(submission=submission, to_status=Submission.Status.CHECKING)
        submission_transition(
            submission=submission,
            to_status=Submission.Status.EVALUATING,
            note=f"Its members are {_MEMBERS_NAMED[_member_kind(phase)]} of {phase.title}; its masks come "
            f"{'once they have all ended' if wait_for_members else 'next'}.",
        )
        transaction.on_commit(partial(BUILD.queue, ensemble.pk))
    return ensemble


def _listed(ids: Sequence[int]) -> str:
    names = [str(pk) for pk in ids]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def ensemble_find(*, phase: Phase, members: Sequence[int], rule: str) -> Ensemble | None:
    """The phase's ensemble of exactly ``members`` (ids, in order) with ``rule`` that has not failed nor
    been cancelled; None when there is none."""
    candidates = Ensemble.objects.filter(submission__phase=phase, rule=rule).exclude(
        submission__status__in=(Submission.Status.FAILED, Submission.Status.CANCELLED)
    )
    for ensemble in candidates.order_by("pk"):
        if ensemble_member_ids(ensemble=ensemble) == list(members):
            return ensemble
    return None


def ensemble_validation_phases(*, ensemble: Ensemble) -> QuerySet[Phase]:
    """The validation phases of algorithms of the ensemble's challenge it may be validated on in one step
    (``portal.organizers.services.ensemble_validate``); none for an ensemble of a validation phase."""
    phase = ensemble.submission.phase
    if phase.is_validation:
        return Phase.objects.none()
    return Phase.objects.filter(
        challenge_id=phase.challenge_id, is_validation=True, submission_kind=Phase.SubmissionKind.ALGORITHM
    ).order_by("title", "pk")


def ensemble_ranked_set(*, ensemble: Ensemble, user: User, is_ranked: bool) -> Ensemble:
    """Rank the ensemble on its phase's leaderboard like a team's submission, or list it unranked beside
    the ranking (the default); the board is rebuilt after the commit. Organizers of the challenge only
    (``PermissionDenied``)."""
    phase = ensemble.submission.phase
    if not user_is_organizer(user=user, challenge=phase.challenge_id):
        raise PermissionDenied(
            "Only an organizer of the challenge ranks an ensemble or takes it off the ranking."
        )
    if ensemble.is_ranked != is_ranked:
        ensemble.is_ranked = is_ranked
        ensemble.save(update_fields=["is_ranked"])
        services.leaderboard_rebuild_schedule(phase_id=phase.pk)
    return ensemble


def ensemble_get_for_organizer(*, user: User, ensemble_id: int) -> Ensemble:
    """The ensemble, with its submission and phase, for an organizer of its challenge;
    ``Ensemble.DoesNotExist`` for anyone else (a 404: an ensemble is the organizers' own)."""
    ensemble = Ensemble.objects.select_related("submission__phase__challenge").get(pk=ensemble_id)
    if not user_is_organizer(user=user, challenge=ensemble.submission.phase.challenge_id):
        raise Ensemble.DoesNotExist(f"Ensemble {ensemble_id} is not one of your challenges'.")
    return ensemble


def ensemble_list(*, phase: Phase) -> QuerySet[Ensemble]:
    """The phase's ensembles, newest first, with their submissions."""
    return (
        Ensemble.objects.filter(submission__phase=phase)
        .select_related("submission")
        .prefetch_related("memberships")
        .order_by("-submission__created_at", "-pk")
    )


def ensemble_list_unranked(*, phase: Phase) -> QuerySet[Ensemble]:
    """The phase's scored ensembles that are not ranked: the leaderboard lists them beside the ranking."""
    return (
        Ensemble.objects.filter(
            submission__phase=phase, submission__status=Submission.Status.SUCCEEDED, is_ranked=False
        )
        .select_related("submission")
        .order_by("-submission__created_at", "-pk")
    )


def ensemble_members(*, ensemble: Ensemble) -> list[Submission]:
    """The ensemble's member submissions, with their teams and creators, in the organizer's order."""
    members = Submission.objects.filter(ensemble_memberships__ensemble=ensemble).select_related(
        "team", "creator"
    )
    return list(members.order_by("ensemble_memberships__position"))


def ensemble_member_ids(*, ensemble: Ensemble) -> list[int]:
    """The ensemble's member submissions' ids, in the organizer's order."""
    return list(ensemble.memberships.order_by("position").values_list("submission_id", flat=True))


# The build of an ensemble's masks, a step of the engine.


@dataclass(frozen=True)
class BuiltMask:
    """One case's fused mask, written to storage under ``name``, and the members that had no usable
    output there."""

    case_id: int
    name: str
    members_without_output: tuple[int, ...]
    notes: tuple[str, ...]


class EnsembleBuild(Step[Ensemble, list[BuiltMask]]):
    """(WAITING ->) QUEUED -> RUNNING -> SUCCEEDED (a mask per case of the phase stored; the submission's
    evaluation queued) or FAILED, and the submission FAILED with the same sentence.

    Safe to run twice: a built ensemble is left alone, and a build that died part way writes every mask
    again under the same names. A WAITING ensemble starts only once every member has ended (``ready``);
    until then a message for it only clears its stamp, so the sweeper does not send it again. The
    submission's row is locked before the ensemble's, as ``submission_transition`` needs it and the
    evaluation locks it.
    """

    name = "ensemble build"
    model = Ensemble
    statuses = (BuildStatus.WAITING, BuildStatus.QUEUED, BuildStatus.RUNNING)
    status_field = "build_status"

    def queue(self, pk: int) -> None:
        tasks.ensemble_build_task.delay(ensemble_id=pk)

    def rows(self) -> QuerySet[Ensemble]:
        return Ensemble.objects.select_related("submission__phase")

    def lock(self, pk: int, *, nowait: bool) -> Ensemble | None:
        submission_id = Ensemble.objects.filter(pk=pk).values_list("submission_id", flat=True).first()
        if submission_id is None:
            return None
        Submission.objects.select_for_update(of=("self",)).filter(pk=submission_id).first()
        return super().lock(pk, nowait=nowait)

    def ready(self, row: Ensemble) -> bool:
        if row.build_status != BuildStatus.WAITING:
            return True
        running = Submission.objects.filter(ensemble_memberships__ensemble=row).exclude(status__in=ENDED)
        if not running.exists():
            return True
        row.heartbeat_at = None
        row.save(update_fields=["heartbeat_at"])
        return False

    def begin(self, row: Ensemble) -> list[str]:
        row.build_status = BuildStatus.RUNNING
        return ["build_status"]

    def work(self, row: Ensemble, scratch: Path) -> list[BuiltMask]:
        members = Submission.objects.filter(ensemble_memberships__ensemble=row)
        if not members.filter(status=Submission.Status.SUCCEEDED).exists():
            raise StepFailed(
                "Every member failed or was cancelled, so there are no outputs to fuse; see the members' "
                "pages for why."
            )
        return _ensemble_masks_build(ensemble=row, folder=scratch)

    def record(self, row: Ensemble, result: list[BuiltMask]) -> None:
        for built in result:
            EnsembleMask.objects.update_or_create(
                ensemble=row,
                case_id=built.case_id,
                defaults={
                    "file": built.name,
                    "members_without_output": list(built.members_without_output),
                    "notes": list(built.notes),
                },
            )
        row.build_status, row.built_at = BuildStatus.SUCCEEDED, timezone.now()
        row.save()
        if row.submission.status == Submission.Status.EVALUATING:
            submission_evaluation_queue(submission_id=row.submission_id)

    def fail(self, row: Ensemble, *, sentence: str, note: str) -> None:
        row.build_status, row.error = BuildStatus.FAILED, sentence
        row.save()
        submission = row.submission
        if submission.status in (
            Submission.Status.PENDING,
            Submission.Status.CHECKING,
            Submission.Status.EVALUATING,
        ):
            submission.error = f"Its masks could not be built: {sentence}"
            submission_transition(submission=submission, to_status=Submission.Status.FAILED, note=note)


BUILD = EnsembleBuild()


def ensemble_build(*, ensemble_id: int) -> None:
    """Build the ensemble's masks (``EnsembleBuild``); a repeat, or an ensemble built already, does
    nothing."""
    step_run(BUILD, pk=ensemble_id)


def ensemble_builds_wake(*, member_id: int) -> None:
    """The submission ``member_id`` has ended: every ensemble WAITING for it looks again at its members
    after the commit (``EnsembleBuild.ready``). Its ``heartbeat_at`` is stamped in the same transaction,
    so that if the message is lost (a worker killed before it ran) the step sweeper sends it again."""
    waiting = list(
        Ensemble.objects.filter(
            build_status=BuildStatus.WAITING, memberships__submission_id=member_id
        ).values_list("pk", flat=True)
    )
    Ensemble.objects.filter(pk__in=waiting).update(heartbeat_at=timezone.now())
    for pk in waiting:
        transaction.on_commit(partial(BUILD.queue, pk))


def ensemble_steps_register() -> None:
    """Let the step engine's sweeper watch the builds of ensembles."""
    step_register(BUILD)


def _ensemble_masks_build(*, ensemble: Ensemble, folder: Path) -> list[BuiltMask]:
    """Fuse the members' stored outputs case by case and write each fused mask to private storage.

    Each member's outputs are copied once (``submission_masks_copy``: an algorithm's stored job outputs,
    no container runs). A member without an output for a case, or whose output cannot be read or is not
    on the case's grid, counts as an empty mask there and is named in the result. The fused mask is
    written as uint8 {0, 1} with the geometry of the case's ground truth (the grid the phase is scored on:
    containers may write their outputs without spacing or origin).
    """
    phase = ensemble.submission.phase
    member_ids = ensemble_member_ids(ensemble=ensemble)
    members = {member.pk: member for member in Submission.objects.filter(pk__in=member_ids)}
    outputs = {
        pk: submission_masks_copy(submission=members[pk], folder=folder / f"member-{pk}") for pk in member_ids
    }
    rule = cast(FusionRule, ensemble.rule)
    not_run = _cases_no_member_ran(members=list(members.values()))
    built = []
    for case in submission_selectors.phase_case_list(phase=phase).exclude(name__in=not_run):
        grid = _case_grid(phase=phase, case=case, folder=folder)
        masks, without, notes = [], [], []
        for pk in member_ids:
            mask, note = _member_mask(path=outputs[pk].get(case.name), shape=grid.shape, member=pk)
            masks.append(mask)
            if note is not None:
                without.append(pk)
                notes.append(note)
        fused = fuse(masks, rule=rule)
        name = _mask_store(ensemble=ensemble, case=case, fused=fused, grid=grid, folder=folder)
        built.append(BuiltMask(case.pk, name, tuple(without), tuple(notes)))
    return built


def _cases_no_member_ran(*, members: Sequence[Submission]) -> frozenset[str]:
    """The cases every member left out for the data's sake (a validation case lacking an input its
    containers read, ``SubmissionKind.cases_not_run``): the ensemble has no mask there and is not scored
    there either."""
    left_out = [submission_kind_get(member.kind).cases_not_run(submission=member) for member in members]
    return frozenset.intersection(*left_out) if left_out else frozenset()


@dataclass(frozen=True)
class _Grid:
    """A case's voxel grid: the array shape (z, y, x) and the image that carries its geometry."""

    shape: tuple[int, ...]
    image: Any  # a SimpleITK image; SimpleITK carries no annotations


def _case_grid(*, phase: Phase, case: Case, folder: Path) -> _Grid:
    try:
        path = phase_ground_truth_copy(phase=phase, case=case, folder=folder)
    except LookupError as missing:
        raise StepFailed(
            f"{missing} The ensemble has no grid to build its mask on: make a version that covers every case."
        ) from None
    image: Any = sitk.ReadImage(str(path))
    return _Grid(shape=tuple(reversed(image.GetSize())), image=image)


def _member_mask(*, path: Path | None, shape: tuple[int, ...], member: int) -> tuple[np.ndarray, str | None]:
    """The member's mask of a case as a boolean array of ``shape``, and, when it counts as empty, why."""
    empty = np.zeros(shape, dtype=bool)
    if path is None:
        return empty, f"Submission {member} has no output for this case; it counted as an empty mask."
    try:
        mask = read_mask(path)
    except ImageRefused as refused:
        return (
            empty,
            f"Submission {member}'s output could not be read ({refused}); it counted as an empty mask.",
        )
    if mask.array.shape != shape:
        return empty, (
            f"Submission {member}'s output is {size_text(mask.array.shape[::-1])} voxels but the case is "
            f"{size_text(shape[::-1])}; it counted as an empty mask."
        )
    return mask.array, None


def _mask_store(*, ensemble: Ensemble, case: Case, fused: np.ndarray, grid: _Grid, folder: Path) -> str:
    """Write the fused mask under its one name for (ensemble, case), replacing a copy a dead build left."""
    image: Any = sitk.GetImageFromArray(fused.astype(np.uint8))
    image.CopyInformation(grid.image)
    path = folder / f"{case.name}_ensemble.nii.gz"
    sitk.WriteImage(image, str(path), useCompression=True)
    storage = private_storage()
    name = f"ensembles/{ensemble.pk}/{case.name}.nii.gz"
    if storage.exists(name):
        storage.delete(name)
    return storage.save(name, ContentFile(path.read_bytes()))


def ensemble_masks_copy(*, ensemble: Ensemble, folder: Path) -> dict[str, Path]:
    """Local copies of the ensemble's built masks, by case name (storage may be remote)."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = {}
    for mask in ensemble.masks.select_related("case"):
        path = folder / f"{mask.case.name}.nii.gz"
        with mask.file.open("rb") as source, path.open("wb") as target:
            shutil.copyfileobj(source, target)
        copies[mask.case.name] = path
    return copies


class EnsembleKind(SubmissionKind):
    """The ensemble kind of submission: no upload (it is checked when the organizer builds it), masks
    fused from its members' outputs by ``EnsembleBuild``, then scored like any submission."""

    value = Submission.Kind.ENSEMBLE
    is_organizers_own = True

    def check(self, *, submission: Submission, scratch: Path) -> list[str]:
        return []

    def scoring_start(self, *, submission: Submission) -> None:
        transaction.on_commit(partial(BUILD.queue, submission.ensemble.pk))

    def masks_copy(self, *, submission: Submission, folder: Path) -> dict[str, Path]:
        return ensemble_masks_copy(ensemble=submission.ensemble, folder=folder)

    def cases_not_run(self, *, submission: Submission) -> frozenset[str]:
        return _cases_no_member_ran(members=ensemble_members(ensemble=submission.ensemble))

    def steps_requeue(self, *, submission: Submission) -> int:
        ensemble = Ensemble.objects.select_for_update().get(submission=submission)
        if ensemble.build_status not in BUILD.statuses:
            return 0
        step_requeue(ensemble)
        ensemble.save(update_fields=CLAIM_FIELDS)
        transaction.on_commit(partial(BUILD.queue, ensemble.pk))
        return 1

    def steps_stop(self, *, submission: Submission) -> None:
        Ensemble.objects.filter(submission=submission, build_status__in=BUILD.statuses).update(
            build_status=BuildStatus.FAILED, error="An organizer stopped it.", claimed_by=""
        )


# What the ensemble's page shows.


@dataclass(frozen=True)
class MemberColumn:
    """A column of the side-by-side table: a member, or the ensemble itself."""

    submission_id: int
    label: str
    mean: float | None
    is_ensemble: bool


@dataclass(frozen=True)
class CaseRow:
    """One case: each column's value (None where it has no result) and the members without an output."""

    case_name: str
    values: tuple[float | None, ...]
    members_without_output: tuple[int, ...]


@dataclass(frozen=True)
class BestMemberTest:
    """The paired Wilcoxon signed-rank test of the ensemble against its best member on one metric."""

    best_member: int
    cases: int
    statistic: float
    p_value: float
    better: Literal["ensemble", "best member", "neither"]


@dataclass(frozen=True)
class EnsembleComparison:
    """The members' and the ensemble's per-case values of one metric side by side, and the paired test."""

    metric_key: str
    metric_label: str
    higher_is_better: bool
    columns: tuple[MemberColumn, ...]
    rows: tuple[CaseRow, ...]
    test: BestMemberTest | None


def ensemble_comparison(*, ensemble: Ensemble, metric_key: str | None = None) -> EnsembleComparison:
    """The per-case values of ``metric_key`` (the phase's first leaderboard column by default) of every
    member and of the ensemble, on the phase's ground-truth version, and the Wilcoxon signed-rank test of
    the ensemble against the member with the best mean (``evaluation.ranking.pairwise_wilcoxon``, as the
    leaderboard's pairwise tests: cases where both have a finite value; one pair, so no correction).
    ``LookupError`` for a metric the phase has no column for."""
    submission = ensemble.submission
    phase = submission.phase
    column = _column(phase=phase, metric_key=metric_key)
    member_ids = ensemble_member_ids(ensemble=ensemble)
    ids = [*member_ids, submission.pk]
    table: ScoreTable = {str(pk): {} for pk in ids}
    results = CaseResult.objects.filter(
        submission_id__in=ids, ground_truth_version=phase.ground_truth_version
    ).select_related("case")
    names: dict[str, str] = {}
    for result in results:
        value = result.metrics.get(column.metric_key)
        if value is not None:
            table[str(result.submission_id)][str(result.case_id)] = {column.metric_key: float(value)}
        names[str(result.case_id)] = result.case.name
    missing = dict(ensemble.masks.values_list("case_id", "members_without_output"))
    labels = _member_labels(member_ids=member_ids)
    columns = tuple(
        MemberColumn(
            submission_id=pk,
            label="Ensemble" if pk == submission.pk else labels[pk],
            mean=_mean(table[str(pk)], column.metric_key),
            is_ensemble=pk == submission.pk,
        )
        for pk in ids
    )
    rows = tuple(
        CaseRow(
            case_name=name,
            values=tuple(table[str(pk)].get(case_id, {}).get(column.metric_key) for pk in ids),
            members_without_output=tuple(missing.get(int(case_id), [])),
        )
        for case_id, name in sorted(names.items(), key=lambda item: item[1])
    )
    return EnsembleComparison(
        metric_key=column.metric_key,
        metric_label=column.label,
        higher_is_better=column.higher_is_better,
        columns=columns,
        rows=rows,
        test=_best_member_test(table=table, columns=columns, column=column),
    )


def _column(*, phase: Phase, metric_key: str | None) -> LeaderboardColumn:
    columns = services.leaderboard_columns_ensure(phase=phase)
    if metric_key is None:
        return columns[0]
    for column in columns:
        if column.metric_key == metric_key:
            return column
    raise LookupError(f"Phase {phase.title} has no leaderboard column {metric_key!r}.")


def _member_labels(*, member_ids: Sequence[int]) -> dict[int, str]:
    members = Submission.objects.filter(pk__in=member_ids).select_related("team", "creator")
    return {
        member.pk: f"{member.team.name if member.team is not None else member.creator.username} ({member.pk})"
        for member in members
    }


def _mean(per_case: dict[str, dict[str, float]], key: str) -> float | None:
    values = [values[key] for values in per_case.values() if np.isfinite(values[key])]
    return float(np.mean(values)) if values else None


def _best_member_test(
    *, table: ScoreTable, columns: Sequence[MemberColumn], column: LeaderboardColumn
) -> BestMemberTest | None:
    members = [entry for entry in columns if not entry.is_ensemble and entry.mean is not None]
    ensemble = next(entry for entry in columns if entry.is_ensemble)
    if not members or not table[str(ensemble.submission_id)]:
        return None
    sign = 1.0 if column.higher_is_better else -1.0
    best = max(members, key=lambda entry: (sign * cast(float, entry.mean), -entry.submission_id))
    pair = {key: table[key] for key in (str(ensemble.submission_id), str(best.submission_id))}
    comparison = pairwise_wilcoxon(
        pair, column.metric_key, higher_is_better=column.higher_is_better
    ).comparisons[0]
    better: dict[str, Literal["ensemble", "best member"]] = {
        str(ensemble.submission_id): "ensemble",
        str(best.submission_id): "best member",
    }
    return BestMemberTest(
        best_member=best.submission_id,
        cases=comparison.cases,
        statistic=comparison.statistic,
        p_value=comparison.p_value,
        better=better.get(comparison.better or "", "neither"),
    )
