"""Checking predictions archives: unsafe members refused before extraction, every problem listed at once."""

import io
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from portal.submissions.archives import (
    ArchiveLimits,
    ArchiveRejected,
    archive_extract_masks,
    archive_inspect,
    masks_check,
)
from tests.portal.submissions.conftest import CASE_NAMES, SHAPE, mask_bytes, tar_gz_bytes, zip_bytes

LIMITS = ArchiveLimits(max_members=10, max_total_bytes=10 * 1024 * 1024, max_ratio=100)
BOMB_LIMITS = ArchiveLimits(max_members=10, max_total_bytes=100 * 1024 * 1024, max_ratio=100)
WriteArchive = Callable[..., Path]


def _rejection(path: Path, limits: ArchiveLimits = LIMITS) -> list[str]:
    with pytest.raises(ArchiveRejected) as caught:
        archive_inspect(
            path,
            max_members=limits.max_members,
            max_total_bytes=limits.max_total_bytes,
            max_ratio=limits.max_ratio,
        )
    return caught.value.problems


def test_archive_inspect_lists_a_traversal_and_an_absolute_path_together(archive_file: WriteArchive) -> None:
    path = archive_file(
        zip_bytes({"../evil.nii.gz": b"x", "/etc/cron.d/evil.nii.gz": b"x", "ok.nii.gz": b"x"})
    )

    problems = _rejection(path)

    assert problems == [
        "../evil.nii.gz points outside the archive with '..'.",
        "/etc/cron.d/evil.nii.gz has an absolute path; use paths inside the archive.",
    ]


def test_archive_inspect_refuses_links_and_fifos_in_a_tar(archive_file: WriteArchive) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, kind in (
            ("a.nii.gz", tarfile.SYMTYPE),
            ("b.nii.gz", tarfile.LNKTYPE),
            ("c", tarfile.FIFOTYPE),
        ):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    path = archive_file(buffer.getvalue(), "predictions.tar.gz")

    problems = _rejection(path)

    assert problems == [
        "a.nii.gz is a link; the archive may hold only files and folders.",
        "b.nii.gz is a link; the archive may hold only files and folders.",
        "c is a device or fifo; the archive may hold only files and folders.",
    ]


def test_archive_inspect_refuses_a_symlink_stored_in_a_zip(archive_file: WriteArchive) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("sub-stroke0100.nii.gz")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    path = archive_file(buffer.getvalue())

    assert _rejection(path) == [
        "sub-stroke0100.nii.gz is a link; the archive may hold only files and folders."
    ]


def test_archive_inspect_refuses_a_compression_bomb(archive_file: WriteArchive) -> None:
    path = archive_file(zip_bytes({"sub-stroke0100.nii": bytes(50 * 1024 * 1024)}))

    problems = _rejection(path, BOMB_LIMITS)

    assert len(problems) == 2
    assert problems[0].startswith("sub-stroke0100.nii expands ")
    assert problems[0].endswith("times its compressed size; at most 100 times is allowed.")
    assert problems[1].startswith("The archive expands ")


def test_archive_inspect_counts_members_and_uncompressed_bytes(archive_file: WriteArchive) -> None:
    members = {f"case{index}.nii.gz": bytes(range(256)) * 8 for index in range(12)}
    path = archive_file(tar_gz_bytes(members), "predictions.tgz")

    problems = _rejection(path, ArchiveLimits(max_members=10, max_total_bytes=20_000, max_ratio=1000))

    assert problems == [
        "The archive holds 12 files; at most 10 are allowed.",
        "The archive expands to 0.0 MB; at most 0.0 MB are allowed.",
    ]


def test_archive_inspect_says_when_the_file_is_not_an_archive(archive_file: WriteArchive) -> None:
    assert _rejection(archive_file(mask_bytes(), "predictions.zip")) == [
        "The file is not a readable .zip, .tar or .tar.gz archive of masks."
    ]


def test_archive_extract_masks_names_files_by_case_and_reports_strays_and_duplicates(
    archive_file: WriteArchive, tmp_path: Path
) -> None:
    path = archive_file(
        zip_bytes(
            {
                "out/sub-stroke0100_lesion-msk.nii.gz": mask_bytes(),
                "out/sub-stroke0100.mha": mask_bytes(suffix=".mha"),
                "out/sub-stroke0101.nii": mask_bytes(suffix=".nii"),
                "out/readme.txt": b"our method",
                "__MACOSX/out/._sub-stroke0101.nii": b"resource fork",
            }
        )
    )

    extracted = archive_extract_masks(path, tmp_path / "masks", limits=LIMITS)

    assert extracted.files == {
        "sub-stroke0100": tmp_path / "masks" / "sub-stroke0100_lesion-msk.nii.gz",
        "sub-stroke0101": tmp_path / "masks" / "sub-stroke0101.nii",
    }
    assert extracted.problems == [
        "Case sub-stroke0100 has two files: out/sub-stroke0100_lesion-msk.nii.gz and out/sub-stroke0100.mha.",
        "out/readme.txt is not a mask file: use .nii.gz, .nii or .mha.",
    ]
    assert sorted(path.name for path in (tmp_path / "masks").iterdir()) == [
        "sub-stroke0100_lesion-msk.nii.gz",
        "sub-stroke0101.nii",
    ]


def test_masks_check_lists_unknown_missing_unreadable_and_wrongly_sized_masks(tmp_path: Path) -> None:
    files = {
        "sub-stroke0100": tmp_path / "sub-stroke0100.nii.gz",
        "sub-stroke0101": tmp_path / "sub-stroke0101.nii.gz",
        "sub-stroke0999": tmp_path / "sub-stroke0999.nii.gz",
    }
    files["sub-stroke0100"].write_bytes(mask_bytes(shape=(6, 5, 3)))
    files["sub-stroke0101"].write_bytes(b"not an image")
    files["sub-stroke0999"].write_bytes(mask_bytes())
    expected = {name: SHAPE for name in (*CASE_NAMES, "sub-stroke0102")}

    problems = masks_check(masks=files, expected_shapes=expected)

    assert problems == [
        "sub-stroke0999.nii.gz names case sub-stroke0999, which is not one of this phase's cases.",
        "There is no mask for 1 case(s): sub-stroke0102.",
        "sub-stroke0100.nii.gz is 6x5x3 voxels but case sub-stroke0100 is 6x5x4.",
        "sub-stroke0101.nii.gz is not a readable image.",
    ]


def test_masks_check_finds_nothing_wrong_with_one_good_mask_per_case(tmp_path: Path) -> None:
    files = {}
    for name in CASE_NAMES:
        files[name] = tmp_path / f"{name}.nii.gz"
        files[name].write_bytes(mask_bytes())

    assert masks_check(masks=files, expected_shapes={name: SHAPE for name in CASE_NAMES}) == []


def test_archive_inspect_refuses_a_tar_gz_that_expands_too_much(archive_file: WriteArchive) -> None:
    path = archive_file(tar_gz_bytes({"sub-stroke0100.nii": bytes(20 * 1024 * 1024)}), "predictions.tar.gz")

    [problem] = _rejection(path, BOMB_LIMITS)

    assert problem.startswith("The archive expands ")
    assert problem.endswith("times its size; at most 100 times is allowed.")
