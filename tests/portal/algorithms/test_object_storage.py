"""An algorithm image in an S3-compatible object store (``STORAGE_URL``; the tests' store is moto's S3
server, spoken to over HTTP): its chunks are stored as parts in the bucket and joined there, and its
checks read the archive back from the bucket, without a path on this machine."""

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from portal.algorithms.models import AlgorithmImage
from portal.submissions.models import Submission
from portal.submissions.services import submission_check
from tests.conftest import ObjectStore
from tests.inference.images import image_archive_write
from tests.portal.algorithms.conftest import AlgorithmPhase, archive_upload

pytestmark = pytest.mark.integration


def _config_digest(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
    return f"sha256:{hashlib.sha256(config).hexdigest()}"


def test_an_image_uploaded_in_chunks_is_joined_and_checked_in_the_object_store(
    object_store: ObjectStore, algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    archive = image_archive_write(tmp_path / "image.tar", layer_bytes=20_000, compress=True)
    client = algorithm_phase.client_for(algorithm_phase.participant)

    body = archive_upload(client, phase=algorithm_phase.phase, archive=archive, chunk_bytes=8192)
    submission = Submission.objects.get(pk=body["submission"])
    submission_check(submission_id=submission.pk)

    assert object_store.read(f"private/{submission.file.name}") == archive.read_bytes()
    image = AlgorithmImage.objects.get(submission=submission)
    assert image.status == AlgorithmImage.Status.ACCEPTED, image.problems
    assert image.image_id == _config_digest(archive)


def test_an_image_in_the_object_store_that_runs_as_root_is_refused_with_a_sentence(
    object_store: ObjectStore, algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    config = {"architecture": "amd64", "os": "linux", "config": {"User": "root", "Entrypoint": ["/x"]}}
    archive = image_archive_write(tmp_path / "image.tar", config=config)
    client = algorithm_phase.client_for(algorithm_phase.participant)

    body = archive_upload(client, phase=algorithm_phase.phase, archive=archive)
    submission_check(submission_id=body["submission"])

    submission = Submission.objects.get(pk=body["submission"])
    assert submission.status == Submission.Status.FAILED
    assert len(submission.problems) == 1
    assert "root" in submission.problems[0]
