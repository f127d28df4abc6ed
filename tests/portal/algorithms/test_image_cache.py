"""A worker loads a submission's image into its engine once, by digest: the sanity job loads the uploaded
archive (the engine had never seen the image) and every later job of the submission runs the loaded image.
Counted from the engine's own events, on a real busybox image."""

import time
from pathlib import Path

import docker
import pytest
from pytest_django import DjangoCaptureOnCommitCallbacks

from inference.image_checks import image_tar_inspect
from portal.submissions.models import Submission
from tests.inference.images import AlgorithmImage, image_save
from tests.portal.algorithms.conftest import COPY_DWI, AlgorithmPhase, archive_upload

pytestmark = pytest.mark.integration


def test_a_submissions_image_is_loaded_once_for_all_its_jobs(
    algorithm_phase: AlgorithmPhase,
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    tmp_path: Path,
) -> None:
    tag = algorithm_image(f"{COPY_DWI}; echo loaded once")  # this test's own image
    archive = image_save(docker_client, tag, tmp_path / "image.tar")
    image_id = image_tar_inspect(archive, max_size_bytes=10**9).image_id
    docker_client.images.remove(tag, force=True)  # the worker's engine has never seen it
    since = time.time()

    client = algorithm_phase.client_for(algorithm_phase.participant)
    with django_capture_on_commit_callbacks(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=archive, chunk_bytes=1 << 20)
    submission = Submission.objects.get(pk=body["submission"])

    loads = docker_client.events(
        since=since, until=time.time() + 1, decode=True, filters={"type": "image", "event": "load"}
    )
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    assert submission.jobs.filter(status="SUCCEEDED").count() == 3
    assert [event["id"] for event in loads if event["id"] == image_id] == [image_id]
