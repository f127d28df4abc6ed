"""Requests the API cannot serve are refused with a JSON error, a stable code and a sentence, never a 500:
page bounds out of range, ids past any row's, URLs and methods it does not have, bodies it cannot read,
too large or of a type it does not take."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from inference.contract import ISLES24
from portal.accounts.models import User
from portal.algorithms import services as algorithm_services
from portal.algorithms.models import AlgorithmUpload
from portal.converters import BIGINT_MAX
from tests.portal.conftest import ChallengeWithPeople
from tests.portal.datasets.factories import ImageFactory

PAST_BIGINT = BIGINT_MAX + 1


def token_client(user: User | None) -> Client:
    if user is None:
        return Client()
    return Client(headers={"authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"})


def participant(world: ChallengeWithPeople) -> Client:
    return token_client(world.people["participant"])


def assert_error(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"limit": "1e20"}, "limit"),
        ({"limit": "99999999999999999999999"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": str(PAST_BIGINT)}, "offset"),
        ({"offset": "1.5"}, "offset"),
    ],
)
def test_a_page_bound_out_of_range_or_not_a_whole_number_is_a_400_naming_it(
    world: ChallengeWithPeople, query: dict[str, str], named: str
) -> None:
    for url in (reverse("api:challenge-list"), reverse("api:challenge-phases", args=["isles24"])):
        body = assert_error(Client().get(url, query), 400, "invalid")

        assert body["detail"].startswith(f"{named}: "), body


def test_page_bounds_in_range_page_the_list(world: ChallengeWithPeople) -> None:
    response = Client().get(reverse("api:challenge-list"), {"limit": "1000", "offset": "0"})

    assert response.status_code == 200
    assert [challenge["slug"] for challenge in response.json()["results"]] == ["isles24"]


def test_the_leaderboard_refuses_an_offset_past_bigint(world: ChallengeWithPeople) -> None:
    url = reverse("api:leaderboard", args=["final"])

    body = assert_error(Client().get(url, {"offset": str(PAST_BIGINT)}), 400, "invalid")

    assert body["detail"].startswith("offset: ")


@pytest.mark.parametrize(
    "url",
    [
        f"/api/submissions/{PAST_BIGINT}/",
        f"/api/submissions/{PAST_BIGINT}/cancel/",
        f"/api/studies/{PAST_BIGINT}/next/",
        f"/api/campaigns/assignments/{PAST_BIGINT}/",
        f"/api/images/{PAST_BIGINT}/file/",
        f"/api/submissions/{BIGINT_MAX}/",
        "/api/submissions/99999999999999999999999999999999/jobs/",
    ],
)
def test_an_id_past_any_rows_is_a_404_in_json(world: ChallengeWithPeople, url: str) -> None:
    client = token_client(world.people["organizer"])

    response = client.post(url) if url.endswith("/cancel/") else client.get(url)

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "url",
    [f"/submissions/{PAST_BIGINT}/", f"/datasets/images/{PAST_BIGINT}/download/", f"/studies/{PAST_BIGINT}/"],
)
def test_a_page_naming_an_id_past_any_rows_is_a_404(world: ChallengeWithPeople, url: str) -> None:
    client = Client()
    client.force_login(world.people["organizer"])

    assert client.get(url).status_code == 404


def test_a_url_the_api_does_not_have_is_a_404_in_json_and_a_page_elsewhere(db: None) -> None:
    assert_error(Client().get("/api/no-such-thing/"), 404, "not_found")
    assert Client().get("/no-such-page/")["Content-Type"].startswith("text/html")


def test_a_method_an_api_url_does_not_take_is_a_405_saying_which_it_does(world: ChallengeWithPeople) -> None:
    response = participant(world).delete(reverse("api:me"))

    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def upload_url(world: ChallengeWithPeople) -> str:
    return reverse("api:phase-algorithm-uploads", args=["final"])


def test_a_json_body_that_is_not_utf8_is_a_400_saying_so(world: ChallengeWithPeople) -> None:
    response = participant(world).post(
        upload_url(world), b'{"total_bytes": "\xff\xfe"}', content_type="application/json"
    )

    body = assert_error(response, 400, "parse_error")
    assert "utf-8" in body["detail"]


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        (reverse("api:token"), "application/json"),
        (reverse("api:token"), "application/x-www-form-urlencoded"),
        (reverse("api:phase-algorithm-uploads", args=["final"]), "application/json"),
    ],
)
def test_a_body_over_djangos_bound_is_a_413(
    world: ChallengeWithPeople, settings: object, url: str, content_type: str
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"total_bytes": 1, "username": "' + "x" * 1000 + '"}'
    if content_type != "application/json":
        body = "username=" + "x" * 1000

    response = participant(world).post(url, body, content_type=content_type)

    assert "1000 bytes" in assert_error(response, 413, "too_large")["detail"]


def test_a_multipart_body_with_too_many_fields_is_a_400_in_json(db: None, settings: object) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3

    response = Client().post(reverse("api:token"), {f"field{number}": "x" for number in range(5)})

    assert_error(response, 400, "parse_error")


def test_a_body_of_a_type_the_operation_does_not_take_is_a_415(world: ChallengeWithPeople) -> None:
    response = participant(world).post(upload_url(world), "total_bytes: 1", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


def _upload_start(world: ChallengeWithPeople, user: User) -> AlgorithmUpload:
    """An upload opened on the world's algorithm phase, its sanity case given every image it lacks."""
    case = world.train_image.case
    for interface in ISLES24.required_images[1:]:
        ImageFactory(case=case, interface=interface.slug)
    return algorithm_services.algorithm_upload_start(
        phase=world.challenge.phases.get(), user=user, total_bytes=10
    )


def test_an_image_chunk_must_be_sent_as_octet_stream(world: ChallengeWithPeople) -> None:
    user = world.people["participant"]
    upload = _upload_start(world, user)

    response = participant(world).put(
        reverse("api:algorithm-upload", args=[upload.pk]),
        b"0123456789",
        content_type="application/json",
        headers={"content-range": "bytes 0-9/10"},
    )

    assert_error(response, 415, "unsupported_media_type")


def test_an_empty_image_chunk_adds_nothing_and_is_no_server_error(world: ChallengeWithPeople) -> None:
    user = world.people["participant"]
    upload = _upload_start(world, user)

    response = participant(world).put(
        reverse("api:algorithm-upload", args=[upload.pk]),
        b"",
        content_type="application/octet-stream",
        headers={"content-range": "bytes 0-9/10"},
    )

    assert response.status_code == 200, response.content
    assert response.json()["received_bytes"] == 0


def test_field_errors_keep_their_lists_and_gain_a_sentence(world: ChallengeWithPeople) -> None:
    response = participant(world).post(upload_url(world), {"total_bytes": 0}, content_type="application/json")

    body = assert_error(response, 400, "invalid")
    assert body["total_bytes"] == ["Ensure this value is greater than or equal to 1."]
    assert body["detail"] == "total_bytes: Ensure this value is greater than or equal to 1."
