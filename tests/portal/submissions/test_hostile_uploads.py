"""Hostile and broken predictions archives, end to end: refused at the check with a sentence naming the
file, no quota spent, nothing scored, the leaderboard as it was, and every name shown escaped."""

import io
import tarfile
import zipfile
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from portal.leaderboards.models import LeaderboardEntry
from portal.submissions.models import CaseResult, Submission
from portal.submissions.services import UNEXPECTED_ERROR, submission_create
from tests.hostile_masks import CorruptMask, corrupt_masks, metaimage_header
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.submissions.conftest import CASE_NAMES, OpenPhase, mask_bytes, upload, zip_bytes

Status = Submission.Status
Capture = Callable[..., object]


def _submit(
    open_phase: OpenPhase, content: bytes, capture: Capture, name: str = "predictions.zip"
) -> Submission:
    with capture(execute=True):  # type: ignore[operator]  # pytest-django's fixture is untyped
        submission = submission_create(
            phase=open_phase.phase, user=open_phase.participant, upload=upload(content, name)
        )
    submission.refresh_from_db()
    return submission


def _leaderboard(open_phase: OpenPhase) -> list[tuple[int, dict[str, float]]]:
    entries = LeaderboardEntry.objects.filter(phase=open_phase.phase).order_by("rank", "submission_id")
    return [(entry.submission_id, entry.metrics) for entry in entries]


@pytest.fixture
def scored(open_phase: OpenPhase, django_capture_on_commit_callbacks: Capture) -> Submission:
    """The team's first submission, scored and on the leaderboard."""
    submission = _submit(
        open_phase,
        zip_bytes({f"{name}.nii.gz": mask_bytes() for name in CASE_NAMES}),
        django_capture_on_commit_callbacks,
    )
    assert submission.status == Status.SUCCEEDED
    return submission


@pytest.mark.parametrize(
    "data_file",
    [
        pytest.param("../sub-stroke0100_ground_truth.nii.gz", id="the-case-ground-truth-beside-it"),
        pytest.param("/etc/hostname", id="an-absolute-path"),
    ],
)
def test_a_metaimage_reading_another_file_is_refused_at_the_check_and_never_scored(
    open_phase: OpenPhase, scored: Submission, django_capture_on_commit_callbacks: Capture, data_file: str
) -> None:
    before = _leaderboard(open_phase)
    members = {
        "sub-stroke0100.mha": metaimage_header(f"ElementDataFile = {data_file}\n"),
        "sub-stroke0101.nii.gz": mask_bytes(),
    }

    submission = _submit(open_phase, zip_bytes(members), django_capture_on_commit_callbacks)

    assert submission.status == Status.FAILED
    assert submission.problems == [
        "sub-stroke0100.mha keeps its voxels in another file; save the mask as one .mha file that holds them "
        "(ElementDataFile = LOCAL)."
    ]
    assert not CaseResult.objects.filter(submission=submission).exists()
    assert _leaderboard(open_phase) == before


def _stored_zip(members: dict[str, bytes]) -> bytes:
    """A zip without compression (a mask padded with zeros would otherwise be refused as a bomb)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("corrupt", corrupt_masks("sub-stroke0100"))
def test_a_corrupt_mask_fails_the_check_spends_no_quota_and_leaves_the_leaderboard(
    open_phase: OpenPhase,
    scored: Submission,
    django_capture_on_commit_callbacks: Capture,
    corrupt: CorruptMask,
) -> None:
    before = _leaderboard(open_phase)

    submission = _submit(
        open_phase,
        _stored_zip({corrupt.name: corrupt.content, "sub-stroke0101.nii.gz": mask_bytes()}),
        django_capture_on_commit_callbacks,
    )

    assert submission.status == Status.FAILED
    [problem] = submission.problems
    assert problem.startswith(f"{corrupt.name} ")
    assert corrupt.says in problem
    assert submission.error.startswith("The archive has 1 problem; fix it and submit again")
    assert _leaderboard(open_phase) == before
    # The daily limit is 2: the scored submission and the next good one, the failed one not counted.
    assert _submit(
        open_phase, open_phase.upload_good().read(), django_capture_on_commit_callbacks
    ).status == (Status.SUCCEEDED)


def _zip_with_a_bad_crc() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in CASE_NAMES:
            archive.writestr(f"{name}.nii.gz", mask_bytes())
    raw = bytearray(buffer.getvalue())
    raw[raw.index(b"sub-stroke0100.nii.gz") + 80] ^= 0xFF  # a byte of the first member's data
    return bytes(raw)


def test_a_damaged_archive_is_a_sentence_not_an_unexpected_error(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Capture
) -> None:
    submission = _submit(open_phase, _zip_with_a_bad_crc(), django_capture_on_commit_callbacks)

    assert submission.status == Status.FAILED
    assert submission.error != UNEXPECTED_ERROR
    assert submission.problems == [
        "sub-stroke0100.nii.gz could not be read from the archive: its data fail their CRC check; make the "
        "archive again."
    ]


def _tar_gz_with_raw_names(members: dict[bytes, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for raw_name, content in members.items():
            info = tarfile.TarInfo(raw_name.decode("utf-8", "surrogateescape"))
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_name_that_is_not_utf8_is_shown_escaped_on_every_page_and_in_the_api(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Capture
) -> None:
    content = _tar_gz_with_raw_names(
        {
            b"notes-\xff\x1b[31m.txt": b"method",
            **{f"{name}.nii.gz".encode(): mask_bytes() for name in CASE_NAMES},
        }
    )
    submission = _submit(open_phase, content, django_capture_on_commit_callbacks, name="predictions.tar.gz")
    shown = "notes-\\xff\\x1b[31m.txt is not a mask file: use .nii.gz, .nii or .mha."
    organizer = ChallengeRoleFactory(challenge=open_phase.phase.challenge, role="ORGANIZER").user

    assert submission.problems == [shown]
    for user in (open_phase.participant, organizer):
        client = Client()
        client.force_login(user)
        pages = [
            client.get(reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug})),
            client.get(reverse("submission-detail", kwargs={"pk": submission.pk})),
            client.get(reverse("api:phase-submissions", kwargs={"slug": open_phase.phase.slug})),
            client.get(reverse("api:submission-detail", kwargs={"pk": submission.pk})),
        ]
        assert [page.status_code for page in pages] == [200, 200, 200, 200]
        assert "notes-\\xff\\x1b[31m.txt is not a mask file" in pages[1].content.decode()
        assert pages[2].json()[0]["problems"] == [shown]
        assert pages[3].json()["problems"] == [shown]
