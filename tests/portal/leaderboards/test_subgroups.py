"""Results split by a case attribute: per-subgroup means with bootstrap intervals per submission, the forest
plot and the test between subgroups, on the per-case page, in the API and in the exports; the same means as
computed by hand from the per-case export; and never to a participant who may not see per-case scores."""

import csv
import io
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.leaderboards.services import leaderboard_rebuild, leaderboard_stability_rebuild
from portal.submissions.models import CaseResult
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, TeamMembershipFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory
from tests.portal.leaderboards.conftest import Board, ground_truth_recorded, succeeded_submission

pytestmark = pytest.mark.django_db

TEAMS = ("Alpha", "Beta", "Gamma")
CENTRES = ("TUM", "Zurich", "TUM", "Zurich", "TUM", "Zurich", "TUM", "Zurich", "TUM", "Zurich", "TUM", "")
"""Per case: its centre; the last case has none in the table."""


def _organizer_client(phase: Phase) -> Client:
    user = ChallengeRoleFactory(challenge=phase.challenge, role=ChallengeRole.Role.ORGANIZER).user
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def centres_phase() -> Phase:
    """Twelve hidden test cases from two centres, three teams with a scored submission each (Dice drawn
    lower at Zurich for Beta), ranked."""
    challenge = ChallengeFactory(slug="isles24")
    phase = PhaseFactory(challenge=challenge, slug="final", title="Final", split=Split.TEST)
    cases = [
        CaseFactory(dataset=phase.dataset, name=f"sub-stroke{n:04d}", split=Split.TEST) for n in range(12)
    ]
    rng = np.random.default_rng(11)
    for case, volume_ml in zip(cases, rng.gamma(2.0, 15.0, size=len(cases)), strict=True):
        ground_truth_recorded(
            case=case, version=phase.ground_truth_version, lesion_volume_ml=float(volume_ml)
        )
    for number, team_name in enumerate(TEAMS):
        team = TeamFactory(challenge=challenge, name=team_name)
        member = ChallengeRoleFactory(challenge=challenge, role=ChallengeRole.Role.PARTICIPANT).user
        TeamMembershipFactory(team=team, user=member)
        submission = succeeded_submission(phase=phase, creator=member, team=team)
        for case, centre in zip(cases, CENTRES, strict=True):
            shift = 0.3 if team_name == "Beta" and centre == "Zurich" else 0.0
            dice = float(np.clip(rng.normal(0.6 - 0.05 * number - shift, 0.1), 0, 1))
            reference_ml = float(rng.gamma(2.0, 15.0))
            metrics = {
                "dice": dice,
                "absolute_volume_difference_ml": float(rng.uniform(0, 10)),
                "absolute_lesion_count_difference": float(rng.integers(0, 3)),
                "lesion_f1": float(rng.uniform(0, 1)),
                "reference_volume_ml": reference_ml,
                "predicted_volume_ml": reference_ml * 1.1,
            }
            CaseResult.objects.create(submission=submission, case=case, metrics=metrics)
    leaderboard_rebuild(phase=phase)
    leaderboard_stability_rebuild(phase=phase)
    return phase


def _upload_centres(client: Client, phase: Phase) -> None:
    lines = ["case,centre"] + [f"sub-stroke{n:04d},{centre}" for n, centre in enumerate(CENTRES)]
    answer = client.post(
        f"/api/challenges/{phase.challenge.slug}/datasets/{phase.dataset.slug}/case-attributes/",
        {"file": SimpleUploadedFile("centres.csv", "\n".join(lines).encode())},
    )
    assert answer.status_code == 201, answer.content


def test_the_split_by_centre_gives_the_means_computed_by_hand_from_the_per_case_export(
    centres_phase: Phase,
) -> None:
    client = _organizer_client(centres_phase)
    _upload_centres(client, centres_phase)
    export = client.get(reverse("api:leaderboard-export", args=[centres_phase.slug, "cases", "csv"]))
    per_case = list(csv.DictReader(io.StringIO(export.content.decode())))
    centre_of = {f"sub-stroke{n:04d}": centre for n, centre in enumerate(CENTRES)}
    by_hand: dict[tuple[str, str], float] = {}
    for team in TEAMS:
        for centre in ("TUM", "Zurich"):
            values = [
                float(row["dice"])
                for row in per_case
                if row["team"] == team and centre_of[row["case"]] == centre
            ]
            by_hand[(team, centre)] = statistics.fmean(values)

    split = client.get(
        reverse("api:leaderboard-subgroups", args=[centres_phase.slug]),
        {"attribute": "centre", "metric": "dice"},
    ).json()
    exported = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    reverse("api:leaderboard-export", args=[centres_phase.slug, "subgroups", "csv"])
                ).content.decode()
            )
        )
    )

    assert split["attribute"] == "centre"
    assert split["cases_without_value"] == 1
    from_api = {
        (row["team"], group["subgroup"]): group["mean"]
        for row in split["results"]
        for group in row["subgroups"]
    }
    assert from_api == pytest.approx(by_hand, abs=1e-12)
    assert {
        (row["team"], group["subgroup"]): group["cases"]
        for row in split["results"]
        for group in row["subgroups"]
    } == {(team, centre): 6 if centre == "TUM" else 5 for team in TEAMS for centre in ("TUM", "Zurich")}
    from_export = {
        (row["team"], row["subgroup"]): float(row["mean"])
        for row in exported
        if row["attribute"] == "centre" and row["metric"] == "dice"
    }
    assert from_export == pytest.approx(by_hand, abs=1e-12)
    beta = next(row for row in split["results"] if row["team"] == "Beta")
    assert beta["test"]["test"] == "mann-whitney"
    assert beta["test"]["p_value"] < 0.05  # Beta's Dice was drawn 0.3 lower at Zurich
    for group in beta["subgroups"]:
        assert group["interval"][0] <= group["mean"] <= group["interval"][1]


def test_the_per_case_page_splits_any_metric_by_any_attribute_with_a_forest_plot_per_submission(
    centres_phase: Phase,
) -> None:
    client = _organizer_client(centres_phase)
    _upload_centres(client, centres_phase)
    url = reverse("leaderboard-cases", args=[centres_phase.slug])

    unsplit = client.get(url).content.decode()
    by_centre = client.get(url, {"split_by": "centre", "metric": "lesion_f1"}).content.decode()
    by_volume = client.get(url, {"split_by": "lesion_volume", "metric": "dice"}).content.decode()
    unknown = client.get(url, {"split_by": "scanner"})

    assert '<option value="centre">centre</option>' in unsplit
    assert '<option value="lesion_volume">Reference lesion volume</option>' in unsplit
    assert "forest-plot" not in unsplit
    assert by_centre.count('class="plot forest-plot"') == 3
    assert by_centre.count('class="subgroup-row"') == 6
    assert "1 cases have no\n    centre" in by_centre
    assert "mann-whitney: p = " in by_centre
    assert by_volume.count('class="plot forest-plot"') == 3
    assert unknown.status_code == 400
    assert "Choose an attribute to split by: one of centre, lesion_volume." in unknown.content.decode()


def test_a_participant_never_gets_the_split_where_per_case_scores_are_hidden(ranked_board: Board) -> None:
    for who in ("anonymous", "outsider", "participant", "other_team", "reader"):
        client = ranked_board.client_for(who)
        page = client.get(reverse("leaderboard-cases", args=["final"]), {"split_by": "centre"})
        api = client.get(reverse("api:leaderboard-subgroups", args=["final"]), {"attribute": "centre"})
        export = client.get(reverse("api:leaderboard-export", args=["final", "subgroups", "json"]))
        expected = (302, 401, 401) if who == "anonymous" else (403, 403, 403)
        assert (page.status_code, api.status_code, export.status_code) == expected, who
        assert b"TUM" not in page.content + api.content + export.content

    organizer = ranked_board.client_for("organizer")
    answer = organizer.get(reverse("api:leaderboard-subgroups", args=["final"]), {"attribute": "centre"})
    assert [row["team"] for row in answer.json()["results"]] == ["Alpha", "Beta", "carol"]


def test_a_participant_sees_only_their_own_teams_split_where_they_see_their_per_case_scores(
    ranked_board: Board,
) -> None:
    ranked_board.scored_on_training_cases()
    ranked_board.settings(show_case_scores_to_participants=True)

    answer = ranked_board.client_for("participant").get(
        reverse("api:leaderboard-subgroups", args=["final"]), {"attribute": "centre", "metric": "dice"}
    )

    assert answer.status_code == 200
    assert [row["team"] for row in answer.json()["results"]] == ["Alpha"]
    assert [group["subgroup"] for group in answer.json()["results"][0]["subgroups"]] == ["TUM", "Zurich"]


@pytest.fixture
def ranked_board(board: Board) -> Board:
    """The shared board, ranked, its three cases with a centre (two at TUM, one at Zurich)."""
    for name, centre in zip(
        ("sub-stroke0100", "sub-stroke0101", "sub-stroke0102"), ("TUM", "Zurich", "TUM"), strict=True
    ):
        Case.objects.filter(dataset=board.phase.dataset, name=name).update(attributes={"centre": centre})
    leaderboard_rebuild(phase=board.phase)
    leaderboard_stability_rebuild(phase=board.phase)
    return board


def test_the_split_is_read_in_a_fixed_number_of_queries(
    centres_phase: Phase, django_assert_num_queries: Callable[..., Any]
) -> None:
    client = _organizer_client(centres_phase)
    _upload_centres(client, centres_phase)
    url = reverse("api:leaderboard-subgroups", args=[centres_phase.slug])
    client.get(url)  # the session and the user, read once

    # The phase with the user's roles, the cases' attributes, their reference volumes, the last table's
    # columns, the entries, the unranked ensembles, the per-case results; and the session and user.
    with django_assert_num_queries(9):
        answer = client.get(url, {"attribute": "lesion_volume", "metric": "dice"})

    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 3
