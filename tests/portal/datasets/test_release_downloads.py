"""A release's files as a participant and an organizer download them: each file under the release's own
name, the reference masks and outcome tables of training cases, the whole split as one streamed tar with a
manifest of sha256 sums, one file from a byte on (a Range request), and never a hidden test case's mask or
outcome to a participant."""

import hashlib
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from portal.challenges.models import Phase, Split
from portal.datasets.models import DataCard, GroundTruth, Image
from releases import isles24
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.release_world import (
    ImportedRelease,
    imported_release_build,
    manifest_read,
    sha256,
    tar_members,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(release: Path, case_names: list[str]) -> ImportedRelease:
    return imported_release_build(release, case_names)


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _archive(client: Client, **query: object) -> tuple[dict[str, bytes], int]:
    response = client.get(reverse("api:release-archive", args=["isles24"]), query)
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content)
    assert len(content) == int(response["Content-Length"])
    return tar_members(content), len(content)


def _release_files(root: Path, case: str) -> dict[str, Path]:
    """The release's image and mask files of a case, by relative path."""
    (case_files,) = [found for found in isles24.release_scan(root) if found.name == case]
    return {
        file.relative_path: file.path
        for file in case_files.found
        if file.slot.kind in (isles24.SlotKind.IMAGE, isles24.SlotKind.MASK)
    }


def test_the_import_records_where_the_release_holds_each_image_and_mask(imported: ImportedRelease) -> None:
    for case in [*imported.train, imported.test]:
        recorded = {
            *Image.objects.filter(case__name=case).values_list("release_path", flat=True),
            *GroundTruth.objects.filter(case__name=case).values_list("release_path", flat=True),
        }
        assert recorded == set(_release_files(imported.root, case))


def test_a_participant_downloads_the_training_split_under_the_releases_names_matching_the_manifest(
    imported: ImportedRelease,
) -> None:
    members, _ = _archive(_client(imported.participant), split="train")

    names = list(members)
    assert names[0] == "MANIFEST.sha256"
    manifest = manifest_read(members.pop("MANIFEST.sha256").decode())
    assert manifest == {name: sha256(content) for name, content in members.items()}
    for case in imported.train:
        expected = _release_files(imported.root, case)
        for relative_path, path in expected.items():
            content = members[f"release/{relative_path}"]
            if "lesion-msk" not in relative_path:  # masks come binarised, as they are scored
                assert content == path.read_bytes()
        assert f"release/phenotype/{case}/ses-02/{case}_ses-02_outcome.csv" in members
        assert f"release/phenotype/{case}/ses-01/{case}_ses-01_demographic_baseline.csv" in members
    assert not any(imported.test in name for name in members)


def test_a_hidden_test_cases_mask_and_outcomes_never_reach_a_participant(imported: ImportedRelease) -> None:
    # Once a predictions phase opens on the hidden cases, participants download their images, and only those.
    PhaseFactory(
        challenge=imported.challenge,
        dataset=imported.dataset,
        split=Split.TEST,
        submission_kind=Phase.SubmissionKind.PREDICTIONS,
    )
    participant = _client(imported.participant)
    mask = GroundTruth.objects.get(case__name=imported.test)

    members, _ = _archive(participant)
    hidden = {name for name in members if imported.test in name}
    # Its images and what was known at admission, as a container receives them: nothing more.
    assert hidden
    assert all(
        "/raw_data/" in name or "/derivatives/" in name or name.endswith("_demographic_baseline.csv")
        for name in hidden
    )
    assert not any("lesion-msk" in name or "outcome" in name for name in hidden)
    assert mask.sha256 not in members["MANIFEST.sha256"].decode()
    for route in ("ground-truth-download", "ground-truth-volume", "api:ground-truth-file"):
        assert participant.get(reverse(route, args=[mask.pk])).status_code == 404
    listing = participant.get(reverse("api:challenge-cases", args=["isles24"]), {"split": "test"}).json()
    assert [case["ground_truth"] for case in listing["results"]] == [None]
    assert (
        participant.get(
            reverse("api:release-archive", args=["isles24"]), {"case": "sub-stroke9999"}
        ).status_code
        == 404
    )

    organizer_members, _ = _archive(_client(imported.organizer), split="test")
    assert f"release/{mask.release_path}" in organizer_members


def test_one_mask_downloads_under_its_release_name_and_shows_in_the_case_list_and_api(
    imported: ImportedRelease,
) -> None:
    participant = _client(imported.participant)
    mask = GroundTruth.objects.get(case__name=imported.train[0])

    response = participant.get(reverse("ground-truth-download", args=[mask.pk]))
    page = participant.get(reverse("case-list", args=["isles24", "release", "train"])).content.decode()
    listing = participant.get(reverse("api:challenge-cases", args=["isles24"]), {"split": "train"}).json()

    assert response.status_code == 200
    assert Path(mask.release_path).name in response["Content-Disposition"]
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == mask.sha256
    assert reverse("ground-truth-download", args=[mask.pk]) in page
    assert "?split=train" in page
    first = listing["results"][0]
    assert first["ground_truth"]["sha256"] == mask.sha256
    assert first["ground_truth"]["release_path"] == mask.release_path
    assert first["images"][0]["release_path"].startswith(("raw_data/", "derivatives/"))
    assert first["outcome_data"]


def test_the_case_viewer_overlays_a_training_cases_mask_and_not_a_hidden_ones(
    imported: ImportedRelease,
) -> None:
    participant, organizer = _client(imported.participant), _client(imported.organizer)
    train = GroundTruth.objects.get(case__name=imported.train[0])
    test = GroundTruth.objects.get(case__name=imported.test)

    shown = participant.get(reverse("case-viewer", args=[train.case_id])).content.decode()
    organizers = organizer.get(reverse("case-viewer", args=[test.case_id])).content.decode()

    assert reverse("ground-truth-volume", args=[train.pk]) in shown
    assert reverse("ground-truth-volume", args=[test.pk]) in organizers
    assert participant.get(reverse("case-viewer", args=[test.case_id])).status_code == 404


def test_chosen_cases_make_a_smaller_archive_and_a_listing_of_the_same_files(
    imported: ImportedRelease,
) -> None:
    participant = _client(imported.participant)
    case = imported.train[1]

    members, size = _archive(participant, case=[case])
    listing = participant.get(reverse("api:release-files", args=["isles24"]), {"case": [case]}).json()

    assert {file["path"] for file in listing["files"]} == set(members) - {"MANIFEST.sha256"}
    assert all(file["case"] == case for file in listing["files"])
    assert listing["size_bytes"] == size


def test_someone_who_sees_no_case_of_the_challenge_is_refused_with_a_sentence(
    imported: ImportedRelease, django_user_model: type
) -> None:
    outsider = _client(django_user_model.objects.create_user(username="outsider", password="x"))

    response = outsider.get(reverse("api:release-archive", args=["isles24"]), {"split": "train"})

    assert response.status_code == 403
    assert "no case" in response.json()["detail"]


def _file(client: Client, route: str, pk: int, **headers: str) -> tuple[int, bytes, object]:
    response = client.get(reverse(route, args=[pk]), headers=headers)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, content, response


def test_one_file_answers_a_range_with_its_remaining_bytes_and_they_complete_its_sha256(
    imported: ImportedRelease,
) -> None:
    participant = _client(imported.participant)
    image = Image.objects.filter(case__name=imported.train[0]).order_by("pk").first()
    mask = GroundTruth.objects.get(case__name=imported.train[0])
    _, whole, answer = _file(participant, "api:image-file", image.pk)
    size, etag = len(whole), f'"{image.sha256}"'

    rest = _file(participant, "api:image-file", image.pk, range="bytes=100-", if_range=etag)
    middle = _file(participant, "api:image-file", image.pk, range="bytes=10-19")
    past = _file(participant, "api:image-file", image.pk, range=f"bytes={size}-")
    changed = _file(participant, "api:image-file", image.pk, range="bytes=100-", if_range='"another"')
    mask_rest = _file(participant, "api:ground-truth-file", mask.pk, range="bytes=50-")

    assert answer["Accept-Ranges"] == "bytes"
    assert rest[0] == 206
    assert rest[2]["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    assert int(rest[2]["Content-Length"]) == size - 100
    assert sha256(whole[:100] + rest[1]) == image.sha256
    assert (middle[0], middle[1]) == (206, whole[10:20])
    assert (past[0], past[2]["Content-Range"]) == (416, f"bytes */{size}")
    assert (changed[0], changed[1]) == (200, whole)  # not the version held: the whole file
    assert mask_rest[0] == 206
    assert sha256(_file(participant, "api:ground-truth-file", mask.pk)[1][:50] + mask_rest[1]) == mask.sha256


def test_a_range_keeps_the_permissions_and_the_data_terms(imported: ImportedRelease) -> None:
    participant = _client(imported.participant)
    hidden_mask = GroundTruth.objects.get(case__name=imported.test)
    image = Image.objects.filter(case__name=imported.train[0]).order_by("pk").first()

    hidden = _file(participant, "api:ground-truth-file", hidden_mask.pk, range="bytes=10-")
    DataCard.objects.create(challenge=imported.challenge, licence="CC BY-NC 4.0", terms="Research only.")
    before_terms = _file(participant, "api:image-file", image.pk, range="bytes=10-")

    assert hidden[0] == 404
    assert before_terms[0] == 403
    assert b"terms_not_accepted" in before_terms[1]


def test_the_listing_gives_each_stored_files_own_address_and_none_for_a_table(
    imported: ImportedRelease,
) -> None:
    participant = _client(imported.participant)
    image = Image.objects.filter(case__name=imported.train[0]).order_by("pk").first()

    listing = participant.get(reverse("api:release-files", args=["isles24"]), {"split": "train"}).json()

    urls = {file["kind"]: set() for file in listing["files"]}
    for file in listing["files"]:
        urls[file["kind"]].add(file["url"])
    assert urls["table"] == {None}
    assert f"http://testserver{reverse('api:image-file', args=[image.pk])}" in urls["image"]
    for file in listing["files"]:
        if file["url"] is not None:
            response = participant.get(file["url"])
            assert sha256(b"".join(response.streaming_content)) == file["sha256"]
