"""Blinding, byte by byte: the two masks of an item differ only in their voxels, and nothing a reader's
browser receives (page, JSON, URL, header, file) names or hints at a source."""

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.contrib.staticfiles import finders
from django.test import Client

from evaluation.blinding import GZIP_LEVEL, MaskMismatch, mask_blind
from portal.readerstudies.models import ReaderStudy, StudyReader
from tests.hostile_masks import ELSEWHERE, ELSEWHERE_SAYS, metaimage_header
from tests.portal.readerstudies.conftest import (
    CASE_NAMES,
    SPACING_MM,
    TOOL_NOTE,
    StudyWorld,
    image_bytes,
    lesion,
    source_leaks,
)

HEADER_BYTES = 352
NEXT_ITEM_KEYS = {
    "done",
    "answered",
    "total",
    "position",
    "item",
    "images",
    "masks",
    "answer_url",
    "drawn_url",
    "asks_quality_rating",
    "asks_comment",
}


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.fixture
def reference_image(tmp_path: Path) -> Path:
    image = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16))
    image.SetSpacing(SPACING_MM)
    image.SetOrigin((-10.0, 20.0, 5.0))
    path = tmp_path / "ncct.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def test_the_same_mask_in_three_encodings_blinds_to_identical_bytes(
    tmp_path: Path, reference_image: Path
) -> None:
    encodings = {
        "uint16.mha": image_bytes(lesion(0).astype(np.uint16) * 65535, suffix=".mha", spacing=False),
        "float.nii.gz": image_bytes(lesion(0).astype(np.float64), suffix=".nii.gz", note=TOOL_NOTE),
        "uint8.nii": image_bytes(lesion(0), suffix=".nii"),
    }

    blinded = {
        mask_blind(mask=_write(tmp_path / name, content), reference_image=reference_image)
        for name, content in encodings.items()
    }

    assert len(blinded) == 1


def test_a_blinded_mask_is_uint8_zero_one_on_the_reference_grid_with_cleared_text_fields(
    tmp_path: Path, reference_image: Path
) -> None:
    mask = _write(
        tmp_path / "m.nii.gz", image_bytes(lesion(1).astype(np.float64), suffix=".nii.gz", note=TOOL_NOTE)
    )

    content = mask_blind(mask=mask, reference_image=reference_image)

    assert content[4:8] == b"\0\0\0\0", "gzip mtime is 0"
    assert content[3] & 0x08 == 0, "gzip header carries no file name"
    raw = gzip.decompress(content)
    assert struct.unpack_from("<f", raw, 108)[0] == HEADER_BYTES, "no extensions"
    assert raw[348:352] == b"\0\0\0\0"
    for offset, length in ((148, 80), (228, 24), (328, 16)):  # descrip, aux_file, intent_name
        assert raw[offset : offset + length] == bytes(length)
    assert TOOL_NOTE.encode() not in raw
    assert gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0) == content
    image = sitk.ReadImage(str(_write(tmp_path / "blinded.nii.gz", content)))
    assert image.GetPixelID() == sitk.sitkUInt8
    assert image.GetSpacing() == pytest.approx(SPACING_MM)
    assert image.GetOrigin() == pytest.approx((-10.0, 20.0, 5.0))
    assert sorted(np.unique(sitk.GetArrayFromImage(image))) == [0, 1]


def test_a_mask_on_another_grid_is_refused(tmp_path: Path, reference_image: Path) -> None:
    mask = _write(tmp_path / "m.nii.gz", image_bytes(np.zeros((3, 3, 3), np.uint8), suffix=".nii.gz"))

    with pytest.raises(
        MaskMismatch, match=r"The mask is 3x3x3 voxels but the case's reference image is 6x5x4\."
    ):
        mask_blind(mask=mask, reference_image=reference_image)


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _item_of_case(client: Client, study: ReaderStudy, case_name: str) -> dict:
    """Answer items until the one of ``case_name`` is next; return its JSON."""
    for _ in CASE_NAMES:
        data = client.get(f"/api/studies/{study.pk}/next/").json()
        reader = StudyReader.objects.get(study=study, user__username="reader")
        if reader.items.get(token=data["item"]).study_case.case.name == case_name:
            return data
        client.post(data["answer_url"], {"preference": "NONE"}, content_type="application/json")
    raise AssertionError(f"no item of {case_name}")


def _headers_without_length(response: object) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name != "Content-Length"}


def test_both_sides_of_an_item_come_with_the_same_headers_and_identical_masks_as_identical_bytes(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = _client(study_world.person("reader"))
    item = _item_of_case(client, study, CASE_NAMES[0])  # the team's mask equals the reference here

    side_a = client.get(item["masks"]["A"]["url"])
    side_b = client.get(item["masks"]["B"]["url"])

    assert side_a.status_code == side_b.status_code == 200
    assert _headers_without_length(side_a) == _headers_without_length(side_b)
    assert "Content-Disposition" not in side_a.headers, "a mask is sent with a file name"
    assert side_a.headers["Content-Encoding"] == "gzip"
    assert b"".join(side_a.streaming_content) == b"".join(side_b.streaming_content)


def test_different_masks_of_an_item_differ_only_after_the_header(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = _client(study_world.person("reader"))
    item = _item_of_case(client, study, CASE_NAMES[1])  # float64 with the team's tool named in its header

    raw_a = gzip.decompress(b"".join(client.get(item["masks"]["A"]["url"]).streaming_content))
    raw_b = gzip.decompress(b"".join(client.get(item["masks"]["B"]["url"]).streaming_content))

    assert raw_a[:HEADER_BYTES] == raw_b[:HEADER_BYTES]
    assert len(raw_a) == len(raw_b)
    assert raw_a[HEADER_BYTES:] != raw_b[HEADER_BYTES:]


def _assert_blind(text: str, where: str) -> None:
    assert source_leaks(text) == [], f"a source is named in {where}"


def _urls_of_page(html: str) -> list[str]:
    return re.findall(r'(?:src|href|data-next-url)="([^"]+)"', html)


def test_nothing_the_reader_receives_names_a_source(study: ReaderStudy, study_world: StudyWorld) -> None:
    client = _client(study_world.person("reader"))
    page = client.get(f"/studies/{study.pk}/read/")
    html = page.content.decode()
    _assert_blind(html, "the reading page")
    _assert_blind(str(page.headers), "the page's headers")
    pending = _urls_of_page(html)
    while pending:
        url = pending.pop()
        _assert_blind(url, url)
        if url.startswith("/static/vendor/"):
            continue  # the pinned viewer library, the same bytes for every item (its checksum is tested)
        if url.startswith("/static/"):
            path = finders.find(url.removeprefix("/static/"))
            assert path is not None, url
            source = Path(path).read_text()
            _assert_blind(source, url)
            # Modules the script imports, e.g. viewer.mjs.
            pending += [
                url.rsplit("/", 1)[0] + "/" + name
                for name in re.findall(r"[\"']\./([\w.-]+\.mjs)[\"']", source)
            ]
        elif not url.startswith("data:"):
            response = client.get(url)
            assert response.status_code == 200, url
            _assert_blind(response.content.decode(), url)
    for _ in CASE_NAMES:
        response = client.get(f"/api/studies/{study.pk}/next/")
        _assert_blind(response.content.decode() + str(response.headers), "the next item's JSON")
        data = response.json()
        # The item after this one (absent after the last) is named as this one is: by its files.
        following = data.get("following", {"images": [], "masks": data["masks"]})
        assert set(data) - {"following"} == NEXT_ITEM_KEYS, "the item names nothing but its files"
        assert set(following) == {"images", "masks"}, "the next item names nothing but its files"
        for item in (data, following):
            assert {side: set(mask) for side, mask in item["masks"].items()} == {
                "A": {"url", "name"},
                "B": {"url", "name"},
            }
        urls = [
            file["url"] for item in (data, following) for file in [*item["images"], *item["masks"].values()]
        ]
        for url in [*urls, data["answer_url"], data["drawn_url"]]:
            _assert_blind(url, url)
        for url in urls:
            file_response = client.get(url)
            assert file_response.status_code == 200
            _assert_blind(str(file_response.headers), f"the headers of {url}")
            body = gzip.decompress(b"".join(file_response.streaming_content))
            _assert_blind(body.decode("latin-1"), f"the file at {url}")
        drawn = client.post(data["drawn_url"])
        assert drawn.status_code == 204
        _assert_blind(drawn.content.decode() + str(drawn.headers), "the drawn report's response")
        answer = client.post(data["answer_url"], {"preference": "A"}, content_type="application/json")
        _assert_blind(answer.content.decode() + str(answer.headers), "an answer's response")
    assert client.get(f"/api/studies/{study.pk}/next/").json()["done"] is True


def test_item_tokens_are_random_and_unrelated_across_readers_and_sides(study: ReaderStudy) -> None:
    tokens = [
        token
        for reader in study.readers.all()
        for item in reader.items.all()
        for token in (item.token, item.token_a, item.token_b)
    ]

    assert len(set(tokens)) == len(tokens) == 2 * len(CASE_NAMES) * 3
    assert all(len(token) >= 32 and not token.isdigit() for token in tokens)


@pytest.mark.parametrize("data_file_lines", ELSEWHERE)
def test_a_metaimage_whose_voxels_are_in_another_file_is_refused_not_followed(
    tmp_path: Path, reference_image: Path, data_file_lines: str
) -> None:
    secret = tmp_path / "sub-stroke0100_ground_truth.raw"
    secret.write_bytes(bytes(range(120)))
    mask = _write(tmp_path / "m.mha", metaimage_header(data_file_lines, secret=str(secret)))

    with pytest.raises(MaskMismatch, match=rf"m\.mha ({ELSEWHERE_SAYS})"):
        mask_blind(mask=mask, reference_image=reference_image)
