"""The study's design as its people meet it: the organizer writes instructions and switches catch trials
on in the form, the reader reads the instructions first and ends on a page that says what happens next,
and the results page and exports report the catch trials and the time per item."""

import csv
import io
from collections.abc import Callable

from django.test import Client

from portal.readerstudies.models import ReaderStudy, ReadingItem
from portal.readerstudies.views import CSV_COLUMNS
from tests.portal.readerstudies.conftest import StudyWorld, source_leaks

INSTRUCTIONS = (
    "## Before you start\n\nPrefer the mask that **covers the infarct core**.\n\n"
    "<script>alert('x')</script> [a link](javascript:alert(1))"
)


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _study_made_in_the_form(world: StudyWorld, on_commit: Callable) -> ReaderStudy:
    client = _client(world.person("organizer"))
    with on_commit(execute=True):
        response = client.post(
            f"/studies/new/{world.phase.challenge.slug}/",
            {
                "title": "Catch trials on",
                "dataset": world.phase.dataset.pk,
                "split": "TEST",
                "include_reference": "on",
                "submissions": [world.submission.pk],
                "background_interfaces": ["non-contrast-ct"],
                "instructions": INSTRUCTIONS,
                "same_mask_trials": "2",
                "repeated_pairs": "1",
            },
        )
    assert response.status_code == 302, response.content.decode()
    study = ReaderStudy.objects.get()
    client.post(f"/studies/{study.pk}/readers/", {"username": "reader"})
    return study


def test_the_organizer_sets_instructions_and_catch_trials_in_the_form(
    study_world: StudyWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    study = _study_made_in_the_form(study_world, django_capture_on_commit_callbacks)

    assert (study.same_mask_trials, study.repeated_pairs) == (2, 1)
    assert study.readers.get().items.count() == 3 + 2 + 1
    page = _client(study_world.person("organizer")).get(f"/studies/{study.pk}/").content.decode()
    assert "2 with the same mask on both sides, 1 repeated comparison." in page
    assert "<strong>covers the infarct core</strong>" in page


def test_too_many_catch_trials_are_refused_in_the_form_with_the_limit(study_world: StudyWorld) -> None:
    client = _client(study_world.person("organizer"))

    response = client.post(
        f"/studies/new/{study_world.phase.challenge.slug}/",
        {
            "title": "Too many",
            "dataset": study_world.phase.dataset.pk,
            "split": "TEST",
            "include_reference": "on",
            "submissions": [study_world.submission.pk],
            "background_interfaces": ["non-contrast-ct"],
            "repeated_pairs": "3",
        },
    )

    assert response.status_code == 200
    assert "Choose from 0 to 2 repeated comparisons" in response.content.decode()
    assert not ReaderStudy.objects.exists()


def test_the_reader_reads_the_instructions_first_then_reads_and_ends_on_the_finished_page(
    study_world: StudyWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    study = _study_made_in_the_form(study_world, django_capture_on_commit_callbacks)
    client = _client(study_world.person("reader"))

    first = client.get(f"/studies/{study.pk}/read/")
    assert first.status_code == 302
    assert first.url == f"/studies/{study.pk}/instructions/"
    instructions = client.get(first.url).content.decode()
    assert "<h2>Before you start</h2>" in instructions
    assert "<strong>covers the infarct core</strong>" in instructions
    assert "<script>alert" not in instructions
    assert 'href="javascript:' not in instructions
    assert source_leaks(instructions) == []
    assert client.get(f"/studies/{study.pk}/finished/").url == f"/studies/{study.pk}/read/"

    went_on = client.post(f"/studies/{study.pk}/instructions/")
    assert went_on.url == f"/studies/{study.pk}/read/"
    reading = client.get(went_on.url).content.decode()
    assert f'href="/studies/{study.pk}/instructions/"' in reading
    while not (data := client.get(f"/api/studies/{study.pk}/next/").json())["done"]:
        client.post(data["answer_url"], {"preference": "NONE"}, content_type="application/json")

    finished = client.get(f"/studies/{study.pk}/read/", follow=True)
    assert finished.redirect_chain == [(f"/studies/{study.pk}/finished/", 302)]
    page = finished.content.decode()
    assert "You have answered all 6 items" in page
    assert "What happens next" in page
    assert 'href="/studies/"' in page
    assert source_leaks(page) == []


def test_a_study_without_instructions_or_catch_trials_opens_on_its_first_item_and_reports_none(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = _client(study_world.person("reader"))

    assert client.get(f"/studies/{study.pk}/read/").status_code == 200
    page = client.get(f"/studies/{study.pk}/instructions/").content.decode()
    assert "The organizers have written no instructions for this study." in page
    results = _client(study_world.person("organizer")).get(f"/studies/{study.pk}/results/").content.decode()
    assert "Catch trials" not in results
    assert 'id="reading-times"' in results


def test_results_page_csv_and_api_report_catch_trials_and_time_per_item(
    study_world: StudyWorld, django_capture_on_commit_callbacks: Callable
) -> None:
    study = _study_made_in_the_form(study_world, django_capture_on_commit_callbacks)
    reader = study.readers.get()
    for item in reader.items.order_by("position"):
        preference = "A" if item.trial == ReadingItem.Trial.SAME_MASK else "NONE"
        client = _client(study_world.person("reader"))
        client.post(
            f"/api/studies/{study.pk}/items/{item.token}/answer/",
            {"preference": preference},
            content_type="application/json",
        )
    organizer = _client(study_world.person("organizer"))

    page = organizer.get(f"/studies/{study.pk}/results/").content.decode()
    data = organizer.get(f"/api/studies/{study.pk}/results/").json()
    answers = organizer.get(f"/studies/{study.pk}/answers.csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(answers)))

    assert "3 answers to catch\n  trials are left out" in page
    assert 'id="guessing"' in page
    assert 'id="intra-reader"' in page
    assert "Interquartile range (s)" in page
    assert data["catch_answers"] == 3
    assert data["guessing"][0] == data["guessing"][1] | {"reader": "all readers"}
    assert (data["guessing"][0]["answered"], data["guessing"][0]["sided"], data["guessing"][0]["rate"]) == (
        2,
        2,
        1.0,
    )
    assert (data["intra_reader"][1]["pairs"], data["intra_reader"][1]["agreeing"]) == (1, 1)
    assert len(data["times"][1]["quartiles_seconds"]) == 2
    assert sum(rate["ties"] for rate in data["preference"]) == 2 * 3, "real items only"
    assert tuple(rows[0]) == CSV_COLUMNS
    assert sorted(row["trial"] for row in rows) == ["REAL"] * 3 + ["REPEAT"] + ["SAME_MASK"] * 2


def test_the_organizer_edits_the_instructions_and_the_catch_trials_until_a_reader_is_invited(
    make_study: Callable, study_world: StudyWorld
) -> None:
    study = make_study()
    client = _client(study_world.person("organizer"))
    design = {"instructions": "Look at **every** slice.", "same_mask_trials": "1", "repeated_pairs": "1"}

    saved = client.post(f"/studies/{study.pk}/design/", design, follow=True).content.decode()
    study.refresh_from_db()
    assert "The study&#x27;s design is saved." in saved
    assert (study.instructions, study.same_mask_trials, study.repeated_pairs) == (
        "Look at **every** slice.",
        1,
        1,
    )
    client.post(f"/studies/{study.pk}/readers/", {"username": "reader"})
    assert study.readers.get().items.count() == 3 + 1 + 1

    refused = client.post(
        f"/studies/{study.pk}/design/", design | {"repeated_pairs": "2"}, follow=True
    ).content.decode()
    reworded = client.post(
        f"/studies/{study.pk}/design/", design | {"instructions": "Take your time."}, follow=True
    )
    study.refresh_from_db()
    assert "The catch trials were drawn when the first reader was invited" in refused
    assert (study.instructions, study.repeated_pairs) == ("Take your time.", 1)
    assert "<p>Take your time.</p>" in reworded.content.decode()
