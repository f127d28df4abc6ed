"""Catch trials: drawn into each reader's sequence, blinded like any item, and reported from the stored
answers beside the preference rates (checked against statsmodels)."""

import secrets

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from portal.readerstudies import selectors, services
from portal.readerstudies.models import ReaderStudy, ReadingItem, StudyReader
from tests.portal.readerstudies.conftest import StudyMaker, StudyWorld

Trial = ReadingItem.Trial
CASES, SOURCES = (11, 12, 13, 14), (7, 8, 9)


def _comparison(item: services.DrawnItem) -> tuple[int, int, int]:
    return item.case_id, min(item.source_a_id, item.source_b_id), max(item.source_a_id, item.source_b_id)


@pytest.mark.parametrize("seed", [secrets.token_hex(16) for _ in range(30)])
def test_the_draw_adds_distinct_catch_trials_and_repeats_each_comparison_later_not_adjacent(
    seed: str,
) -> None:
    drawn = services.reading_order_draw(
        seed=seed, case_ids=CASES, source_ids=SOURCES, same_mask_trials=5, repeated_pairs=6
    )

    real = [item for item in drawn if item.trial == Trial.REAL]
    same = [item for item in drawn if item.trial == Trial.SAME_MASK]
    repeats = [item for item in drawn if item.trial == Trial.REPEAT]
    assert real == services.reading_order_draw(seed=seed, case_ids=CASES, source_ids=SOURCES)
    assert len(same) == len({(item.case_id, item.source_a_id) for item in same}) == 5
    assert all(item.source_a_id == item.source_b_id for item in same)
    assert len(repeats) == 6
    comparisons = {_comparison(item) for item in repeats}
    assert len(comparisons) == 6
    for repeat in repeats:
        first = next(
            place
            for place, item in enumerate(drawn)
            if item.trial == Trial.REAL and _comparison(item) == _comparison(repeat)
        )
        assert drawn.index(repeat) >= first + 2, "a repeat comes later, with at least one item between"
    assert drawn == services.reading_order_draw(
        seed=seed, case_ids=CASES, source_ids=SOURCES, same_mask_trials=5, repeated_pairs=6
    )


def test_the_sides_of_repeats_and_the_places_of_catch_trials_vary_between_readers() -> None:
    draws = [
        services.reading_order_draw(
            seed=secrets.token_hex(16),
            case_ids=CASES,
            source_ids=SOURCES,
            same_mask_trials=3,
            repeated_pairs=4,
        )
        for _ in range(40)
    ]

    places = {draw.index(next(i for i in draw if i.trial == Trial.SAME_MASK)) for draw in draws}
    repeat_sides = {
        item.source_a_id < item.source_b_id for draw in draws for item in draw if item.trial == Trial.REPEAT
    }
    assert len(places) > 5
    assert repeat_sides == {True, False}


def test_more_catch_trials_than_the_study_has_room_for_are_refused(make_study: StudyMaker) -> None:
    # Three cases, two sources: three comparisons and six masks.
    with pytest.raises(ValidationError) as refused:
        make_study(same_mask_trials=7, repeated_pairs=3)

    assert refused.value.messages == [
        "Choose from 0 to 6 same-mask catch trials: one per case and source at most.",
        "Choose from 0 to 2 repeated comparisons: one fewer than the 3 comparisons each reader makes.",
    ]


@pytest.fixture
def catch_study(make_study: StudyMaker, study_world: StudyWorld) -> ReaderStudy:
    study = make_study(same_mask_trials=2, repeated_pairs=2, instructions="  Read **carefully**.  ")
    for username in ("reader", "other_reader"):
        services.study_reader_invite(
            study=study, user=study_world.person(username), invited_by=study_world.person("organizer")
        )
    return study


def test_each_reader_gets_the_catch_trials_and_the_instructions_are_stored_trimmed(
    catch_study: ReaderStudy,
) -> None:
    assert catch_study.instructions == "Read **carefully**."
    for reader in catch_study.readers.all():
        trials = list(reader.items.order_by("position").values_list("trial", flat=True))
        assert len(trials) == 3 + 2 + 2
        assert (trials.count(Trial.SAME_MASK), trials.count(Trial.REPEAT)) == (2, 2)


def test_a_catch_trial_reaches_the_reader_like_any_item(
    catch_study: ReaderStudy, study_world: StudyWorld
) -> None:
    client = Client()
    client.force_login(study_world.person("reader"))
    reader = StudyReader.objects.get(study=catch_study, user=study_world.person("reader"))
    seen: dict[str, list[tuple]] = {}
    while not (data := client.get(f"/api/studies/{catch_study.pk}/next/").json())["done"]:
        item = reader.items.get(token=data["item"])
        files = [client.get(mask["url"]) for mask in data["masks"].values()]
        shape = (
            tuple(sorted(set(data) - {"following"})),  # absent after the last item, whatever its trial
            tuple(sorted(data["masks"]["A"])),
            tuple(response.status_code for response in files),
            tuple(sorted(files[0].headers)) == tuple(sorted(files[1].headers)),
            files[0].headers["Cache-Control"] == files[1].headers["Cache-Control"],
            len(data["item"]),
            data["masks"]["A"]["name"] == data["masks"]["B"]["name"] == "mask.nii.gz",
        )
        seen.setdefault(item.trial, []).append(shape)
        answer = client.post(data["answer_url"], {"preference": "NONE"}, content_type="application/json")
        assert answer.status_code == 200
        assert set(answer.json()) == {"done", "answered", "total"}
    assert set(seen) == {Trial.REAL, Trial.SAME_MASK, Trial.REPEAT}
    shapes = {shape for shapes in seen.values() for shape in shapes}
    assert len(shapes) == 1, "a catch trial's JSON, files and header names look like a comparison's"
    assert "trial" not in client.get(f"/api/studies/{catch_study.pk}/next/").content.decode().lower()


def _answer(item: ReadingItem, preferred_source: int | None) -> None:
    preference = "A" if item.source_a_id == preferred_source else "B"
    if preferred_source is None:
        preference = "NONE"
    services.reading_item_answer(user=item.reader.user, item_token=item.token, preference=preference)


def test_results_report_catch_trials_from_the_stored_answers_as_statsmodels_does(
    catch_study: ReaderStudy,
) -> None:
    reference, submission = catch_study.sources.order_by("position").values_list("pk", flat=True)
    rng = np.random.default_rng(19)
    firsts, repeats = [], []
    for reader in catch_study.readers.all():
        first_answer: dict[tuple[int, int, int], int | None] = {}
        for item in reader.items.order_by("position"):
            key = (item.study_case_id, *sorted((item.source_a_id, item.source_b_id)))
            if item.trial == Trial.SAME_MASK:
                choice = item.source_a_id if reader.user.username == "reader" else None
            elif item.trial == Trial.REPEAT and rng.random() < 0.5:
                choice = first_answer[key]
            else:
                choice = [reference, submission, None][int(rng.integers(3))]
            _answer(item, choice)
            if item.trial == Trial.REAL:
                first_answer[key] = choice
            elif item.trial == Trial.REPEAT:
                firsts.append([reference, submission, None].index(first_answer[key]))
                repeats.append([reference, submission, None].index(choice))

    results = selectors.reader_study_results(study=catch_study)

    real = ReadingItem.objects.filter(reader__study=catch_study, trial=Trial.REAL)
    reference_wins = sum(
        (item.preference == "A" and item.source_a_id == reference)
        or (item.preference == "B" and item.source_b_id == reference)
        for item in real
    )
    assert results.preference[0].wins == reference_wins
    assert sum(rate.wins + rate.losses + rate.ties for rate in results.preference) == 2 * real.count()
    assert results.catch_answers == 8
    pooled, first_reader, second_reader = results.guessing
    assert (pooled.answered, pooled.sided, first_reader.sided, second_reader.sided) == (4, 2, 2, 0)
    assert pooled.interval == pytest.approx(proportion_confint(2, 4, method="wilson"))
    table = np.zeros((3, 3))
    for a, b in zip(firsts, repeats, strict=True):
        table[a, b] += 1
    intra = results.intra_reader[0]
    assert (intra.pairs, intra.agreeing) == (4, int(np.trace(table)))
    chance = table.sum(0) @ table.sum(1) / 16
    assert intra.kappa == (None if chance == 1 else pytest.approx(cohens_kappa(table).kappa))
