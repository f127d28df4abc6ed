"""Reads of the algorithms app that encode a rule: a phase's sandbox settings, which case runs first, which
cases lack an input the phase's containers read, who reads which job's log, and how long jobs wait."""

import datetime
import math
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from django.db.models import Count, Q
from django.utils import timezone

from inference.contract import INTERFACE_SETS, Interface, InterfaceKind, InterfaceSet
from inference.interfaces import docker_run_command
from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.algorithms.models import AlgorithmSettings, AlgorithmUpload, Job
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.datasets.selectors import case_admission_information
from portal.submissions.models import Submission
from portal.submissions.selectors import phase_case_list, submission_is_submitter


def algorithm_settings_get(*, phase: Phase) -> AlgorithmSettings:
    """The phase's algorithm settings, or the defaults (unsaved) when an organizer has set none."""
    found = AlgorithmSettings.objects.filter(phase=phase).first()
    return AlgorithmSettings(phase=phase) if found is None else found


def phase_interface_set(*, phase: Phase) -> InterfaceSet:
    """The contract the phase's containers are run with: their inputs and output."""
    return INTERFACE_SETS[algorithm_settings_get(phase=phase).interface_set]


@dataclass(frozen=True)
class CaseMissingInputs:
    """A case of an algorithm phase (or its sanity case) that lacks images the phase's containers read."""

    case_name: str
    is_sanity: bool
    missing: tuple[str, ...]

    @property
    def sentence(self) -> str:
        which = "The sanity case" if self.is_sanity else "Case"
        lacks = ", ".join(self.missing)
        consequence = (
            "every submission is refused until it has them or another case is chosen"
            if self.is_sanity
            else "its jobs will fail"
        )
        return (
            f"{which} {self.case_name} has no {lacks}, which this phase's containers read: {consequence};"
            " import the missing files."
        )


def phase_cases_missing_inputs(*, phase: Phase) -> list[CaseMissingInputs]:
    """The phase's cases, and its sanity case, that lack a required image input of the phase's contract,
    the sanity case first, then by name; empty when every case can run (or the phase has no cases).

    A JSON input is never missing: a case without admission data gets ``{}``.
    """
    cases = list(phase_case_list(phase=phase).prefetch_related("images"))
    if not cases:
        return []
    required = [interface.slug for interface in phase_interface_set(phase=phase).required_images]
    sanity = algorithm_sanity_case(phase=phase, cases=cases)
    found = []
    for case in [sanity, *(case for case in cases if case != sanity)]:
        present = {image.interface for image in case.images.all()}
        missing = tuple(slug for slug in required if slug not in present)
        if missing:
            found.append(CaseMissingInputs(case_name=case.name, is_sanity=case == sanity, missing=missing))
    return found


@dataclass(frozen=True)
class ContractFile:
    """One input or the output of a phase's containers, as a participant reads it."""

    slug: str
    title: str
    path: str
    file_format: str
    required: bool


@dataclass(frozen=True)
class AlgorithmContract:
    """What a phase's container reads and writes and the sandbox it runs in, from the same table and
    settings the worker uses (``inference.contract``, ``AlgorithmSettings.sandbox_limits``)."""

    interface_set: str
    inputs: tuple[ContractFile, ...]
    output: ContractFile
    clinical_keys: tuple[str, ...]
    memory_gb: float
    cpus: float
    pids: int
    time_limit_s: int
    tmpfs_mb: int
    output_max_mb: int
    image_max_gb: float
    gpu: bool
    docker_run: tuple[str, ...]

    @property
    def docker_run_line(self) -> str:
        return " ".join(self.docker_run)


def _contract_file(interface: Interface, *, folder: str) -> ContractFile:
    if interface.kind is InterfaceKind.IMAGE:
        path = f"{folder}/{interface.relative_path}/<name>.{interface.image_format}"
        file_format = "MetaImage (.mha)" if interface.image_format == "mha" else "NIfTI (.nii.gz)"
    else:
        path, file_format = f"{folder}/{interface.relative_path}", "JSON"
    return ContractFile(
        slug=interface.slug,
        title=interface.title,
        path=path,
        file_format=file_format,
        required=interface.required,
    )


def algorithm_contract(*, phase: Phase, gpu: bool) -> AlgorithmContract:
    """The contract of the phase's containers; ``gpu`` says whether its workers have a GPU to give a run,
    which they do only when the phase's sandbox asks for one (``AlgorithmSettings.gpu``).

    The clinical JSON's keys are those of the admission tables of the phase's cases (never outcomes).
    """
    algorithm_settings = algorithm_settings_get(phase=phase)
    gpu = gpu and algorithm_settings.gpu
    interface_set = INTERFACE_SETS[algorithm_settings.interface_set]
    keys: dict[str, None] = {}
    for case in phase_case_list(phase=phase):
        keys.update(dict.fromkeys(case_admission_information(case=case)))
    command = docker_run_command(
        image="my-algorithm",
        limits=algorithm_settings.sandbox_limits,
        cpus=algorithm_settings.cpus,
        gpu=gpu,
        input_folder="$PWD/test/input",
        output_folder="$PWD/test/output",
    )
    return AlgorithmContract(
        interface_set=interface_set.name,
        inputs=tuple(_contract_file(interface, folder="/input") for interface in interface_set.inputs),
        output=replace(
            _contract_file(interface_set.output, folder="/output"),
            file_format=(
                "MetaImage (.mha) or NIfTI (.nii.gz), one file, on the input grid; values > 0 are lesion"
            ),
        ),
        clinical_keys=tuple(keys),
        memory_gb=algorithm_settings.memory_gb,
        cpus=algorithm_settings.cpus,
        pids=algorithm_settings.pids,
        time_limit_s=algorithm_settings.time_limit_s,
        tmpfs_mb=algorithm_settings.tmpfs_mb,
        output_max_mb=algorithm_settings.output_max_mb,
        image_max_gb=algorithm_settings.image_max_gb,
        gpu=gpu,
        docker_run=tuple(command),
    )


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
    needed = {interface.slug for interface in phase_interface_set(phase=phase).required_images}
    with_inputs = (
        Case.objects.filter(dataset_id=phase.dataset_id, split=Split.TRAIN)
        .annotate(inputs=Count("images", filter=Q(images__interface__in=needed)))
        .filter(inputs=len(needed))
        .order_by("name")
    )
    return with_inputs.first() or cases[0]


QUEUE_WAIT_WINDOW = datetime.timedelta(hours=24)
"""How far back ``phase_job_queues`` looks for the waits of jobs a worker took."""


@dataclass(frozen=True)
class PhaseJobQueue:
    """The jobs of an algorithm phase's submissions as an organizer watches them near a deadline: how many
    wait for a worker and how many run now, and the 95th percentile of the time jobs waited before a worker
    took them (``None`` when no worker took one within ``QUEUE_WAIT_WINDOW``) over ``waits_counted`` jobs."""

    waiting: int
    running: int
    wait_p95_s: float | None
    waits_counted: int


def phase_job_queues(*, phase_ids: Collection[int]) -> dict[int, PhaseJobQueue]:
    """The job queue of each of the phases, by phase id (a phase without jobs has zeros).

    A job waits while it is QUEUED, or RUNNING with no claim (its worker let it go or died), in a submission
    being evaluated (a job waiting for its sanity case included); it runs while a worker holds its claim.
    Its wait is from ``queued_at`` (made, or re-queued by an organizer) to ``started_at`` (its worker's
    claim), over the jobs a worker took in the last ``QUEUE_WAIT_WINDOW``; the 95th percentile is the
    nearest rank (the smallest wait at least 95% of the waits are not above). Two queries.
    """
    jobs = Job.objects.filter(submission__phase__in=phase_ids).order_by()
    evaluating = Q(submission__status=Submission.Status.EVALUATING)
    counts = {
        row["submission__phase"]: row
        for row in jobs.values("submission__phase").annotate(
            waiting=Count(
                "pk",
                filter=evaluating
                & (Q(status=Job.Status.QUEUED) | Q(status=Job.Status.RUNNING, claimed_by="")),
            ),
            running=Count("pk", filter=Q(status=Job.Status.RUNNING) & ~Q(claimed_by="")),
        )
    }
    waits: dict[int, list[float]] = defaultdict(list)
    recent = jobs.filter(started_at__gte=timezone.now() - QUEUE_WAIT_WINDOW)
    for phase_id, queued_at, started_at in recent.values_list("submission__phase", "queued_at", "started_at"):
        waits[phase_id].append(max((started_at - queued_at).total_seconds(), 0.0))
    queues = {}
    for phase_id in phase_ids:
        row = counts.get(phase_id, {})
        phase_waits = sorted(waits[phase_id])
        queues[phase_id] = PhaseJobQueue(
            waiting=row.get("waiting", 0),
            running=row.get("running", 0),
            wait_p95_s=phase_waits[math.ceil(0.95 * len(phase_waits)) - 1] if phase_waits else None,
            waits_counted=len(phase_waits),
        )
    return queues
