"""Checking predictions archives: unsafe members refused before extraction, every problem listed at once."""

import gzip
import io
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from evaluation.archives import (
    ArchiveLimits,
    ArchiveRejected,
    archive_check,
    archive_extract_masks,
    archive_extract_tree,
    archive_inspect,
    masks_check,
)
from tests.hostile_masks import (
    ELSEWHERE,
    ELSEWHERE_SAYS,
    CorruptMask,
    corrupt_masks,
    metaimage_header,
    nifti_bytes,
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
    path = archive_file(zip_bytes(members))

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
        "sub-stroke0101.nii.gz is not a readable image: it is neither a NIfTI-1 file nor a MetaImage.",
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


def test_a_tar_listing_stops_at_the_member_that_passes_the_budget(archive_file: WriteArchive) -> None:
    # The member declares 10 GiB and the stream ends right after its header: listing on would have to
    # decompress all of it (or, here, fail); the header alone is enough to refuse the archive.
    info = tarfile.TarInfo("predictions/sub-stroke0100.nii")
    info.size = 10 * 1024**3
    path = archive_file(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096)), "predictions.tgz")

    assert _rejection(path) == [
        "predictions/sub-stroke0100.nii alone expands to 10,737.4 MB; the archive may expand to at most "
        "10.5 MB."
    ]


def test_a_tar_listing_stops_at_the_first_member_over_the_count(archive_file: WriteArchive) -> None:
    members = {f"case{index}.nii.gz": bytes(range(256)) for index in range(12)}
    path = archive_file(tar_gz_bytes(members), "predictions.tgz")

    assert _rejection(path) == ["The archive holds more than 10 files; at most 10 are allowed."]


def test_archive_inspect_refuses_an_over_long_name_with_a_sentence(archive_file: WriteArchive) -> None:
    long_name = "sub-stroke0100_" + "x" * 300 + ".nii.gz"
    path = archive_file(tar_gz_bytes({f"masks/{long_name}": mask_bytes()}), "predictions.tar.gz")

    [problem] = _rejection(path)

    assert problem.endswith(
        "has a name of 322 characters in a path of 328; use names of at most 200 characters."
    )
    assert problem.startswith("masks/sub-stroke0100_xxx")


def _zip_damaged(member: str, content: bytes, *, method: int, damage: slice) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr(member, content)
    raw = bytearray(buffer.getvalue())
    start = raw.index(member.encode()) + len(member)  # the data follow the local header's name
    raw[start + damage.start : start + damage.stop] = bytes(
        byte ^ 0x5A for byte in raw[start + damage.start : start + damage.stop]
    )
    return bytes(raw)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(
            _zip_damaged(
                "sub-stroke0100.nii.gz", mask_bytes(), method=zipfile.ZIP_STORED, damage=slice(60, 61)
            ),
            "sub-stroke0100.nii.gz could not be read from the archive: its data fail their CRC check; make "
            "the archive again.",
            id="bad-crc",
        ),
        pytest.param(
            _zip_damaged(
                "sub-stroke0100.nii", bytes(range(256)) * 64, method=zipfile.ZIP_DEFLATED, damage=slice(2, 40)
            ),
            "sub-stroke0100.nii could not be read from the archive: its compressed data are damaged; make "
            "the archive again.",
            id="corrupt-deflate",
        ),
        pytest.param(
            tar_gz_bytes({"sub-stroke0100.nii": np.random.default_rng(0).bytes(200_000)})[:100_000],
            "The archive is damaged or cut short after sub-stroke0100.nii; make the archive again.",
            id="tar-gz-cut-short",
        ),
    ],
)
def test_archive_extract_masks_names_a_damaged_member(
    archive_file: WriteArchive, tmp_path: Path, content: bytes, says: str
) -> None:
    path = archive_file(content, "predictions.tar.gz")

    with pytest.raises(ArchiveRejected) as rejected:
        archive_extract_masks(path, tmp_path / "masks", limits=LIMITS)

    assert rejected.value.problems == [says]


def test_member_names_that_are_not_utf8_are_shown_escaped_and_masks_named_so_are_read(
    archive_file: WriteArchive, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for raw_name, content in (
            (b"notes-\xff.txt", b"method"),
            (b"sub-stroke0100_\xe9.nii.gz", mask_bytes()),
        ):
            info = tarfile.TarInfo(raw_name.decode("utf-8", "surrogateescape"))
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    path = archive_file(buffer.getvalue(), "predictions.tar.gz")

    extracted = archive_extract_masks(path, tmp_path / "masks", limits=LIMITS)

    assert extracted.problems == ["notes-\\xff.txt is not a mask file: use .nii.gz, .nii or .mha."]
    assert extracted.files == {"sub-stroke0100": tmp_path / "masks" / "sub-stroke0100_\\xe9.nii.gz"}
    assert masks_check(masks=extracted.files, expected_shapes={"sub-stroke0100": SHAPE}) == []


def test_a_zip_that_marks_a_name_utf8_when_it_is_not_is_refused_naming_it_escaped(
    archive_file: WriteArchive,
) -> None:
    content = bytearray(zip_bytes({"sub-stroke0100_\u00e9.nii.gz": mask_bytes()}))
    for _ in range(2):  # the local header's name and the central directory's
        at = content.index("\u00e9".encode())
        content[at : at + 2] = b"\xff\xfe"

    assert _rejection(archive_file(bytes(content))) == [
        "The zip marks the name sub-stroke0100_\\xff\\xfe.nii.gz as UTF-8, which it is not; rename the file "
        "and make the archive again."
    ]


@pytest.mark.parametrize("corrupt", corrupt_masks("sub-stroke0100", size=SHAPE))
def test_masks_check_decodes_every_mask_and_names_a_corrupt_one(tmp_path: Path, corrupt: CorruptMask) -> None:
    path = tmp_path / corrupt.name
    path.write_bytes(corrupt.content)

    [problem] = masks_check(masks={"sub-stroke0100": path}, expected_shapes={"sub-stroke0100": SHAPE})

    assert problem.startswith(f"{corrupt.name} ")
    assert corrupt.says in problem


@pytest.mark.parametrize("data_file_lines", ELSEWHERE)
def test_masks_check_refuses_a_metaimage_whose_voxels_are_in_another_file(
    tmp_path: Path, data_file_lines: str
) -> None:
    secret = tmp_path / "sub-stroke0100_ground_truth.nii.gz"
    secret.write_bytes(mask_bytes())
    path = tmp_path / "masks" / "sub-stroke0100.mha"
    path.parent.mkdir()
    path.write_bytes(metaimage_header(data_file_lines, secret=f"../{secret.name}"))

    [problem] = masks_check(masks={"sub-stroke0100": path}, expected_shapes={"sub-stroke0100": SHAPE})

    assert re.match(rf"sub-stroke0100\.mha ({ELSEWHERE_SAYS})", problem)


def test_masks_check_compares_the_declared_grid_before_reading_a_voxel(tmp_path: Path) -> None:
    path = tmp_path / "sub-stroke0100.nii.gz"
    path.write_bytes(gzip.compress(nifti_bytes(np.zeros((1, 1, 1), np.uint8), dims=[3, 32767, 32767, 32767])))

    assert masks_check(masks={"sub-stroke0100": path}, expected_shapes={"sub-stroke0100": SHAPE}) == [
        "sub-stroke0100.nii.gz is 32767x32767x32767 voxels but case sub-stroke0100 is 6x5x4."
    ]


def test_archive_check_lists_every_problem_of_an_archive(archive_file: WriteArchive, tmp_path: Path) -> None:
    members = {f"{name}.nii.gz": mask_bytes() for name in CASE_NAMES} | {"notes.txt": b"method"}
    path = archive_file(zip_bytes(members))

    problems = archive_check(
        path,
        tmp_path / "masks",
        limits=LIMITS,
        expected_shapes={name: SHAPE for name in CASE_NAMES},
        seconds=60,
    )

    assert problems == ["notes.txt is not a mask file: use .nii.gz, .nii or .mha."]


def test_archive_extract_tree_keeps_the_folders_and_leaves_out_what_archivers_add(
    archive_file: WriteArchive, tmp_path: Path
) -> None:
    files = {
        "isles24/raw_data/sub-stroke0001/ses-01/ct.nii.gz": b"ct",
        "isles24/derivatives/sub-stroke0001/ses-02/msk.nii.gz": b"mask",
        "__MACOSX/isles24/._ct.nii.gz": b"resource fork",
    }
    told: list[tuple[int, int]] = []

    archive_extract_tree(
        archive_file(tar_gz_bytes(files), "release.tar.gz"),
        tmp_path / "out",
        limits=LIMITS,
        progress=lambda written, total: told.append((written, total)),
    )

    written = sorted(str(path.relative_to(tmp_path / "out")) for path in (tmp_path / "out").rglob("*.gz"))
    assert written == [
        "isles24/derivatives/sub-stroke0001/ses-02/msk.nii.gz",
        "isles24/raw_data/sub-stroke0001/ses-01/ct.nii.gz",
    ]
    assert (tmp_path / "out/isles24/raw_data/sub-stroke0001/ses-01/ct.nii.gz").read_bytes() == b"ct"
    assert told == [(1, 2), (2, 2)]


def test_archive_extract_tree_writes_nothing_of_an_archive_with_a_traversal(
    archive_file: WriteArchive, tmp_path: Path
) -> None:
    path = archive_file(zip_bytes({"release/raw_data/ok.nii.gz": b"x", "../../escaped.nii.gz": b"x"}))

    with pytest.raises(ArchiveRejected) as caught:
        archive_extract_tree(path, tmp_path / "out", limits=LIMITS)

    assert caught.value.problems == ["../../escaped.nii.gz points outside the archive with '..'."]
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "escaped.nii.gz").exists()
