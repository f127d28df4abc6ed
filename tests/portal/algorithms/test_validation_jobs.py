"""External validation on real (busybox) containers: two participants' algorithm submissions, scored on a
synthetic ISLES'24 release, are re-run by the organizer through the API on a validation phase holding a
second synthetic release (one of whose cases lacks its Tmax map), without the participants submitting
again; the re-runs' jobs run the original images, skip the incomplete case, and are scored as the
evaluation CLI (``python -m evaluation``) scores their outputs, on the validation phase's own board.

The tasks run eagerly in the test process; ``django_capture_on_commit_callbacks`` runs each next step
that a step queues after its commit.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_django import DjangoCaptureOnCommitCallbacks

from portal.accounts.models import ChallengeRole
from portal.algorithms.models import AlgorithmSettings, ValidationRun
from portal.challenges.models import Phase, Split
from portal.datasets.models import DataCard, Dataset
from portal.datasets.services import data_terms_accept, isles24_import
from portal.leaderboards.models import LeaderboardEntry
from portal.submissions.models import CaseResult, Submission
from releases.synthetic import write_release
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.algorithms.conftest import COPY_DWI, AlgorithmPhase, archive_upload, evaluation_cli_scores
from tests.portal.challenges.factories import PhaseFactory

pytestmark = pytest.mark.integration

# Two algorithms, each saying whose it is, that write the voxels where a preprocessed map is above zero.
SCRIPTS = {
    "participant": "echo algorithm of participant; "
    + COPY_DWI.replace("dwi-brain-mri", "preprocessed-tmax-map"),
    "second": "echo algorithm of second; " + COPY_DWI.replace("dwi-brain-mri", "preprocessed-cbf-map"),
}


def _cli_scores(phase: Phase, rerun: Submission, folder: Path) -> dict[str, dict[str, float]]:
    """The evaluation CLI's per-case scores of the re-run's stored job outputs."""
    truths, outputs = folder / "ground-truth", folder / "outputs"
    truths.mkdir(parents=True)
    outputs.mkdir()
    for job in rerun.jobs.select_related("case"):
        (outputs / f"{job.case.name}.nii.gz").write_bytes(job.segmentation.read())
        (truths / f"{job.case.name}.nii.gz").write_bytes(job.case.ground_truths.get().file.read())
    return evaluation_cli_scores(
        profile=phase.metric_profile, ground_truth=truths, predictions=outputs, output=folder / "scores.json"
    )


def test_the_validation_phase_reruns_two_submissions_on_a_second_release_and_scores_them(
    algorithm_phase: AlgorithmPhase,
    saved_image: Callable[[str], Path],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    tmp_path: Path,
) -> None:
    phase = algorithm_phase.phase
    challenge = phase.challenge
    phase.dataset = Dataset.objects.create(challenge=challenge, slug="first-centre", title="First centre")
    phase.save()
    write_release(tmp_path / "first", cases=2, seed=7, size="small")
    isles24_import(dataset=phase.dataset, root=tmp_path / "first", split=Split.TEST)
    AlgorithmSettings.objects.filter(phase=phase).update(interface_set="isles24")
    DataCard.objects.create(challenge=challenge, licence="CC BY-NC 4.0", terms="For research only.")
    participants = {"participant": algorithm_phase.participant}
    participants["second"] = ChallengeRoleFactory(
        challenge=challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="second"
    ).user
    originals = []
    for username, user in participants.items():
        data_terms_accept(user=user, challenge=challenge, consents_to_reruns=True)
        with django_capture_on_commit_callbacks(execute=True):
            body = archive_upload(
                algorithm_phase.client_for(user),
                phase=phase,
                archive=saved_image(SCRIPTS[username]),
                chunk_bytes=1 << 20,
            )
        original = Submission.objects.get(pk=body["submission"])
        assert original.status == Submission.Status.SUCCEEDED, original.error
        originals.append(original)

    # A second centre's release, one of whose three cases has lost its Tmax map.
    validation = PhaseFactory(
        challenge=challenge,
        dataset=Dataset.objects.create(challenge=challenge, slug="second-centre", title="Second centre"),
        slug="second-centre-validation",
        title="Second-centre validation",
        submission_kind=Phase.SubmissionKind.ALGORITHM,
        split=Split.TEST,
        metric_profile=phase.metric_profile,
        is_validation=True,
    )
    AlgorithmSettings.objects.create(
        phase=validation, interface_set="isles24", time_limit_s=60, memory_gb=0.25, cpus=1.0, pids=32
    )
    names = write_release(tmp_path / "second", cases=3, seed=8, size="small", first_subject=201)
    isles24_import(dataset=validation.dataset, root=tmp_path / "second", split=Split.TEST)
    incomplete = validation.dataset.cases.get(name=names[2])
    incomplete.images.filter(interface="preprocessed-tmax-map").delete()
    uploads_before = Submission.objects.filter(kind=Submission.Kind.ALGORITHM).count()

    with django_capture_on_commit_callbacks(execute=True):
        created = algorithm_phase.client_for(algorithm_phase.organizer).post(
            f"/api/phases/{validation.slug}/validation-runs/",
            {"submissions": [original.pk for original in originals]},
            format="json",
        )
    assert created.status_code == 201, created.json()

    skipped = (
        f"Case {names[2]} has no preprocessed-tmax-map, which the containers read: "
        "it was not run, nor scored."
    )
    assert [(run["original"], run["status"], run["skipped_cases"]) for run in created.json()] == [
        (originals[0].pk, "EVALUATING", [skipped]),
        (originals[1].pk, "EVALUATING", [skipped]),
    ]
    assert Submission.objects.filter(kind=Submission.Kind.ALGORITHM).count() == uploads_before
    for original, run in zip(originals, ValidationRun.objects.order_by("submission_id"), strict=True):
        rerun = run.submission
        rerun.refresh_from_db()
        assert run.original == original
        assert rerun.status == Submission.Status.SUCCEEDED, rerun.error
        assert rerun.algorithm_image.image_id == original.algorithm_image.image_id
        jobs = {job.case.name: job.status for job in rerun.jobs.select_related("case")}
        assert jobs == {names[0]: "SUCCEEDED", names[1]: "SUCCEEDED"}
        # The container that ran is the original's image.
        said = {job.stdout_tail.splitlines()[0] for job in rerun.jobs.all()}
        assert said == {f"algorithm of {original.creator.username}"}
        portal = {
            result.case.name: result.metrics
            for result in CaseResult.objects.filter(submission=rerun).select_related("case")
        }
        cli = _cli_scores(validation, rerun, tmp_path / f"scores-{rerun.pk}")
        assert sorted(portal) == sorted(cli) == [names[0], names[1]]
        for name, metrics in cli.items():
            assert {key: portal[name][key] for key in metrics} == pytest.approx(metrics), name
    # Each re-run is listed under its participant, on the validation phase's board only.
    reruns = list(Submission.objects.filter(kind=Submission.Kind.RERUN).order_by("pk"))
    entries = LeaderboardEntry.objects.filter(phase=validation)
    assert {(entry.submission_id, entry.user.username) for entry in entries} == {
        (reruns[0].pk, "participant"),
        (reruns[1].pk, "second"),
    }
    assert not LeaderboardEntry.objects.filter(phase=phase, submission__kind=Submission.Kind.RERUN).exists()
