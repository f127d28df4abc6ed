"""Who may open which reader study page and endpoint, and what organizers do there."""

from collections.abc import Callable

import pytest
from django.test import Client

from portal.readerstudies.models import ReaderStudy, ReadingItem, StudyReader
from portal.submissions.models import Submission
from tests.portal.accounts.factories import UserFactory
from tests.portal.readerstudies.conftest import (
    CASE_NAMES,
    TEAM_NAME,
    StudyWorld,
    algorithm_segmentations,
    algorithm_submission_make,
)

ROLES = ("anonymous", "outsider", "participant", "uninvited_reader", "other_reader", "reader", "organizer")
LOGIN = 302


def _statuses(default: int, **overrides: int) -> dict[str, int]:
    return {role: overrides.get(role, default) for role in ROLES}


# The study's readers know it (they read it), so its organizer pages refuse them (403); anyone else does
# not learn that it exists (404). The new study form is refused to anyone but an organizer of a challenge
# they see.
ORGANIZER_ONLY_PAGE = _statuses(404, anonymous=LOGIN, organizer=200, reader=403, other_reader=403)
ORGANIZER_ONLY_API = _statuses(404, anonymous=401, organizer=200, reader=403, other_reader=403)
NEW_STUDY_FORM = _statuses(403, anonymous=LOGIN, organizer=200)
READER_PAGE = _statuses(404, anonymous=LOGIN, reader=200, other_reader=200)
OWN_ITEMS_API = _statuses(404, anonymous=401, reader=200)
OWN_FILES = _statuses(404, reader=200)


def _item(study: ReaderStudy) -> ReadingItem:
    return ReadingItem.objects.filter(reader__study=study, reader__user__username="reader").order_by(
        "position"
    )[0]


ENDPOINTS: dict[str, tuple[str, Callable[[ReaderStudy], str], dict[str, int]]] = {
    "study list": ("get", lambda study: "/studies/", _statuses(200, anonymous=LOGIN)),
    "new study form": ("get", lambda study: f"/studies/new/{study.challenge.slug}/", NEW_STUDY_FORM),
    "study page": ("get", lambda study: f"/studies/{study.pk}/", ORGANIZER_ONLY_PAGE),
    "results page": ("get", lambda study: f"/studies/{study.pk}/results/", ORGANIZER_ONLY_PAGE),
    "answers CSV": ("get", lambda study: f"/studies/{study.pk}/answers.csv", ORGANIZER_ONLY_PAGE),
    "reading page": ("get", lambda study: f"/studies/{study.pk}/read/", READER_PAGE),
    "next item": (
        "get",
        lambda study: f"/api/studies/{study.pk}/next/",
        _statuses(404, anonymous=401, reader=200, other_reader=200),
    ),
    "answer": (
        "post",
        lambda study: f"/api/studies/{study.pk}/items/{_item(study).token}/answer/",
        OWN_ITEMS_API,
    ),
    "mask A": ("get", lambda study: f"/studies/masks/{_item(study).token_a}/", OWN_FILES),
    "mask B": ("get", lambda study: f"/studies/masks/{_item(study).token_b}/", OWN_FILES),
    "background": ("get", lambda study: f"/studies/items/{_item(study).token}/images/0/", OWN_FILES),
    "results API": ("get", lambda study: f"/api/studies/{study.pk}/results/", ORGANIZER_ONLY_API),
    "answers CSV API": ("get", lambda study: f"/api/studies/{study.pk}/answers.csv", ORGANIZER_ONLY_API),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_permission_matrix(study: ReaderStudy, study_world: StudyWorld, endpoint: str) -> None:
    method, url_of, expected = ENDPOINTS[endpoint]
    url = url_of(study)
    found = {}
    for role in ROLES:  # the invited reader comes after everyone who must fail to answer their item
        client = Client()
        if study_world.people[role] is not None:
            client.force_login(study_world.person(role))
        if method == "post":
            response = client.post(url, {"preference": "A"}, content_type="application/json")
        else:
            response = client.get(url)
        found[role] = response.status_code

    assert found == expected


def test_the_study_list_offers_organizers_a_new_study_and_readers_their_studies(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    organizer, reader = Client(), Client()
    organizer.force_login(study_world.person("organizer"))
    reader.force_login(study_world.person("reader"))

    organizer_page = organizer.get("/studies/").content.decode()
    reader_page = reader.get("/studies/").content.decode()

    assert f'href="/studies/new/{study.challenge.slug}/"' in organizer_page
    assert study.title in organizer_page
    assert f'href="/studies/{study.pk}/read/"' in reader_page
    assert study.title not in reader_page
    assert "/studies/new/" not in reader_page


def test_the_reading_page_shows_progress_and_not_the_study_title(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = Client()
    client.force_login(study_world.person("reader"))

    html = client.get(f"/studies/{study.pk}/read/").content.decode()

    assert "0 / 3 answered" in html
    assert study.title not in html
    assert study.challenge.title in html


@pytest.mark.parametrize("role", ["participant", "reader", "outsider"])
def test_the_new_study_form_names_the_teams_submissions_to_organizers_only(
    study_world: StudyWorld, role: str
) -> None:
    """A form posted with errors is shown again with its choices, every team's submissions among them:
    anyone but an organizer is refused before it is built."""
    client = Client()
    client.force_login(study_world.person(role))

    response = client.post(f"/studies/new/{study_world.phase.challenge.slug}/", {"title": ""})

    assert response.status_code == 403
    assert TEAM_NAME not in response.content.decode()


def test_the_organizer_creates_a_study_in_the_form_and_invites_a_new_reader(
    study_world: StudyWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    client = Client()
    client.force_login(study_world.person("organizer"))
    form = client.get(f"/studies/new/{study_world.phase.challenge.slug}/").content.decode()
    assert TEAM_NAME in form

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/studies/new/{study_world.phase.challenge.slug}/",
            {
                "title": "Baseline against reference",
                "dataset": study_world.phase.dataset.pk,
                "split": "TEST",
                "include_reference": "on",
                "submissions": [study_world.submission.pk],
                "background_interfaces": ["non-contrast-ct"],
                "asks_quality_rating": "on",
            },
        )
    study = ReaderStudy.objects.get()
    assert response.status_code == 302
    assert response.url == f"/studies/{study.pk}/"
    invited = client.post(f"/studies/{study.pk}/readers/", {"username": "outsider"}, follow=True)

    page = invited.content.decode()
    assert "Open to its readers" in page
    assert "outsider is invited." in page
    assert "0 / 3" in page
    assert StudyReader.objects.filter(study=study, user__username="outsider").exists()


def test_the_form_offers_finished_algorithm_submissions_by_submitter_id_and_phase(
    study_world: StudyWorld,
) -> None:
    baseline = algorithm_submission_make(
        world=study_world, creator=study_world.person("organizer"), segmentations=algorithm_segmentations()
    )
    running = algorithm_submission_make(
        world=study_world,
        creator=study_world.person("participant"),
        team=study_world.submission.team,
        segmentations={},
    )
    Submission.objects.filter(pk=running.pk).update(status=Submission.Status.EVALUATING)
    client = Client()
    client.force_login(study_world.person("organizer"))

    form = client.get(f"/studies/new/{study_world.phase.challenge.slug}/").content.decode()

    assert f"organizer, algorithm submission {baseline.pk} to Final: algorithm container (" in form
    assert f"{TEAM_NAME}, predictions submission {study_world.submission.pk} to Preliminary (" in form
    assert f"submission {running.pk} " not in form


def test_the_form_says_why_a_study_cannot_be_made(study_world: StudyWorld) -> None:
    client = Client()
    client.force_login(study_world.person("organizer"))

    response = client.post(
        f"/studies/new/{study_world.phase.challenge.slug}/",
        {
            "title": "One source",
            "dataset": study_world.phase.dataset.pk,
            "split": "TEST",
            "include_reference": "on",
            "background_interfaces": ["non-contrast-ct"],
        },
    )

    assert response.status_code == 200
    assert "A study compares at least two different mask sources." in response.content.decode()
    assert not ReaderStudy.objects.exists()


def test_a_second_answer_to_an_item_is_refused_by_the_api(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = Client()
    client.force_login(study_world.person("reader"))
    item = client.get(f"/api/studies/{study.pk}/next/").json()

    first = client.post(item["answer_url"], {"preference": "B"}, content_type="application/json")
    second = client.post(item["answer_url"], {"preference": "A"}, content_type="application/json")

    assert first.json() == {"done": False, "answered": 1, "total": len(CASE_NAMES)}
    assert second.status_code == 400
    assert second.json()["code"] == "already_answered"


def test_the_reader_resumes_at_the_first_unanswered_item(study: ReaderStudy, study_world: StudyWorld) -> None:
    client = Client()
    client.force_login(study_world.person("reader"))
    first = client.get(f"/api/studies/{study.pk}/next/").json()
    client.post(first["answer_url"], {"preference": "A"}, content_type="application/json")

    resumed = Client()
    resumed.force_login(study_world.person("reader"))
    again = resumed.get(f"/api/studies/{study.pk}/next/").json()
    repeated = resumed.get(f"/api/studies/{study.pk}/next/").json()

    assert (again["position"], again["answered"], again["total"]) == (2, 1, 3)
    assert repeated["item"] == again["item"]


def test_the_admin_lists_studies_and_answers_read_only(study: ReaderStudy, study_world: StudyWorld) -> None:
    client = Client()
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    item = _item(study)

    assert client.get("/admin/readerstudies/readerstudy/").status_code == 200
    assert client.get(f"/admin/readerstudies/readerstudy/{study.pk}/change/").status_code == 200
    assert client.get(f"/admin/readerstudies/readingitem/{item.pk}/change/").status_code == 200
    assert client.get("/admin/readerstudies/readingitem/add/").status_code == 403


def test_the_next_item_names_the_files_of_the_one_after_it_without_handing_that_one_out(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = Client()
    client.force_login(study_world.person("reader"))
    first = client.get(f"/api/studies/{study.pk}/next/").json()
    following = first["following"]

    # The page downloads the following item's files while the reader reads this one: they answer now,
    # both masks alike, and that item is not handed out (its reading time has not started).
    for url in [image["url"] for image in following["images"]] + [
        m["url"] for m in following["masks"].values()
    ]:
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/octet-stream"
    assert ReadingItem.objects.get(reader__user=study_world.person("reader"), position=2).shown_at is None
    assert set(following) == {"images", "masks"}
    assert following["masks"]["A"]["name"] == following["masks"]["B"]["name"] == "mask.nii.gz"

    client.post(first["answer_url"], {"preference": "A"}, content_type="application/json")
    second = client.get(f"/api/studies/{study.pk}/next/").json()
    assert second["images"] == following["images"]
    assert second["masks"] == following["masks"]
    client.post(second["answer_url"], {"preference": "B"}, content_type="application/json")
    last = client.get(f"/api/studies/{study.pk}/next/").json()
    assert last["position"] == len(CASE_NAMES)
    assert "following" not in last


def test_each_background_names_its_file_by_sha256_so_that_items_of_one_case_share_it(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = Client()
    client.force_login(study_world.person("reader"))
    item = client.get(f"/api/studies/{study.pk}/next/").json()
    reading = ReadingItem.objects.select_related("study_case__case").get(token=item["item"])

    (image,) = item["images"]
    expected = reading.study_case.case.images.get(interface="non-contrast-ct").sha256
    assert (image["interface"], image["sha256"]) == ("non-contrast-ct", expected)
    # Described as the case viewer describes it, so the reading page shows it alike (a CT in its window).
    assert (image["label"], image["is_ct"], image["parameter_map"]) == ("NCCT", True, None)
