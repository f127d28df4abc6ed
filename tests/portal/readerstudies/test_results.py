"""The organizers' statistics and CSV on crafted answers, checked against evaluation.stats."""

import csv
import io
import math

import numpy as np
import pytest
from django.test import Client
from scipy.stats import t as student_t

from evaluation.preference import PSEUDO_WINS
from evaluation.stats import bradley_terry, fleiss_kappa, sign_test, wilson_interval
from portal.readerstudies import selectors, services
from portal.readerstudies.models import MaskSource, ReaderStudy, StudyReader
from portal.readerstudies.views import CSV_COLUMNS
from tests.portal.readerstudies.conftest import (
    CASE_NAMES,
    StudyMaker,
    StudyWorld,
    image_bytes,
    lesion,
    submission_make,
)

REFERENCE_RATING = {"reader": 5, "other_reader": 4}
SUBMISSION_RATING = {"reader": 3, "other_reader": 2}
# Per reader and case: which source the reader prefers ("reference", "submission" or None for a tie).
PREFERRED = {
    "reader": {CASE_NAMES[0]: "reference", CASE_NAMES[1]: "reference", CASE_NAMES[2]: None},
    "other_reader": {CASE_NAMES[0]: "submission", CASE_NAMES[1]: "reference", CASE_NAMES[2]: "reference"},
}


def _answer_all(study: ReaderStudy, username: str, choose: object, ratings: bool = True) -> None:
    reader = StudyReader.objects.get(study=study, user__username=username)
    for item in reader.items.select_related("study_case__case", "source_a", "source_b"):
        preferred = choose(item)
        preference = "NONE" if preferred is None else ("A" if preferred == item.source_a_id else "B")
        extra = {}
        if ratings:
            rating = {"REFERENCE": REFERENCE_RATING[username], "SUBMISSION": SUBMISSION_RATING[username]}
            extra = {"rating_a": rating[item.source_a.kind], "rating_b": rating[item.source_b.kind]}
        services.reading_item_answer(user=reader.user, item_token=item.token, preference=preference, **extra)


@pytest.fixture
def answered(study: ReaderStudy) -> ReaderStudy:
    source_ids = {source.kind.lower(): source.pk for source in study.sources.all()}
    for username, by_case in PREFERRED.items():

        def choose(item: object, by_case: dict = by_case) -> int | None:
            kind = by_case[item.study_case.case.name]
            return None if kind is None else source_ids[kind]

        _answer_all(study, username, choose)
    return study


def test_preference_rates_leave_ties_out_and_use_wilson_and_the_sign_test(answered: ReaderStudy) -> None:
    results = selectors.reader_study_results(study=answered)

    reference, submission = results.preference
    assert (reference.wins, reference.losses, reference.ties) == (4, 1, 1)
    assert (submission.wins, submission.losses, submission.ties) == (1, 4, 1)
    assert reference.rate == pytest.approx(0.8)
    assert reference.interval == pytest.approx(wilson_interval(4, 5))
    assert reference.sign_test_p == pytest.approx(sign_test(4, 5))
    assert submission.interval == pytest.approx(wilson_interval(1, 5))
    assert results.answered == results.items == 6


def test_rates_per_reader(answered: ReaderStudy) -> None:
    per_reader = {entry.reader: entry for entry in selectors.reader_study_results(study=answered).per_reader}

    assert (per_reader["reader"].rates[0].wins, per_reader["reader"].rates[0].losses) == (2, 0)
    assert per_reader["reader"].rates[0].ties == 1
    assert per_reader["reader"].rates[0].interval == pytest.approx(wilson_interval(2, 2))
    assert (per_reader["other_reader"].rates[0].wins, per_reader["other_reader"].rates[0].losses) == (2, 1)


def test_fleiss_kappa_over_the_items_both_readers_answered(answered: ReaderStudy) -> None:
    results = selectors.reader_study_results(study=answered)

    # Categories per case: reference preferred, submission preferred, no preference.
    assert results.kappa_items == 3
    assert results.fleiss_kappa == pytest.approx(fleiss_kappa([[1, 1, 0], [2, 0, 0], [1, 0, 1]]))


def test_mean_quality_ratings_with_t_intervals(answered: ReaderStudy) -> None:
    reference = selectors.reader_study_results(study=answered).ratings[0]

    values = [5, 5, 5, 4, 4, 4]
    half_width = student_t.ppf(0.975, 5) * np.std(values, ddof=1) / math.sqrt(6)
    assert (reference.ratings, reference.mean) == (6, pytest.approx(4.5))
    assert reference.interval == pytest.approx((4.5 - half_width, 4.5 + half_width))


def test_time_per_case_is_reported_per_reader_and_overall(answered: ReaderStudy) -> None:
    times = {entry.reader: entry for entry in selectors.reader_study_results(study=answered).times}

    assert times["all readers"].answered == 6
    assert times["reader"].answered == times["other_reader"].answered == 3
    assert times["all readers"].median_seconds >= 0


def test_bradley_terry_strengths_rank_three_sources(make_study: StudyMaker, study_world: StudyWorld) -> None:
    second = submission_make(
        phase=study_world.phase,
        creator=study_world.person("outsider"),
        members={f"{CASE_NAMES[0]}.nii.gz": image_bytes(lesion(1), suffix=".nii.gz")},
    )
    study = make_study(
        sources=[services.REFERENCE, study_world.submission, second], asks_quality_rating=False
    )
    services.study_reader_invite(
        study=study, user=study_world.person("reader"), invited_by=study_world.person("organizer")
    )
    position = {source.pk: source.position for source in study.sources.all()}
    # The reader always prefers the source listed first: reference > first submission > second.
    _answer_all(
        study, "reader", lambda item: min(item.source_a_id, item.source_b_id, key=position.get), ratings=False
    )

    results = selectors.reader_study_results(study=study)

    wins = np.array([[0, 3, 3], [0, 0, 3], [0, 0, 0]], dtype=float)
    expected = bradley_terry(wins + PSEUDO_WINS * (1 - np.eye(3)))
    assert results.bradley_terry_pseudo_wins == PSEUDO_WINS
    assert [strength.strength for strength in results.bradley_terry] == pytest.approx(expected)
    assert (
        results.bradley_terry[0].strength
        > results.bradley_terry[1].strength
        > results.bradley_terry[2].strength
    )


def test_two_sources_have_no_bradley_terry_strengths(answered: ReaderStudy) -> None:
    assert selectors.reader_study_results(study=answered).bradley_terry is None


def test_the_csv_holds_every_answer_with_the_unblinded_sources(
    answered: ReaderStudy, study_world: StudyWorld
) -> None:
    client = Client()
    client.force_login(study_world.person("organizer"))

    response = client.get(f"/api/studies/{answered.pk}/answers.csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 6
    labels = {source.kind.lower(): source.label for source in MaskSource.objects.filter(study=answered)}
    for row in rows:
        expected = PREFERRED[row["reader"]][row["case"]]
        assert row["preferred_source"] == ("none" if expected is None else labels[expected])
        assert {row["source_a"], row["source_b"]} == set(labels.values())
        assert (
            row["reader_seed"] == StudyReader.objects.get(study=answered, user__username=row["reader"]).seed
        )
        assert float(row["seconds"]) >= 0
    assert {row["rating_a"] for row in rows} <= {"2", "3", "4", "5"}


def test_the_csv_writes_comments_labels_and_names_a_spreadsheet_would_run_as_text(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    hostile_label = '=HYPERLINK("https://attacker.example","open")'
    hostile_comments = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"]
    reader_user = study_world.person("reader")
    study = make_study()
    study.sources.filter(kind=MaskSource.Kind.SUBMISSION).update(label=hostile_label)
    reader = services.study_reader_invite(
        study=study, user=reader_user, invited_by=study_world.person("organizer")
    )
    tokens = list(reader.items.order_by("position").values_list("token", flat=True))
    for token, comment in zip(tokens, hostile_comments, strict=False):
        services.reading_item_answer(user=reader_user, item_token=token, preference="A", comment=comment)
    client = Client()
    client.force_login(study_world.person("organizer"))

    response = client.get(f"/studies/{study.pk}/answers.csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))
    assert [row["comment"] for row in rows] == ["'=1+1", "'+1+1", "'-1+1"]
    assert {row["source_a"] for row in rows} | {row["source_b"] for row in rows} == {
        "reference",
        f"'{hostile_label}",
    }
    assert all(float(row["seconds"]) >= 0 for row in rows)


def test_the_results_api_and_page_show_the_statistics(answered: ReaderStudy, study_world: StudyWorld) -> None:
    client = Client()
    client.force_login(study_world.person("organizer"))

    data = client.get(f"/api/studies/{answered.pk}/results/").json()
    page = client.get(f"/studies/{answered.pk}/results/").content.decode()

    assert data["preference"][0]["source"] == "reference"
    assert data["preference"][0]["interval"] == pytest.approx(list(wilson_interval(4, 5)))
    assert data["fleiss_kappa"] == pytest.approx(fleiss_kappa([[1, 1, 0], [2, 0, 0], [1, 0, 1]]))
    assert "Wilson 95 %" in page
    assert "Fleiss' kappa" in page
    assert f"{wilson_interval(4, 5)[0]:.3f}" in page


def test_the_results_take_the_same_few_queries_whatever_the_number_of_answers(
    answered: ReaderStudy, django_assert_max_num_queries: object
) -> None:
    with django_assert_max_num_queries(4):
        selectors.reader_study_results(study=answered)
