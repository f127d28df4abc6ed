"""The worker's conversion cache: a case's inputs converted once per worker, keyed by the source's sha256,
safe for two workers at once, and kept under its size cap by removing the least recently used files."""

import os
import threading
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from inference.contract import ISLES22, inputs_stage
from inference.conversions import ConversionCache, file_sha256

SLUGS = ("dwi-brain-mri", "adc-brain-mri", "flair-brain-mri")
DWI = Path("images/dwi-brain-mri/dwi-brain-mri.mha")


def case_write(folder: Path, *, value: float) -> dict[str, Path]:
    """A small ISLES'22-style case whose images hold ``value`` (plus 10 for ADC and 20 for FLAIR)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = {}
    for offset, slug in enumerate(SLUGS):
        sources[slug] = folder / f"{slug}.nii.gz"
        voxels = np.full((4, 5, 6), value + 10 * offset, np.float32)
        sitk.WriteImage(sitk.GetImageFromArray(voxels), str(sources[slug]))
    return sources


def digests(sources: dict[str, Path]) -> dict[str, str]:
    return {slug: file_sha256(path) for slug, path in sources.items()}


class CountingConverter:
    """Converts as staging does (any image to an uncompressed .mha) and counts its calls."""

    def __init__(self, wait: threading.Barrier | None = None) -> None:
        self.calls = 0
        self.wait = wait

    def __call__(self, source: Path, target: Path) -> None:
        self.calls += 1
        if self.wait is not None:
            self.wait.wait(timeout=10)
        sitk.WriteImage(sitk.ReadImage(str(source)), str(target), useCompression=False)


def test_a_second_job_on_the_same_images_links_the_converted_files(tmp_path: Path) -> None:
    cache = ConversionCache(folder=tmp_path / "cache", max_bytes=2**30)
    sources = case_write(tmp_path / "case", value=1)
    # The portal's copy of the case for the second job: other paths and times, the same stored sha256.
    again = case_write(tmp_path / "copied-for-the-next-job", value=1)

    first = inputs_stage(
        sources,
        tmp_path / "first",
        interface_set=ISLES22,
        conversion_cache=cache,
        image_digests=digests(sources),
    )
    converted = (first / DWI).stat()
    second = inputs_stage(
        again,
        tmp_path / "second",
        interface_set=ISLES22,
        conversion_cache=cache,
        image_digests=digests(again),
    )

    assert (second / DWI).stat().st_ino == converted.st_ino
    assert sorted(path.name for path in cache.folder.iterdir()) == sorted(
        f"{digest}.mha" for digest in digests(sources).values()
    )
    assert (cache.folder.stat().st_mode & 0o777) == 0o700


def test_a_source_with_another_sha256_is_converted_again(tmp_path: Path) -> None:
    cache = ConversionCache(folder=tmp_path / "cache", max_bytes=2**30)
    sources = case_write(tmp_path / "case", value=1)
    first = inputs_stage(
        sources,
        tmp_path / "first",
        interface_set=ISLES22,
        conversion_cache=cache,
        image_digests=digests(sources),
    )
    # The organizers re-import the case with other voxels under the same names.
    changed = case_write(tmp_path / "case", value=2)

    second = inputs_stage(
        changed,
        tmp_path / "second",
        interface_set=ISLES22,
        conversion_cache=cache,
        image_digests=digests(changed),
    )

    assert (second / DWI).stat().st_ino != (first / DWI).stat().st_ino
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(second / DWI))).max() == 2
    assert len(list(cache.folder.iterdir())) == 2 * len(SLUGS)


def test_without_a_digest_the_file_is_hashed(tmp_path: Path) -> None:
    cache = ConversionCache(folder=tmp_path / "cache", max_bytes=2**30)
    source = case_write(tmp_path / "case", value=1)["dwi-brain-mri"]
    converter = CountingConverter()

    assert cache.stage(source, tmp_path / "a.mha", sha256=None, image_format="mha", convert=converter)
    assert not cache.stage(source, tmp_path / "b.mha", sha256=None, image_format="mha", convert=converter)

    assert converter.calls == 1
    assert [path.name for path in cache.folder.iterdir()] == [f"{file_sha256(source)}.mha"]


def test_over_the_cap_the_least_recently_used_files_go_first(tmp_path: Path) -> None:
    sources = case_write(tmp_path / "case", value=1)
    size = len(_converted_bytes(sources["dwi-brain-mri"], tmp_path))
    # Room for two converted images, not three.
    cache = ConversionCache(folder=tmp_path / "cache", max_bytes=2 * size + size // 2)
    converter = CountingConverter()
    stage = {
        slug: lambda slug=slug, name="": cache.stage(
            sources[slug], tmp_path / f"{slug}{name}.mha", sha256=slug, image_format="mha", convert=converter
        )
        for slug in SLUGS
    }
    stage["dwi-brain-mri"]()
    stage["adc-brain-mri"]()
    _age(cache.folder / "dwi-brain-mri.mha", seconds=20)
    _age(cache.folder / "adc-brain-mri.mha", seconds=10)
    assert not stage["dwi-brain-mri"](name="-again")  # used again: now the most recent

    stage["flair-brain-mri"]()

    assert sorted(path.name for path in cache.folder.iterdir()) == [
        "dwi-brain-mri.mha",
        "flair-brain-mri.mha",
    ]
    assert converter.calls == 3
    assert (tmp_path / "adc-brain-mri.mha").exists()  # the job that staged it keeps its file


def test_two_workers_converting_the_same_source_at_once_both_get_the_whole_file(tmp_path: Path) -> None:
    cache = ConversionCache(folder=tmp_path / "cache", max_bytes=2**30)
    source = case_write(tmp_path / "case", value=3)["dwi-brain-mri"]
    converter = CountingConverter(wait=threading.Barrier(2))  # both convert before either renames
    targets = [tmp_path / "worker-1.mha", tmp_path / "worker-2.mha"]
    workers = [
        threading.Thread(
            target=cache.stage,
            args=(source, target),
            kwargs={"sha256": "same", "image_format": "mha", "convert": converter},
        )
        for target in targets
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert converter.calls == 2
    assert [path.name for path in cache.folder.iterdir()] == ["same.mha"]  # no temporary file left
    for target in targets:
        assert sitk.GetArrayFromImage(sitk.ReadImage(str(target))).min() == 3


def _converted_bytes(source: Path, folder: Path) -> bytes:
    target = folder / "size-probe.mha"
    CountingConverter()(source, target)
    content = target.read_bytes()
    target.unlink()
    return content


def _age(path: Path, *, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))
