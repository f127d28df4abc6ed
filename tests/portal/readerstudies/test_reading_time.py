"""Reading time runs from the moment the reader's page has drawn both panes, which the page reports once per
item; answers faster than the study's minimum reading time are flagged in the results and the CSV, and the
organizer can leave them out of the statistics."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from evaluation.stats import wilson_interval
from portal.readerstudies import selectors, services
from portal.readerstudies.models import ReaderStudy, ReadingItem, StudyReader
from tests.portal.readerstudies.conftest import CASE_NAMES, StudyMaker, StudyWorld

LOADING = timedelta(seconds=60)
"""How long before its images were on screen the tests hand an item out."""


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _next_item(client: Client, study: ReaderStudy) -> dict:
    """The reader's next item, handed out ``LOADING`` ago (its images took that long to arrive)."""
    data = client.get(f"/api/studies/{study.pk}/next/").json()
    ReadingItem.objects.filter(token=data["item"]).update(
        shown_at=ReadingItem.objects.get(token=data["item"]).shown_at - LOADING
    )
    return data


def test_reading_time_runs_from_both_panes_drawn_not_from_the_item_handed_out(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = _client(study_world.person("reader"))
    data = _next_item(client, study)

    drawn = client.post(data["drawn_url"])
    client.post(data["answer_url"], {"preference": "A"}, content_type="application/json")

    item = ReadingItem.objects.get(token=data["item"])
    assert drawn.status_code == 204
    assert item.drawn_at is not None
    assert item.seconds == (item.answered_at - item.drawn_at).total_seconds()
    assert item.seconds < LOADING.total_seconds() / 2


def test_an_answer_the_page_never_reported_drawn_is_timed_from_the_item_handed_out(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = _client(study_world.person("reader"))
    data = _next_item(client, study)

    client.post(data["answer_url"], {"preference": "A"}, content_type="application/json")

    item = ReadingItem.objects.get(token=data["item"])
    assert item.drawn_at is None
    assert item.seconds == (item.answered_at - item.shown_at).total_seconds()
    assert item.seconds >= LOADING.total_seconds()


def test_the_first_drawn_report_counts(study: ReaderStudy, study_world: StudyWorld) -> None:
    client = _client(study_world.person("reader"))
    data = _next_item(client, study)
    client.post(data["drawn_url"])
    first = ReadingItem.objects.get(token=data["item"]).drawn_at

    again = client.post(data["drawn_url"])  # the reader reloaded the page: the panes are drawn again

    assert again.status_code == 204
    assert ReadingItem.objects.get(token=data["item"]).drawn_at == first


def test_a_drawn_report_after_the_answer_changes_nothing(study: ReaderStudy, study_world: StudyWorld) -> None:
    client = _client(study_world.person("reader"))
    data = _next_item(client, study)
    client.post(data["answer_url"], {"preference": "B"}, content_type="application/json")
    answered = ReadingItem.objects.get(token=data["item"])

    late = client.post(data["drawn_url"])

    item = ReadingItem.objects.get(token=data["item"])
    assert late.status_code == 204
    assert (item.drawn_at, item.seconds) == (None, answered.seconds)


def test_a_drawn_report_for_another_readers_item_is_a_404(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    data = _next_item(_client(study_world.person("reader")), study)
    other = _client(study_world.person("other_reader"))

    response = other.post(data["drawn_url"])

    assert response.status_code == 404
    assert ReadingItem.objects.get(token=data["item"]).drawn_at is None


def test_a_drawn_report_needs_a_logged_in_reader(study: ReaderStudy, study_world: StudyWorld) -> None:
    data = _next_item(_client(study_world.person("reader")), study)

    response = Client().post(data["drawn_url"])

    assert response.status_code in (401, 403)
    assert ReadingItem.objects.get(token=data["item"]).drawn_at is None


# --- Implausibly fast answers ----------------------------------------------------------------------


def test_a_study_takes_two_seconds_as_its_minimum_reading_time_unless_told(make_study: StudyMaker) -> None:
    assert make_study().minimum_reading_seconds == 2.0
    assert make_study(minimum_reading_seconds=4.5).minimum_reading_seconds == 4.5


def test_a_negative_minimum_reading_time_is_refused(make_study: StudyMaker) -> None:
    with pytest.raises(ValidationError) as raised:
        make_study(minimum_reading_seconds=-1.0)

    assert "The minimum reading time is a number of seconds, 0 or more." in raised.value.messages


def test_the_organizer_sets_the_minimum_reading_time_in_the_creation_form(study_world: StudyWorld) -> None:
    client = _client(study_world.person("organizer"))
    url = f"/studies/new/{study_world.phase.challenge.slug}/"
    fields = {
        "title": "Reference against Penumbra Labs",
        "dataset": study_world.phase.dataset.pk,
        "split": "TEST",
        "include_reference": "on",
        "submissions": [study_world.submission.pk],
        "background_interfaces": ["non-contrast-ct"],
    }

    form = client.get(url).content.decode()
    client.post(url, fields | {"minimum_reading_seconds": "3.5"})

    assert "Minimum reading time (seconds)" in form
    assert ReaderStudy.objects.get().minimum_reading_seconds == 3.5


# Seconds per answer, by reader and case: with the default 2 s minimum, the reader answered two items too
# fast and the other reader one.
SECONDS = {
    "reader": {CASE_NAMES[0]: 0.4, CASE_NAMES[1]: 1.9, CASE_NAMES[2]: 12.0},
    "other_reader": {CASE_NAMES[0]: 0.8, CASE_NAMES[1]: 6.0, CASE_NAMES[2]: 9.0},
}


@pytest.fixture
def timed(study: ReaderStudy) -> ReaderStudy:
    """Both readers prefer the reference in every item, in the times of ``SECONDS``."""
    for reader in StudyReader.objects.filter(study=study).select_related("user"):
        for item in reader.items.select_related("study_case__case", "source_a"):
            preference = "A" if item.source_a.kind == "REFERENCE" else "B"
            services.reading_item_answer(user=reader.user, item_token=item.token, preference=preference)
            seconds = SECONDS[reader.user.username][item.study_case.case.name]
            ReadingItem.objects.filter(pk=item.pk).update(seconds=seconds)
    return study


def test_fast_answers_are_counted_per_reader(timed: ReaderStudy) -> None:
    results = selectors.reader_study_results(study=timed)

    fast = {times.reader: times.fast_answers for times in results.times}
    assert fast == {"all readers": 3, "reader": 2, "other_reader": 1}
    assert (results.fast_answers, results.fast_answers_excluded) == (3, 0)
    assert results.preference[0].wins == 6


def test_the_statistics_leave_fast_answers_out_on_request(timed: ReaderStudy) -> None:
    results = selectors.reader_study_results(study=timed, exclude_fast=True)

    reference = results.preference[0]
    assert (reference.wins, reference.losses) == (3, 0)
    assert reference.interval == pytest.approx(wilson_interval(3, 3))
    assert {rates.reader: rates.answered for rates in results.per_reader} == {"reader": 1, "other_reader": 2}
    times = {entry.reader: entry for entry in results.times}
    assert times["all readers"].answered == 3
    assert times["reader"].median_seconds == 12.0
    assert times["reader"].fast_answers == 2
    assert (results.answered, results.fast_answers_excluded) == (6, 3)


def test_the_results_page_flags_fast_answers_and_links_to_the_statistics_without_them(
    timed: ReaderStudy, study_world: StudyWorld
) -> None:
    client = _client(study_world.person("organizer"))

    page = client.get(f"/studies/{timed.pk}/results/").content.decode()
    without = client.get(f"/studies/{timed.pk}/results/", {"exclude_fast": "1"}).content.decode()

    assert "3 answers came faster than the\n  study's minimum reading time of 2 s." in page
    assert f'href="/studies/{timed.pk}/results/?exclude_fast=1"' in page
    assert "3 fast answers\n  excluded: the statistics below are computed without them." in without
    # The overall rate of the reference: 6 of 6 preferred with every answer, 3 of 3 without the fast ones.
    assert f"{wilson_interval(6, 6)[0]:.3f}" in page
    assert f"{wilson_interval(6, 6)[0]:.3f}" not in without
    assert f"{wilson_interval(3, 3)[0]:.3f}" in without


def test_the_results_api_leaves_fast_answers_out_on_request(
    timed: ReaderStudy, study_world: StudyWorld
) -> None:
    client = _client(study_world.person("organizer"))

    every = client.get(f"/api/studies/{timed.pk}/results/").json()
    without = client.get(f"/api/studies/{timed.pk}/results/?exclude_fast=1").json()

    assert (every["fast_answers"], every["fast_answers_excluded"]) == (3, 0)
    assert (without["fast_answers"], without["fast_answers_excluded"]) == (3, 3)
    assert every["preference"][0]["wins"] == 6
    assert without["preference"][0]["wins"] == 3
    assert {times["reader"]: times["fast_answers"] for times in without["times"]}["reader"] == 2


def test_the_csv_flags_fast_answers_and_says_when_the_panes_were_drawn(
    timed: ReaderStudy, study_world: StudyWorld
) -> None:
    response = _client(study_world.person("organizer")).get(f"/studies/{timed.pk}/answers.csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    fast = {(row["reader"], row["case"]): row["fast"] for row in rows}
    assert fast == {
        (reader, case): "yes" if seconds < 2 else "no"
        for reader, by_case in SECONDS.items()
        for case, seconds in by_case.items()
    }
    assert all(row["drawn_at"] == "" for row in rows)  # these answers came through the service alone
