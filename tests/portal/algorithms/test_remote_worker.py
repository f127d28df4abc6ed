"""A worker on another host (``inference.remote_worker``) runs an algorithm submission's jobs through the
portal's worker API over real HTTP (a live server), with its files fetched by signed links, on the fake
runtime: the submission ends as it does with a worker beside the database. The worker's key is the only
way in, a worker acts only on its own claims, and a job taken over by another worker is not recorded by
the first. tests/integration/test_remote_worker.py runs a real worker process on real containers."""

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inference.remote_worker import ClaimLost, PortalClient, PortalRefused, WorkerSettings, job_next_remote
from inference.runtime import FakeRuntime
from inference.tickets import StoredFile
from portal.algorithms import remote, tasks
from portal.algorithms.models import Job, RemoteWorker
from portal.submissions.models import Submission
from tests.conftest import ObjectStore
from tests.portal.algorithms.conftest import AlgorithmPhase, FakeEngine, archive_upload

pytestmark = pytest.mark.django_db(transaction=True)


def copy_dwi(input_folder: Path, output_folder: Path) -> None:
    source = next((input_folder / "images" / "dwi-brain-mri").glob("*.mha"))
    target = output_folder / "images" / "stroke-lesion-segmentation" / "output.mha"
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)


@pytest.fixture
def portal(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch):
    """The live portal, whose signed links point at it, and whose gpu messages no local worker takes (this
    test's remote worker takes each job by asking for it)."""
    monkeypatch.setattr(tasks.job_next_task, "delay", lambda *args, **kwargs: None)
    with override_settings(ISLES_PORTAL_URL=live_server.url):
        yield live_server


def _worker(name: str, portal: LiveServer, tmp_path: Path) -> tuple[PortalClient, WorkerSettings]:
    _, key = remote.remote_worker_add(name=name)
    settings = WorkerSettings(
        portal_url=portal.url, key=key, gpu_device=None, cache_folder=tmp_path / name, cache_max_bytes=1 << 30
    )
    return PortalClient(portal_url=portal.url, key=key), settings


def _submit(algorithm_phase: AlgorithmPhase, archive: Path) -> Submission:
    client = algorithm_phase.client_for(algorithm_phase.participant)
    body = archive_upload(client, phase=algorithm_phase.phase, archive=archive)
    return Submission.objects.get(pk=body["submission"])


def test_a_remote_worker_runs_every_job_and_the_submission_is_scored(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, portal: LiveServer, tmp_path: Path
) -> None:
    submission = _submit(algorithm_phase, fake_engine.image(copy_dwi))
    client, settings = _worker("gpu-host-1", portal, tmp_path)

    ran = []
    while (
        job_id := job_next_remote(client=client, runtime=fake_engine.runtime, settings=settings)
    ) is not None:
        ran.append(job_id)

    submission.refresh_from_db()
    jobs = list(submission.jobs.order_by("-is_sanity", "case__name"))
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    assert ran == [job.pk for job in jobs]  # the sanity job first
    assert all(job.status == Job.Status.SUCCEEDED and job.exit_code == 0 for job in jobs)
    assert all(job.claimed_by == "" and job.segmentation for job in jobs)
    assert set(submission.case_results.values_list("case__name", flat=True)) == {
        case.name for case in algorithm_phase.cases
    }
    assert len(fake_engine.runtime.runs) == 3
    assert RemoteWorker.objects.get(name="gpu-host-1").last_seen_at is not None


def test_an_algorithm_failure_reaches_its_team_through_a_remote_worker(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, portal: LiveServer, tmp_path: Path
) -> None:
    def crash(input_folder: Path, output_folder: Path) -> int:
        print("model file missing")
        return 3

    submission = _submit(algorithm_phase, fake_engine.image(crash))
    client, settings = _worker("gpu-host-1", portal, tmp_path)
    while job_next_remote(client=client, runtime=fake_engine.runtime, settings=settings) is not None:
        pass

    submission.refresh_from_db()
    sanity = submission.jobs.get(is_sanity=True)
    assert sanity.status == Job.Status.FAILED
    assert sanity.exit_code == 3
    assert "model file missing" in sanity.stdout_tail
    assert "exited with code 3" in sanity.failure
    assert submission.status == Submission.Status.FAILED
    assert "The sanity case" in submission.error


def test_signed_links_of_a_ticket_give_the_stored_bytes_and_nothing_else(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, portal: LiveServer, tmp_path: Path
) -> None:
    _submit(algorithm_phase, fake_engine.image(copy_dwi))
    client, _ = _worker("gpu-host-1", portal, tmp_path)
    ticket = client.job_next()
    assert ticket is not None
    dwi = ticket.inputs["dwi-brain-mri"]
    assert isinstance(dwi, StoredFile)
    assert dwi.source.startswith(portal.url)
    fetched = tmp_path / "fetched.nii.gz"
    client.download(dwi, fetched)
    job = Job.objects.select_related("case").get(pk=ticket.job_id)
    with job.case.images.get(interface="dwi-brain-mri").file.open("rb") as stored:
        assert fetched.read_bytes() == stored.read()
    # A ticket names the case's acquisitions, never its reference mask.
    assert set(ticket.inputs) <= {"dwi-brain-mri", "adc-brain-mri", "flair-brain-mri", "clinical-information"}
    with pytest.raises(OSError, match="not as the portal stored it"):
        client.download(StoredFile(dwi.source, "0" * 64, dwi.size_bytes, dwi.file_name), tmp_path / "other")


def test_only_a_workers_key_opens_the_worker_api(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, portal: LiveServer, tmp_path: Path
) -> None:
    _submit(algorithm_phase, fake_engine.image(copy_dwi))
    token = Token.objects.create(user=algorithm_phase.organizer).key
    anonymous = APIClient()
    assert anonymous.post("/api/worker/jobs/next/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert anonymous.post("/api/worker/jobs/next/").status_code == 401
    answer = anonymous.post("/api/worker/jobs/next/", HTTP_AUTHORIZATION="Worker isles-worker-guess")
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.json()["detail"]

    client, _ = _worker("gpu-host-1", portal, tmp_path)
    call_command("remote_worker", "revoke", "gpu-host-1")
    with pytest.raises(Exception, match="HTTP 401"):
        client.job_next()
    assert set(Job.objects.values_list("status", "claimed_by")) == {(Job.Status.QUEUED, "")}  # none taken


def test_a_worker_acts_only_on_its_own_claim(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, portal: LiveServer, tmp_path: Path
) -> None:
    _submit(algorithm_phase, fake_engine.image(copy_dwi))
    first, _ = _worker("gpu-host-1", portal, tmp_path)
    second, _ = _worker("gpu-host-2", portal, tmp_path)
    ticket = first.job_next()
    assert ticket is not None
    assert ticket.claim.startswith("remote worker gpu-host-1 claim ")

    with pytest.raises(ClaimLost):
        second.beat(ticket)
    with pytest.raises(ClaimLost):
        second.report(ticket, None)
    first.beat(ticket)
    assert Job.objects.get(pk=ticket.job_id).status == Job.Status.RUNNING


def test_a_job_given_to_another_worker_is_not_recorded_by_the_first(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, portal: LiveServer, tmp_path: Path
) -> None:
    _submit(algorithm_phase, fake_engine.image(copy_dwi))
    first, _first_settings = _worker("gpu-host-1", portal, tmp_path)
    second, second_settings = _worker("gpu-host-2", portal, tmp_path)
    stale = first.job_next()
    assert stale is not None
    # The first worker fell silent: the sweeper frees its claim and the second takes the job.
    Job.objects.filter(pk=stale.job_id).update(claimed_by="")
    assert (
        job_next_remote(client=second, runtime=fake_engine.runtime, settings=second_settings) == stale.job_id
    )

    with pytest.raises(ClaimLost):
        first.beat(stale)
    with pytest.raises(ClaimLost):
        first.report(stale, None)
    job = Job.objects.get(pk=stale.job_id)
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempt == 2


def test_a_worker_whose_engine_failed_gives_the_job_back(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, portal: LiveServer, tmp_path: Path
) -> None:
    _submit(algorithm_phase, fake_engine.image(copy_dwi))
    client, settings = _worker("gpu-host-1", portal, tmp_path)

    class EngineGone(FakeRuntime):
        def run(self, **kwargs: object) -> object:
            raise OSError("Cannot connect to the Docker daemon.")

    broken = EngineGone(fake_engine.algorithms)
    with pytest.raises(OSError, match="Docker daemon"):
        job_next_remote(client=client, runtime=broken, settings=settings)

    job = Job.objects.get(is_sanity=True)
    assert job.status == Job.Status.RUNNING
    assert job.claimed_by == ""
    assert job_next_remote(client=client, runtime=fake_engine.runtime, settings=settings) == job.pk
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


def test_the_command_registers_a_worker_and_shows_its_key_once(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("remote_worker", "add", "gpu-host-1")
    printed = capsys.readouterr().out
    key = next(line for line in printed.splitlines() if line.startswith(remote.KEY_PREFIX))
    assert remote.remote_worker_authenticate(key=key) == RemoteWorker.objects.get(name="gpu-host-1")
    assert key not in str(RemoteWorker.objects.values_list().get())
    with pytest.raises(Exception, match="already called"):
        call_command("remote_worker", "add", "gpu-host-1")
    with pytest.raises(Exception, match="cannot name a worker"):
        call_command("remote_worker", "add", "../etc")


def test_a_ticket_the_portal_could_not_make_leaves_the_job_to_the_next_worker(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    portal: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _submit(algorithm_phase, fake_engine.image(copy_dwi))
    client, _ = _worker("gpu-host-1", portal, tmp_path)

    def storage_down(file: object) -> str:
        raise OSError("The object store did not answer.")

    with monkeypatch.context() as patch:
        patch.setattr(remote, "_signed_link", storage_down)
        with pytest.raises(PortalRefused, match="HTTP 500"):
            client.job_next()
    job = Job.objects.get(is_sanity=True)
    assert job.claimed_by == ""
    ticket = client.job_next()
    assert ticket is not None
    assert ticket.job_id == job.pk


def test_an_administrator_sees_and_revokes_workers_in_the_admin(admin_client: Client) -> None:
    worker, key = remote.remote_worker_add(name="gpu-host-1")
    listing = admin_client.get("/admin/algorithms/remoteworker/")
    assert "gpu-host-1" in listing.content.decode()
    assert worker.key_sha256 not in listing.content.decode()

    answer = admin_client.post(
        "/admin/algorithms/remoteworker/", {"action": "revoke", "_selected_action": [worker.pk]}
    )

    assert answer.status_code == 302
    assert remote.remote_worker_authenticate(key=key) is None
    assert admin_client.get("/admin/algorithms/remoteworker/add/").status_code == 403


@pytest.mark.integration
def test_with_an_object_store_a_remote_worker_fetches_straight_from_it(
    object_store: ObjectStore,
    s3_endpoint: str,
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    portal: LiveServer,
    tmp_path: Path,
) -> None:
    submission = _submit(algorithm_phase, fake_engine.image(copy_dwi))
    client, settings = _worker("gpu-host-1", portal, tmp_path)
    ticket = client.job_next()
    assert ticket is not None
    dwi = ticket.inputs["dwi-brain-mri"]
    assert isinstance(dwi, StoredFile)
    assert dwi.source.startswith(f"{s3_endpoint}/{object_store.bucket}/private/")
    assert "X-Amz-Signature=" in dwi.source
    Job.objects.filter(pk=ticket.job_id).update(claimed_by="")  # that worker fell silent

    while job_next_remote(client=client, runtime=fake_engine.runtime, settings=settings):
        pass

    submission.refresh_from_db()
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    stored = object_store.client.list_objects_v2(Bucket=object_store.bucket, Prefix="private/")["Contents"]
    segmentations = [entry["Key"] for entry in stored if "/algorithms/segmentations/" in entry["Key"]]
    assert len(segmentations) == 3


def test_a_remote_worker_fetches_each_stored_file_once(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    portal: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _submit(algorithm_phase, fake_engine.image(copy_dwi))
    client, settings = _worker("gpu-host-1", portal, tmp_path)
    fetched: list[str] = []
    download = client.download
    monkeypatch.setattr(
        client, "download", lambda stored, target: (fetched.append(stored.sha256), download(stored, target))
    )

    while job_next_remote(client=client, runtime=fake_engine.runtime, settings=settings):
        pass

    # Three jobs read nine images, all stored with the same content (one sha256): fetched once, kept by it.
    stored = {image.sha256 for case in algorithm_phase.cases for image in case.images.all()}
    assert len(stored) == 1
    assert fetched == list(stored)
    assert [path.name.split(".")[0] for path in (settings.cache_folder / "downloads").iterdir()] == list(
        stored
    )
