"""``isles download`` against a live portal: the training split under the release's names, checked
against the manifest, with a progress bar; run again after an interruption, it keeps the whole files and
fetches only what is missing or damaged, asking for the rest of a file cut part way with a Range request;
before the data-use terms are accepted, it prints the data card's
full address."""

import hashlib
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_started
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token

from inference.client import main
from portal.datasets.models import DataCard
from tests.portal.datasets.release_world import ImportedRelease, imported_release_build, manifest_read

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def imported(release: Path, case_names: list[str]) -> ImportedRelease:
    return imported_release_build(release, case_names)


def _download(live_server: LiveServer, token: str, out_dir: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "--url",
            live_server.url,
            "--token",
            token,
            "download",
            "isles24",
            "--split",
            "train",
            *extra,
            str(out_dir),
        ],
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


def _files(out_dir: Path) -> dict[str, Path]:
    return {str(path.relative_to(out_dir)): path for path in out_dir.rglob("*") if path.is_file()}


def test_download_writes_the_training_split_under_the_releases_names_and_sha256sum_checks_it(
    live_server: LiveServer, imported: ImportedRelease, tmp_path: Path
) -> None:
    token = Token.objects.create(user=imported.participant).key
    out_dir = tmp_path / "train"

    code, out, err = _download(live_server, token, out_dir)

    assert code == 0, err
    assert out == f"{out_dir}\n"
    assert "100%" in err
    manifest = manifest_read((out_dir / "MANIFEST.sha256").read_text())
    assert set(manifest) == set(_files(out_dir)) - {"MANIFEST.sha256"}
    for case in imported.train:
        assert f"release/derivatives/{case}/ses-02/{case}_ses-02_lesion-msk.nii.gz" in manifest
        assert f"release/raw_data/{case}/ses-01/{case}_ses-01_ncct.nii.gz" in manifest
    assert not any(imported.test in path for path in manifest)
    check = subprocess.run(["sha256sum", "--check", "--quiet", "MANIFEST.sha256"], cwd=out_dir, check=False)
    assert check.returncode == 0


def test_an_interrupted_download_resumes_keeping_whole_files_and_replacing_the_rest(
    live_server: LiveServer, imported: ImportedRelease, tmp_path: Path
) -> None:
    token = Token.objects.create(user=imported.participant).key
    out_dir = tmp_path / "train"
    assert _download(live_server, token, out_dir)[0] == 0
    files = _files(out_dir)
    first, second = imported.train
    # What a run cut during the second case leaves: the first case whole, a file of the second cut short
    # (and its .part), another not yet written, the manifest not yet written.
    cut = files.pop(f"release/raw_data/{second}/ses-01/{second}_ses-01_ncct.nii.gz")
    cut.with_name(cut.name + ".part").write_bytes(cut.read_bytes()[:100])
    cut.write_bytes(cut.read_bytes()[:1000])
    files.pop(f"release/derivatives/{second}/ses-02/{second}_ses-02_lesion-msk.nii.gz").unlink()
    files.pop("MANIFEST.sha256").unlink()
    kept = {name: path.stat().st_mtime_ns for name, path in files.items()}
    assert any(first in name for name in kept)

    code, _, err = _download(live_server, token, out_dir)

    assert code == 0, err
    assert f"({len(kept)} already there, 1 resumed where they stopped)" in err
    assert {name: _files(out_dir)[name].stat().st_mtime_ns for name in kept} == kept
    check = subprocess.run(["sha256sum", "--check", "--quiet", "MANIFEST.sha256"], cwd=out_dir, check=False)
    assert check.returncode == 0


def test_download_of_a_case_the_participant_may_not_see_says_so(
    live_server: LiveServer, imported: ImportedRelease, tmp_path: Path
) -> None:
    token = Token.objects.create(user=imported.participant).key

    code, _, err = _download(live_server, token, tmp_path / "out", "--case", imported.test)

    assert code == 1
    assert err == "isles: There is no challenge 'isles24' (or no such case) you can see.\n"
    assert not (tmp_path / "out").exists()


def test_download_before_accepting_the_terms_prints_the_data_cards_full_address(
    live_server: LiveServer, imported: ImportedRelease, tmp_path: Path
) -> None:
    DataCard.objects.create(challenge=imported.challenge, licence="CC BY-NC 4.0", terms="Research only.")
    token = Token.objects.create(user=imported.participant).key

    code, out, err = _download(live_server, token, tmp_path / "out")

    assert (code, out) == (1, "")
    assert err == (
        f"isles: Accept the data-use terms of {imported.challenge.title} before you download its data: "
        f"{live_server.url}/datasets/isles24/card/\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.fixture
def requests_seen() -> Iterator[list[tuple[str, str]]]:
    """Each request the live portal receives: its path and its Range header."""
    seen: list[tuple[str, str]] = []

    def record(sender: object, environ: dict[str, Any], **kwargs: object) -> None:
        seen.append((environ["PATH_INFO"], environ.get("HTTP_RANGE", "")))

    request_started.connect(record)
    yield seen
    request_started.disconnect(record)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_cut_part_way_is_resumed_with_a_range_and_ends_with_the_manifests_sha256(
    live_server: LiveServer,
    imported: ImportedRelease,
    tmp_path: Path,
    requests_seen: list[tuple[str, str]],
) -> None:
    token = Token.objects.create(user=imported.participant).key
    out_dir = tmp_path / "train"
    assert _download(live_server, token, out_dir)[0] == 0
    manifest = manifest_read((out_dir / "MANIFEST.sha256").read_text())
    name = f"release/raw_data/{imported.train[1]}/ses-01/{imported.train[1]}_ses-01_ncct.nii.gz"
    cut = out_dir / name
    content = cut.read_bytes()
    cut.with_name(cut.name + ".part").write_bytes(content[: len(content) // 2])
    cut.unlink()
    requests_seen.clear()

    code, _, err = _download(live_server, token, out_dir)

    assert code == 0, err
    assert _sha256(cut) == manifest[name]
    assert not cut.with_name(cut.name + ".part").exists()
    assert "1 resumed where they stopped" in err
    ranges = [(path, header) for path, header in requests_seen if header]
    assert len(ranges) == 1
    assert ranges[0][0].startswith("/api/images/")
    assert ranges[0][1] == f"bytes={len(content) // 2}-"
    assert not any(path.endswith("/archive/") for path, _ in requests_seen)  # nothing else was lacking


def test_a_part_that_does_not_continue_the_file_is_fetched_again_whole(
    live_server: LiveServer, imported: ImportedRelease, tmp_path: Path
) -> None:
    token = Token.objects.create(user=imported.participant).key
    out_dir = tmp_path / "train"
    assert _download(live_server, token, out_dir)[0] == 0
    manifest = manifest_read((out_dir / "MANIFEST.sha256").read_text())
    name = f"release/derivatives/{imported.train[0]}/ses-02/{imported.train[0]}_ses-02_lesion-msk.nii.gz"
    cut = out_dir / name
    cut.with_name(cut.name + ".part").write_bytes(b"not the start of this mask")
    cut.unlink()

    code, _, err = _download(live_server, token, out_dir)

    assert code == 0, err
    assert _sha256(cut) == manifest[name]
    check = subprocess.run(["sha256sum", "--check", "--quiet", "MANIFEST.sha256"], cwd=out_dir, check=False)
    assert check.returncode == 0
