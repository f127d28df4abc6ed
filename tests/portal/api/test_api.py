"""The API: who sees and does what, stable error codes, token auth, query counts, and its documentation."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Split
from portal.datasets.models import Case
from tests.portal.accounts.factories import PASSWORD, ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory
from tests.portal.conftest import ChallengeWithPeople
from tests.portal.datasets.factories import CaseFactory, ImageFactory

ROLES = ["anonymous", "outsider", "reader", "participant", "organizer"]


def client_for(world: ChallengeWithPeople, person: str) -> Client:
    client = Client()
    user = world.people[person]
    if user is not None:
        client.force_login(user)
    return client


def case_names(world: ChallengeWithPeople, person: str, *, split: str) -> list[str] | str:
    url = reverse("api:challenge-cases", args=["isles24"])
    response = client_for(world, person).get(url, {"split": split})
    if response.status_code != 200:
        return response.json()["code"]
    return [case["name"] for case in response.json()["results"]]


@pytest.mark.parametrize("person", ROLES)
def test_everyone_lists_public_challenges_and_reads_their_phases(
    world: ChallengeWithPeople, person: str
) -> None:
    client = client_for(world, person)

    challenges = client.get(reverse("api:challenge-list")).json()["results"]
    detail = client.get(reverse("api:challenge-detail", args=["isles24"])).json()
    phases = client.get(reverse("api:challenge-phases", args=["isles24"])).json()["results"]

    assert [challenge["slug"] for challenge in challenges] == ["isles24"]
    assert detail["title"] == "ISLES 2024"
    assert [(phase["slug"], phase["submission_kind"], phase["is_open"]) for phase in phases] == [
        ("final", "ALGORITHM", True)
    ]


@pytest.mark.parametrize(
    ("person", "sees_it"),
    [("anonymous", False), ("outsider", False), ("reader", True), ("participant", True), ("organizer", True)],
)
def test_a_hidden_challenge_exists_only_for_the_people_in_it(
    world: ChallengeWithPeople, person: str, sees_it: bool
) -> None:
    world.challenge.is_public = False
    world.challenge.save()
    client = client_for(world, person)

    listed = [challenge["slug"] for challenge in client.get(reverse("api:challenge-list")).json()["results"]]
    detail = client.get(reverse("api:challenge-detail", args=["isles24"]))

    assert listed == (["isles24"] if sees_it else [])
    assert detail.status_code == (200 if sees_it else 404)
    if not sees_it:
        assert detail.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("person", "train", "test"),
    [
        ("anonymous", "not_authenticated", "not_authenticated"),
        ("outsider", [], []),
        ("reader", [], []),
        ("participant", ["sub-stroke0001"], []),
        ("organizer", ["sub-stroke0001"], ["sub-stroke0100"]),
    ],
)
def test_cases_list_only_what_the_user_may_download(
    world: ChallengeWithPeople, person: str, train: object, test: object
) -> None:
    assert case_names(world, person, split="train") == train
    assert case_names(world, person, split="test") == test


def test_participants_see_the_test_cases_once_a_predictions_phase_opens(world: ChallengeWithPeople) -> None:
    world.release_test_images()

    assert case_names(world, "participant", split="test") == ["sub-stroke0100"]


def test_cases_give_image_geometry_and_a_download_url_that_works(world: ChallengeWithPeople) -> None:
    client = client_for(world, "participant")

    url = reverse("api:challenge-cases", args=["isles24"])
    case = client.get(url, {"split": "train"}).json()["results"][0]
    image = case["images"][0]
    download = client.get(image["download_url"])

    assert case["admission_data"] == {"baseline": {"nihss": 12}}
    assert case["outcome_data"] == {"outcome": {"mrs_90d": 2}}
    assert image["interface"] == "non-contrast-ct"
    assert (image["shape"], image["spacing_mm"]) == ([6, 5, 4], [0.5, 0.5, 2.0])
    assert download.status_code == 200
    assert download["ETag"] == f'"{image["sha256"]}"'


@pytest.mark.parametrize(
    ("person", "outcome"), [("participant", None), ("organizer", {"outcome": {"mrs_90d": 5}})]
)
def test_the_outcomes_of_hidden_test_cases_reach_only_organizers(
    world: ChallengeWithPeople, person: str, outcome: object
) -> None:
    world.release_test_images()
    Case.objects.filter(split=Split.TEST).update(
        admission_data={"demographic_baseline": {"age": 71}}, outcome_data={"outcome": {"mrs_90d": 5}}
    )

    url = reverse("api:challenge-cases", args=["isles24"])
    case = client_for(world, person).get(url, {"split": "test"}).json()["results"][0]

    assert case["admission_data"] == {"demographic_baseline": {"age": 71}}
    assert case["outcome_data"] == outcome


def test_an_unknown_split_is_refused_with_a_code(world: ChallengeWithPeople) -> None:
    assert case_names(world, "organizer", split="validation") == "invalid"


@pytest.mark.parametrize(
    ("person", "train", "test"),
    [
        ("anonymous", 401, 401),
        ("outsider", 404, 404),
        ("reader", 404, 404),
        ("participant", 200, 404),
        ("organizer", 200, 200),
    ],
)
def test_image_files_follow_the_visibility_rule(
    world: ChallengeWithPeople, person: str, train: int, test: int
) -> None:
    client = client_for(world, person)
    responses = [
        client.get(reverse("api:image-file", kwargs={"pk": image.pk}))
        for image in (world.train_image, world.test_image)
    ]

    assert [response.status_code for response in responses] == [train, test]
    codes = {response.json()["code"] for response in responses if response.status_code != 200}
    assert codes <= {"not_authenticated", "not_found"}


def test_image_file_answers_304_to_a_matching_etag(world: ChallengeWithPeople) -> None:
    url = reverse("api:image-file", kwargs={"pk": world.train_image.pk})

    response = client_for(world, "participant").get(
        url, headers={"if-none-match": f'"{world.train_image.sha256}"'}
    )

    assert response.status_code == 304


def test_me_shows_the_user_and_their_roles(world: ChallengeWithPeople) -> None:
    me = client_for(world, "organizer").get(reverse("api:me")).json()

    assert me == {
        "username": "organizer",
        "email": "organizer@example.org",
        "email_verified": True,
        "roles": [{"challenge": "isles24", "role": "ORGANIZER"}],
    }


def test_me_says_whether_the_user_confirmed_their_email_address(db: None) -> None:
    client = Client()
    client.force_login(UserFactory(username="ada", email_verified=False))

    assert client.get(reverse("api:me")).json()["email_verified"] is False


def test_me_refuses_anonymous_visitors_with_a_code(world: ChallengeWithPeople) -> None:
    response = Client().get(reverse("api:me"))

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_a_token_obtained_with_the_password_authenticates_api_calls(db: None) -> None:
    UserFactory(username="ada")
    client = Client()

    token = client.post(reverse("api:token"), {"username": "ada", "password": PASSWORD}).json()["token"]
    me = client.get(reverse("api:me"), headers={"authorization": f"Token {token}"})
    wrong = client.get(reverse("api:me"), headers={"authorization": "Token not-a-token"})

    assert me.json()["username"] == "ada"
    assert (wrong.status_code, wrong.json()["code"]) == (401, "authentication_failed")


def test_a_wrong_password_gets_no_token(db: None) -> None:
    UserFactory(username="ada")

    response = Client().post(reverse("api:token"), {"username": "ada", "password": "guess"})

    assert response.status_code == 400
    assert "token" not in response.json()


def test_joining_twice_makes_one_participant(world: ChallengeWithPeople) -> None:
    client = client_for(world, "outsider")
    url = reverse("api:challenge-join", args=["isles24"])

    first = client.post(url)
    second = client.post(url)

    assert first.json() == second.json() == {"challenge": "isles24", "role": "PARTICIPANT"}
    assert ChallengeRole.objects.filter(user=world.people["outsider"], challenge=world.challenge).count() == 1


@pytest.mark.parametrize(
    ("person", "code"),
    [("anonymous", "not_authenticated"), ("organizer", "other_side"), ("reader", "other_side")],
)
def test_joining_is_refused_with_a_code(world: ChallengeWithPeople, person: str, code: str) -> None:
    response = client_for(world, person).post(reverse("api:challenge-join", args=["isles24"]))

    assert response.json()["code"] == code


def test_challenge_list_takes_two_queries_however_many_challenges(
    db: None, django_assert_num_queries
) -> None:
    ChallengeFactory.create_batch(5)
    client = Client()

    with django_assert_num_queries(2):
        response = client.get(reverse("api:challenge-list"))

    assert response.json()["count"] == 5


def test_case_list_takes_a_fixed_number_of_queries_however_many_cases(
    world: ChallengeWithPeople, django_assert_num_queries
) -> None:
    for case in CaseFactory.create_batch(4, dataset=world.dataset):
        ImageFactory(case=case)
        ImageFactory(case=case, interface="ct-angiography")
    user = world.people["participant"]
    assert user is not None
    token = Client().post(reverse("api:token"), {"username": user.username, "password": PASSWORD}).json()
    client = Client(headers={"authorization": f"Token {token['token']}"})

    # token, challenge, count, cases, images, masks
    with django_assert_num_queries(6):
        response = client.get(reverse("api:challenge-cases", args=["isles24"]), {"split": "train"})

    assert len(response.json()["results"]) == 5


def test_me_takes_three_queries_however_many_roles(db: None, django_assert_num_queries) -> None:
    user = UserFactory()
    ChallengeRoleFactory.create_batch(3, user=user)
    token = Client().post(reverse("api:token"), {"username": user.username, "password": PASSWORD}).json()
    client = Client(headers={"authorization": f"Token {token['token']}"})

    with django_assert_num_queries(3):  # the token and its user, the e-mail address, the roles
        response = client.get(reverse("api:me"))

    assert len(response.json()["roles"]) == 3


def test_the_openapi_schema_describes_every_endpoint(db: None) -> None:
    schema = Client().get(reverse("api:schema"), {"format": "json"}).json()

    assert {
        "/api/challenges/",
        "/api/challenges/{slug}/",
        "/api/challenges/{slug}/phases/",
        "/api/challenges/{slug}/cases/",
        "/api/challenges/{slug}/join/",
        "/api/me/",
        "/api/images/{id}/file/",
        "/api/auth/token/",
    } <= set(schema["paths"])


@pytest.mark.parametrize("page", ["api:docs", "api:redoc"])
def test_documentation_pages_load_nothing_from_other_sites(db: None, page: str) -> None:
    response = Client().get(reverse(page))

    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/" in html
    assert not re.findall(r"(?:src|href)=[\"']?(?:https?:)?//", html)


def test_the_challenge_actions_answer_with_a_format_suffix_as_without(world: ChallengeWithPeople) -> None:
    client = client_for(world, "participant")

    for action in ("phases", "cases"):
        plain = client.get(f"/api/challenges/isles24/{action}/")
        suffixed = client.get(f"/api/challenges/isles24/{action}.json")
        assert (suffixed.status_code, suffixed.json()) == (200, plain.json()), action
    assert client.post("/api/challenges/isles24/join.json").status_code == 201


def test_every_operation_documents_the_errors_the_framework_answers_with(db: None) -> None:
    schema = Client().get(reverse("api:schema"), {"format": "json"}).json()

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "429"} <= set(responses), (method, path)
            assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "415"} <= set(responses), (method, path)
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert "413" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith("4"):
                    assert "application/json" in response["content"], (method, path, status)
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]
