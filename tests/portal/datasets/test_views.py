"""Who sees which cases and downloads which images and masks on the dataset pages; a hidden test case's
mask reaches organizers only."""

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from portal.challenges.models import Split
from portal.datasets.models import Case, GroundTruth
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.conftest import ChallengeWithPeople
from tests.portal.datasets.factories import CaseFactory, ImageFactory, nifti_bytes

ROLES = ["anonymous", "outsider", "reader", "participant", "organizer"]


def client_for(world: ChallengeWithPeople, person: str) -> Client:
    client = Client()
    user = world.people[person]
    if user is not None:
        client.force_login(user)
    return client


# An image file comes as a download (an attachment) or as a volume for the viewer; one rule decides both.
ROUTES = ["image-download", "image-volume"]


def download(
    world: ChallengeWithPeople, person: str, *, split: str, route: str = "image-download", **headers: str
) -> int:
    image = world.train_image if split == "train" else world.test_image
    url = reverse(route, kwargs={"pk": image.pk})
    return client_for(world, person).get(url, headers=headers).status_code


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("person", "train", "test"),
    [
        ("anonymous", 302, 302),
        ("outsider", 404, 404),
        ("reader", 404, 404),
        ("participant", 200, 404),
        ("organizer", 200, 200),
    ],
)
def test_image_download_follows_the_visibility_rule_while_no_predictions_phase_exists(
    world: ChallengeWithPeople, person: str, train: int, test: int, route: str
) -> None:
    shown = (
        download(world, person, split="train", route=route),
        download(world, person, split="test", route=route),
    )
    assert shown == (train, test)


@pytest.mark.parametrize(
    ("person", "test"),
    [("anonymous", 302), ("outsider", 404), ("reader", 404), ("participant", 200), ("organizer", 200)],
)
def test_a_predictions_phase_on_the_test_split_lets_participants_download_test_images(
    world: ChallengeWithPeople, person: str, test: int
) -> None:
    world.release_test_images()

    assert download(world, person, split="test") == test


def test_a_predictions_phase_that_has_not_opened_keeps_test_images_hidden(world: ChallengeWithPeople) -> None:
    phase = world.release_test_images()
    phase.opens_at = phase.closes_at
    phase.closes_at = None
    phase.save()

    assert download(world, "participant", split="test") == 404


def test_a_predictions_phase_of_another_dataset_keeps_test_images_hidden(world: ChallengeWithPeople) -> None:
    PhaseFactory(challenge=world.challenge, split="TEST")

    assert download(world, "participant", split="test") == 404


def test_download_sends_the_real_file_as_a_private_attachment_with_its_sha256_as_etag(
    world: ChallengeWithPeople,
) -> None:
    response = client_for(world, "participant").get(
        reverse("image-download", kwargs={"pk": world.train_image.pk})
    )

    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == world.train_image.sha256
    assert response["ETag"] == f'"{world.train_image.sha256}"'
    assert "private" in response["Cache-Control"]
    assert response["Content-Disposition"] == 'attachment; filename="sub-stroke0001_non-contrast-ct.nii.gz"'


def test_the_viewer_gets_the_stored_gzip_bytes_declared_as_gzip_in_transit_and_unnamed(
    world: ChallengeWithPeople,
) -> None:
    response = client_for(world, "participant").get(
        reverse("image-volume", kwargs={"pk": world.train_image.pk})
    )

    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == world.train_image.sha256
    assert response["Content-Encoding"] == "gzip"
    assert response["ETag"] == f'"{world.train_image.sha256}"'
    assert "Content-Disposition" not in response


@pytest.mark.parametrize("route", ROUTES)
def test_download_answers_304_when_the_client_already_holds_the_file(
    world: ChallengeWithPeople, route: str
) -> None:
    etag = f'"{world.train_image.sha256}"'

    assert download(world, "participant", split="train", route=route, if_none_match=etag) == 304
    assert download(world, "participant", split="train", route=route, if_none_match='"stale"') == 200


@pytest.mark.parametrize("route", ROUTES)
def test_304_is_given_only_to_people_who_may_download(world: ChallengeWithPeople, route: str) -> None:
    etag = f'"{world.test_image.sha256}"'

    assert download(world, "participant", split="test", route=route, if_none_match=etag) == 404


@pytest.mark.parametrize(
    ("person", "train", "test"),
    [
        ("anonymous", 302, 302),
        ("outsider", 403, 403),
        ("reader", 403, 403),
        ("participant", 200, 403),
        ("organizer", 200, 200),
    ],
)
def test_case_list_pages_follow_the_visibility_rule(
    world: ChallengeWithPeople, person: str, train: int, test: int
) -> None:
    client = client_for(world, person)
    statuses = [
        client.get(reverse("case-list", args=["isles24", "release", split])).status_code
        for split in ("train", "test")
    ]

    assert statuses == [train, test]


def test_case_list_shows_each_image_geometry_and_the_clinical_data(world: ChallengeWithPeople) -> None:
    world.train_image.spacing_mm = [0.4000000059604645, 0.4000000059604645, 2.0]  # float32 in the header
    world.train_image.save()
    url = reverse("case-list", args=["isles24", "release", "train"])
    response = client_for(world, "participant").get(url)

    page = response.content.decode()
    assert "sub-stroke0001" in page
    assert "sub-stroke0100" not in page
    times = " \N{MULTIPLICATION SIGN} "
    assert times.join(["6", "5", "4"]) in page
    assert times.join(["0.4", "0.4", "2"]) in page
    assert "nihss" in page
    assert "mrs_90d" in page  # a training case's outcome is published with the release
    assert reverse("image-download", kwargs={"pk": world.train_image.pk}) in page


@pytest.mark.parametrize(("person", "shown"), [("participant", False), ("organizer", True)])
def test_the_case_list_shows_the_outcomes_of_hidden_test_cases_to_organizers_only(
    world: ChallengeWithPeople, person: str, shown: bool
) -> None:
    world.release_test_images()
    Case.objects.filter(split=Split.TEST).update(
        admission_data={"demographic_baseline": {"nihss_admission": 17}},
        outcome_data={"outcome": {"mrs_90d": 6}},
    )

    page = (
        client_for(world, person)
        .get(reverse("case-list", args=["isles24", "release", "test"]))
        .content.decode()
    )

    assert "nihss_admission" in page
    assert ("mrs_90d" in page) is shown


def test_case_list_of_an_unknown_split_is_not_found(world: ChallengeWithPeople) -> None:
    response = client_for(world, "organizer").get(reverse("case-list", args=["isles24", "release", "valid"]))

    assert response.status_code == 404


def _patterns(resolver: URLResolver, prefix: str = "") -> list[str]:
    routes = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLPattern):
            routes.append(route)
        else:
            routes.extend(_patterns(pattern, route))
    return routes


def test_only_the_mask_routes_serve_ground_truth_and_a_hidden_cases_mask_reaches_organizers_only(
    world: ChallengeWithPeople,
) -> None:
    case = world.test_image.case
    content = nifti_bytes(shape=[6, 5, 4], spacing_mm=[0.5, 0.5, 2.0], fill=1)
    sha256 = hashlib.sha256(content).hexdigest()
    GroundTruth.objects.create(
        case=case,
        file=ContentFile(content, name="mask.nii.gz"),
        sha256=sha256,
        shape=[6, 5, 4],
        spacing_mm=[0.5, 0.5, 2.0],
        lesion_volume_ml=0.06,
        source_encoding="uint8 {0, 1}",
    )
    world.release_test_images()
    participant = client_for(world, "participant")

    routes = [route for route in _patterns(get_resolver()) if not route.startswith("admin/")]
    # The routes that serve masks: the reference masks a user may download (a training case's, or any to
    # an organizer), the blinded reader study's (a re-encoded copy, to its invited reader only) and an
    # annotation assignment's own mask (its starting mask or revisions, to its annotator and the
    # organizers); tests/portal/readerstudies prove the last two. The review overlap is derived.
    allowed_mask_routes = {
        "datasets/ground-truths/<id:pk>/download/",
        "datasets/ground-truths/<id:pk>/volume/",
        "api/ground-truths/<id:pk>/file/",
        "studies/masks/<str:token>/",
        "api/campaigns/assignments/<id:pk>/mask/",
    }
    # The organizers' upload of a new ground-truth version takes masks and serves none (POST only).
    receiving_mask_routes = {"challenges/<slug:slug>/organize/data/ground-truth/"}
    mask_routes = {route for route in routes if "ground" in route or "truth" in route or "mask" in route}
    assert mask_routes == allowed_mask_routes | receiving_mask_routes
    upload_page = reverse("organizer-ground-truth-upload", args=["isles24"])
    assert client_for(world, "organizer").get(upload_page).status_code == 405
    for image_url in (
        reverse("image-download", kwargs={"pk": world.test_image.pk}),
        reverse("image-volume", kwargs={"pk": world.test_image.pk}),
        reverse("api:image-file", kwargs={"pk": world.test_image.pk}),
    ):
        assert b"".join(participant.get(image_url).streaming_content) != content
    listing = participant.get(reverse("api:challenge-cases", args=["isles24"])).content.decode()
    assert sha256 not in listing
    organizers = client_for(world, "organizer").get(reverse("api:challenge-cases", args=["isles24"]))
    assert sha256 in organizers.content.decode()


def test_case_list_page_takes_a_fixed_number_of_queries_however_many_cases(
    world: ChallengeWithPeople, django_assert_num_queries
) -> None:
    for case in CaseFactory.create_batch(4, dataset=world.dataset):
        ImageFactory(case=case)
        ImageFactory(case=case, interface="ct-angiography")
    client = client_for(world, "participant")
    url = reverse("case-list", args=["isles24", "release", "train"])

    # session, user, dataset, visibility, cases, images, masks
    with django_assert_num_queries(7):
        response = client.get(url)

    assert response.content.decode().count("Download</a>") == 9


def test_download_answers_304_to_a_weak_or_wildcard_etag(world: ChallengeWithPeople) -> None:
    weak = f'W/"{world.train_image.sha256}"'

    assert download(world, "participant", split="train", if_none_match=weak) == 304
    assert download(world, "participant", split="train", if_none_match="*") == 304
