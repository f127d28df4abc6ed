"""Uploading an algorithm image in chunks, resuming a cut upload, and the checks read from the archive.

The archives here are written by hand in ``docker save``'s layout, so these tests need no Docker engine.
"""

import hashlib
from pathlib import Path

from portal.accounts.models import ChallengeRole
from portal.algorithms.models import AlgorithmImage
from portal.submissions.models import Submission
from portal.submissions.selectors import submission_list_counted
from portal.submissions.services import submission_check
from tests.inference.images import image_archive_write
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.algorithms.conftest import AlgorithmPhase, archive_upload, chunk_put
from tests.portal.challenges.factories import PhaseFactory

Status = Submission.Status


def _checked(algorithm_phase: AlgorithmPhase, archive: Path) -> Submission:
    client = algorithm_phase.client_for(algorithm_phase.participant)
    body = archive_upload(client, phase=algorithm_phase.phase, archive=archive)
    submission_check(submission_id=body["submission"])
    return Submission.objects.get(pk=body["submission"])


def test_an_upload_in_chunks_becomes_an_algorithm_submission_with_the_files_sha256(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    archive = image_archive_write(tmp_path / "image.tar", layer_bytes=10_000, compress=True)

    body = archive_upload(
        algorithm_phase.client_for(algorithm_phase.participant), phase=algorithm_phase.phase, archive=archive
    )

    submission = Submission.objects.get(pk=body["submission"])
    assert body["received_bytes"] == body["total_bytes"] == archive.stat().st_size
    assert submission.kind == "ALGORITHM"
    assert submission.status == Status.PENDING
    assert submission.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    with submission.file.open("rb") as stored:
        assert stored.read() == archive.read_bytes()


def test_a_chunk_out_of_order_is_refused_and_the_upload_resumes_from_the_servers_offset(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    content = image_archive_write(tmp_path / "image.tar", layer_bytes=9000).read_bytes()
    client = algorithm_phase.client_for(algorithm_phase.participant)
    upload_id = client.post(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/",
        {"total_bytes": len(content)},
        format="json",
    ).json()["id"]
    assert chunk_put(client, upload_id=upload_id, content=content, start=0, end=5000)["status"] == 200

    skipped = chunk_put(client, upload_id=upload_id, content=content, start=8000, end=len(content))
    again = chunk_put(client, upload_id=upload_id, content=content, start=0, end=5000)
    offset = client.get(f"/api/algorithm-uploads/{upload_id}/").json()["received_bytes"]
    finished = chunk_put(client, upload_id=upload_id, content=content, start=offset, end=len(content))

    assert skipped["status"] == again["status"] == 409
    assert skipped["received_bytes"] == offset == 5000
    assert "send from byte 5000" in skipped["detail"]
    assert finished["status"] == 200
    assert finished["submission"] is not None
    stored = Submission.objects.get(pk=finished["submission"])
    assert stored.sha256 == hashlib.sha256(content).hexdigest()


def test_an_upload_is_refused_before_any_byte_is_sent_when_the_phase_takes_predictions(
    algorithm_phase: AlgorithmPhase,
) -> None:
    phase = PhaseFactory(challenge=algorithm_phase.phase.challenge, submission_kind="PREDICTIONS")

    response = algorithm_phase.client_for(algorithm_phase.participant).post(
        f"/api/phases/{phase.slug}/algorithm-uploads/", {"total_bytes": 100}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "wrong_kind",
        "detail": "This phase takes archives of predicted masks, not algorithm containers.",
    }


def test_another_users_upload_is_not_found(algorithm_phase: AlgorithmPhase) -> None:
    upload_id = (
        algorithm_phase.client_for(algorithm_phase.participant)
        .post(
            f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/", {"total_bytes": 10}, format="json"
        )
        .json()["id"]
    )

    response = algorithm_phase.client_for(algorithm_phase.organizer).get(
        f"/api/algorithm-uploads/{upload_id}/"
    )

    assert response.status_code == 404


def test_an_image_running_as_root_fails_its_checks_with_a_sentence_and_spends_no_quota(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "root", "Entrypoint": ["/bin/predict"]},
    }
    submission = _checked(algorithm_phase, image_archive_write(tmp_path / "image.tar", config=config))

    assert submission.status == Status.FAILED
    assert len(submission.problems) == 1
    assert "root" in submission.problems[0]
    assert submission.jobs.count() == 0
    assert not submission_list_counted(
        phase=algorithm_phase.phase, team=None, user=algorithm_phase.participant
    ).exists()


def test_an_image_without_entrypoint_or_command_fails_its_checks(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    config = {"architecture": "amd64", "os": "linux", "config": {"User": "1000"}}
    submission = _checked(algorithm_phase, image_archive_write(tmp_path / "image.tar", config=config))

    assert submission.status == Status.FAILED
    assert len(submission.problems) == 1
    assert "entrypoint" in submission.problems[0].lower()


def test_an_image_already_accepted_in_the_phase_is_refused_as_a_duplicate(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    first = _checked(algorithm_phase, image_archive_write(tmp_path / "first.tar"))
    second = _checked(algorithm_phase, image_archive_write(tmp_path / "second.tar", compress=True))

    assert first.status == Status.EVALUATING
    assert first.algorithm_image.status == AlgorithmImage.Status.ACCEPTED
    assert second.status == Status.FAILED
    assert second.problems == [
        f"This image ({first.algorithm_image.image_id[:19]}) was already submitted to this phase as your "
        f"submission {first.pk}; change your algorithm before you submit it again."
    ]


def test_an_image_whose_earlier_submission_failed_may_be_sent_again(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    """A failed submission spent no quota, and its failure may have been the infrastructure's (an engine
    that went away, a worker that kept dying): the team sends the same image again."""
    first = _checked(algorithm_phase, image_archive_write(tmp_path / "first.tar"))
    Submission.objects.filter(pk=first.pk).update(status=Status.FAILED)

    second = _checked(algorithm_phase, image_archive_write(tmp_path / "second.tar", compress=True))

    assert second.algorithm_image.image_id == first.algorithm_image.image_id
    assert (second.status, second.problems) == (Status.EVALUATING, [])


def test_another_team_may_submit_an_image_already_accepted_in_the_phase(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    other = ChallengeRoleFactory(
        challenge=algorithm_phase.phase.challenge, role=ChallengeRole.Role.PARTICIPANT
    )
    first = _checked(algorithm_phase, image_archive_write(tmp_path / "first.tar"))
    body = archive_upload(
        algorithm_phase.client_for(other.user),
        phase=algorithm_phase.phase,
        archive=image_archive_write(tmp_path / "second.tar"),
    )
    submission_check(submission_id=body["submission"])
    second = Submission.objects.get(pk=body["submission"])

    assert first.status == second.status == Status.EVALUATING
    assert second.algorithm_image.image_id == first.algorithm_image.image_id
