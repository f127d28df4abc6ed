"""Who sees what: every leaderboard page and endpoint for anonymous visitors, participants, members of
another team, organizers and expert readers, under each publication rule. What a person may not see is
refused: an anonymous visitor is sent to log in (the API: 401), anyone else gets 403; another team's
submission is not found."""

import datetime
from collections.abc import Callable

import pytest
from django.urls import reverse
from django.utils import timezone

from evaluation.biomarkers import bland_altman, icc_agreement
from portal.datasets.models import Case
from portal.leaderboards.models import LeaderboardSettings
from portal.leaderboards.services import leaderboard_rebuild, leaderboard_stability_rebuild
from tests.portal.leaderboards.conftest import Board

Publication = LeaderboardSettings.Publication
EVERYONE = ("anonymous", "outsider", "participant", "other_team", "organizer", "reader")
ORGANIZER_ONLY = {"organizer"}
LOGIN = 302
"""A page's answer to an anonymous visitor it refuses: to the login page."""


def refused(who: str, *, api: bool) -> int:
    """The status of a refusal: 401 (API) or to the login page for an anonymous visitor, else 403."""
    if who == "anonymous":
        return 401 if api else LOGIN
    return 403


@pytest.fixture
def ranked(board: Board) -> Board:
    leaderboard_rebuild(phase=board.phase)
    leaderboard_stability_rebuild(phase=board.phase)
    return board


def detail_url(board: Board) -> str:
    return reverse("leaderboard-detail", args=[board.phase.slug])


def api_url(board: Board) -> str:
    return reverse("api:leaderboard", args=[board.phase.slug])


def set_publication(board: Board, rule: str) -> None:
    if rule == "manual_unpublished":
        board.settings(publication=Publication.MANUAL, is_published=False)
    elif rule == "manual_published":
        board.settings(publication=Publication.MANUAL, is_published=True)
    elif rule == "after_close_open":
        board.settings(publication=Publication.AFTER_CLOSE)
    elif rule == "after_close_closed":
        board.settings(publication=Publication.AFTER_CLOSE)
        board.phase.closes_at = timezone.now() - datetime.timedelta(minutes=1)
        board.phase.opens_at = timezone.now() - datetime.timedelta(days=2)
        board.phase.save()
    else:
        board.settings(publication=Publication.AUTOMATIC)


PUBLICATION_CASES = [
    ("automatic", set(EVERYONE)),
    ("manual_unpublished", ORGANIZER_ONLY),
    ("manual_published", set(EVERYONE)),
    ("after_close_open", ORGANIZER_ONLY),
    ("after_close_closed", set(EVERYONE)),
]


@pytest.mark.parametrize(("rule", "allowed"), PUBLICATION_CASES)
def test_leaderboard_page_and_api_follow_the_publication_rule(
    ranked: Board, rule: str, allowed: set[str]
) -> None:
    set_publication(ranked, rule)

    for who in EVERYONE:
        client = ranked.client_for(who)
        page, api = client.get(detail_url(ranked)), client.get(api_url(ranked))
        if who in allowed:
            assert (page.status_code, api.status_code) == (200, 200), who
            assert page.content.decode().count('class="entry"') == 3
            assert [entry["team"] for entry in api.json()["results"]] == ["Alpha", "Beta", "carol"]
        else:
            assert (page.status_code, api.status_code) == (refused(who, api=False), refused(who, api=True)), (
                who
            )
            assert "Alpha" not in page.content.decode()
            if who != "anonymous":
                assert "not published yet" in page.content.decode()
                assert api.json()["code"] == "not_published"


def test_leaderboard_page_shows_ranks_means_and_plots(ranked: Board) -> None:
    page = ranked.client_for("anonymous").get(detail_url(ranked)).content.decode()

    assert '0.733 <span class="sd">± 0.170</span>' in page
    assert 'id="rank-stability"' in page
    assert page.count('class="plot significance"') == 4
    assert "NIHSS at admission" in page
    assert "leaderboards.css" in page
    assert "export" not in page.lower().split("<main>")[1].split("<table")[0]


def test_organizer_sees_the_export_links(ranked: Board) -> None:
    page = ranked.client_for("organizer").get(detail_url(ranked)).content.decode()

    assert reverse("leaderboard-export", args=[ranked.phase.slug, "cases", "csv"]) in page


def test_a_hidden_challenges_leaderboard_is_not_found_for_strangers(ranked: Board) -> None:
    ranked.phase.challenge.is_public = False
    ranked.phase.challenge.save()

    assert ranked.client_for("anonymous").get(detail_url(ranked)).status_code == 404
    assert ranked.client_for("outsider").get(api_url(ranked)).status_code == 404
    assert ranked.client_for("participant").get(api_url(ranked)).status_code == 200


def test_leaderboard_api_has_columns_entries_and_stability(ranked: Board) -> None:
    data = ranked.client_for("anonymous").get(api_url(ranked)).json()

    assert data["ranking_method"] == "rank_then_aggregate"
    assert [column["key"] for column in data["columns"]] == [
        "dice",
        "absolute_volume_difference_ml",
        "absolute_lesion_count_difference",
        "lesion_f1",
    ]
    first = data["results"][0]
    assert first["rank"] == 1
    assert first["ranking_score"] == pytest.approx(5 / 3)
    assert first["metrics"]["dice"]["mean"] == pytest.approx(0.7333, abs=1e-4)
    assert first["rank_interval"][0] <= first["median_rank"] <= first["rank_interval"][1]
    assert "rank_counts" not in first
    assert data["count"] == 3
    assert data["stability"]["samples"] == 1000
    assert len(data["stability"]["pairwise"]) == 4


def test_leaderboard_api_gives_the_bootstrap_rank_distributions_on_request(ranked: Board) -> None:
    data = ranked.client_for("anonymous").get(api_url(ranked), {"rank_counts": "true"}).json()

    assert all(sum(entry["rank_counts"].values()) == 1000 for entry in data["results"])


def test_leaderboard_api_pages_with_limit_and_offset(ranked: Board) -> None:
    data = ranked.client_for("anonymous").get(api_url(ranked), {"limit": 1, "offset": 1}).json()

    assert [entry["team"] for entry in data["results"]] == ["Beta"]
    assert data["count"] == 3


def test_leaderboard_api_answers_in_two_queries_whatever_the_size(
    ranked: Board, django_assert_num_queries: Callable[..., object]
) -> None:
    client = ranked.client_for("anonymous")

    with django_assert_num_queries(2):
        response = client.get(api_url(ranked))

    assert response.status_code == 200


def test_leaderboard_api_for_a_logged_in_user_adds_only_the_session_queries(
    ranked: Board, django_assert_num_queries: Callable[..., object]
) -> None:
    client = ranked.client_for("organizer")

    with django_assert_num_queries(4):  # session and user, then the phase with roles, then the entries
        response = client.get(api_url(ranked))

    assert response.status_code == 200


def test_ranks_show_before_their_bootstrap_is_computed(board: Board) -> None:
    leaderboard_rebuild(phase=board.phase)

    page = board.client_for("anonymous").get(detail_url(board)).content.decode()
    data = board.client_for("anonymous").get(api_url(board)).json()

    assert page.count('class="entry"') == 3
    assert "being computed" in page
    assert 'id="rank-stability"' not in page
    assert [entry["median_rank"] for entry in data["results"]] == [None, None, None]


def test_a_phase_not_ranked_yet_has_an_empty_leaderboard(board: Board) -> None:
    data = board.client_for("anonymous").get(api_url(board)).json()

    assert data["results"] == []
    assert data["count"] == 0


# Per-case scores, by default hidden from everyone but organizers.
CASE_PAGES: dict[str, Callable[[Board], str]] = {
    "cases page": lambda board: reverse("leaderboard-cases", args=[board.phase.slug]),
    "cases api": lambda board: reverse("api:leaderboard-cases", args=[board.phase.slug]),
}


def test_per_case_scores_are_hidden_from_all_but_organizers_by_default(ranked: Board) -> None:
    for who in EVERYONE:
        for page, url in CASE_PAGES.items():
            response = ranked.client_for(who).get(url(ranked))
            expected = 200 if who == "organizer" else refused(who, api=page == "cases api")
            assert response.status_code == expected, (who, page)


def test_organizer_sees_every_entrys_case_scores_and_box_plots(ranked: Board) -> None:
    page = ranked.client_for("organizer").get(CASE_PAGES["cases page"](ranked)).content.decode()

    assert page.count('class="case-row"') == 9
    assert page.count('class="plot box-plot"') == 4


def test_participants_see_only_their_own_teams_case_scores_when_the_phase_allows(ranked: Board) -> None:
    ranked.scored_on_training_cases()
    ranked.settings(show_case_scores_to_participants=True)

    data = ranked.client_for("participant").get(CASE_PAGES["cases api"](ranked)).json()
    page = ranked.client_for("teammate").get(CASE_PAGES["cases page"](ranked)).content.decode()

    assert {row["team"] for row in data["results"]} == {"Alpha"}
    assert data["count"] == 3
    assert page.count('class="case-row"') == 3
    assert "Beta" not in page
    assert ranked.client_for("reader").get(CASE_PAGES["cases api"](ranked)).status_code == 403
    assert ranked.client_for("anonymous").get(CASE_PAGES["cases page"](ranked)).status_code == LOGIN


def test_participants_never_see_case_scores_or_plots_of_hidden_test_cases_whatever_the_settings(
    ranked: Board,
) -> None:
    ranked.settings(show_case_scores_to_participants=True)

    for who in ("participant", "teammate", "carol"):
        client = ranked.client_for(who)
        assert client.get(CASE_PAGES["cases api"](ranked)).status_code == 403, who
        assert client.get(CASE_PAGES["cases page"](ranked)).status_code == 403, who
    # Their own submission: they know of it, but not its plots (403).
    assert ranked.client_for("participant").get(submission_url(ranked, "Alpha")).status_code == 403
    assert ranked.client_for("carol").get(submission_url(ranked, "carol")).status_code == 403


def test_case_scores_of_an_unpublished_leaderboard_stay_hidden_from_participants(ranked: Board) -> None:
    ranked.settings(show_case_scores_to_participants=True, publication=Publication.MANUAL)

    assert ranked.client_for("participant").get(CASE_PAGES["cases api"](ranked)).status_code == 403


def submission_url(board: Board, team: str) -> str:
    return reverse("leaderboard-submission", args=[board.phase.slug, board.submissions[team].pk])


def test_a_submissions_volume_plots_are_for_organizers_by_default(ranked: Board) -> None:
    expected = {
        "organizer": 200,
        "participant": 403,
    }  # Alpha's member is refused; the others never learn of it
    for who in EVERYONE:
        response = ranked.client_for(who).get(submission_url(ranked, "Alpha"))
        assert response.status_code == expected.get(who, 404), who


def test_a_team_sees_its_own_submissions_plots_but_never_another_teams(ranked: Board) -> None:
    ranked.scored_on_training_cases()
    ranked.settings(show_case_scores_to_participants=True)
    client = ranked.client_for("participant")

    own = client.get(submission_url(ranked, "Alpha"))
    other = client.get(submission_url(ranked, "Beta"))

    assert own.status_code == 200
    assert 'id="volume-scatter"' in own.content.decode()
    assert 'id="bland-altman"' in own.content.decode()
    assert other.status_code == 404


def test_a_submissions_page_gives_the_volume_agreement_with_the_reference(ranked: Board) -> None:
    page = ranked.client_for("organizer").get(submission_url(ranked, "Alpha")).content.decode()

    # Alpha's volumes: reference 10, 20, 40 ml; predicted 11, 25, 42 ml.
    icc = icc_agreement([[10.0, 11.0], [20.0, 25.0], [40.0, 42.0]])
    agreement = bland_altman([10.0, 20.0, 40.0], [11.0, 25.0, 42.0])
    table = page[page.index('id="volume-agreement"') :]
    assert "ICC(A,1), absolute agreement (3 cases)" in table
    assert f'<td class="number">{icc.coefficient:.3f}</td>' in table
    assert '<td class="number">2.67</td>' in table  # the bias: (1 + 5 + 2) / 3
    assert f'<td class="number">{agreement.upper_limit:.2f}</td>' in table


def test_a_participant_without_a_team_sees_only_their_own_submission(ranked: Board) -> None:
    ranked.scored_on_training_cases()
    ranked.settings(show_case_scores_to_participants=True)
    client = ranked.client_for("carol")

    assert client.get(submission_url(ranked, "carol")).status_code == 200
    assert client.get(submission_url(ranked, "Alpha")).status_code == 404


EXPORTS = [
    ("leaderboard", "csv", "text/csv"),
    ("leaderboard", "json", "application/json"),
    ("cases", "csv", "text/csv"),
    ("cases", "json", "application/json"),
]


def test_exports_are_for_organizers_only(ranked: Board) -> None:
    for who in EVERYONE:
        client = ranked.client_for(who)
        for table, file_format, content_type in EXPORTS:
            page = client.get(reverse("leaderboard-export", args=[ranked.phase.slug, table, file_format]))
            api = client.get(reverse("api:leaderboard-export", args=[ranked.phase.slug, table, file_format]))
            if who == "organizer":
                assert page.status_code == api.status_code == 200
                assert page["Content-Type"].startswith(content_type)
                assert f'filename="final-{table}.{file_format}"' in api["Content-Disposition"]
                assert b"Alpha" in page.content
            else:
                statuses = (page.status_code, api.status_code)
                assert statuses == (refused(who, api=False), refused(who, api=True)), (
                    who,
                    table,
                    file_format,
                )


def test_an_unknown_export_is_not_found(ranked: Board) -> None:
    client = ranked.client_for("organizer")

    assert (
        client.get(reverse("leaderboard-export", args=[ranked.phase.slug, "teams", "csv"])).status_code == 404
    )
    assert (
        client.get(reverse("api:leaderboard-export", args=[ranked.phase.slug, "cases", "xml"])).status_code
        == 404
    )


def test_admin_publish_action_publishes_a_manual_leaderboard(ranked: Board, admin_client: object) -> None:
    settings = ranked.settings(publication=Publication.MANUAL)

    response = admin_client.post(  # type: ignore[attr-defined]  # pytest-django's logged-in client
        reverse("admin:leaderboards_leaderboardsettings_changelist"),
        {"action": "publish", "_selected_action": [settings.pk]},
    )

    assert response.status_code == 302
    settings.refresh_from_db()
    assert settings.is_published
    assert ranked.client_for("anonymous").get(api_url(ranked)).status_code == 200


def test_admin_lists_leaderboard_settings_and_columns(ranked: Board, admin_client: object) -> None:
    ranked.settings()
    for name in ("leaderboardsettings", "leaderboardcolumn"):
        response = admin_client.get(reverse(f"admin:leaderboards_{name}_changelist"))  # type: ignore[attr-defined]  # as above
        assert response.status_code == 200


@pytest.mark.parametrize("published", [False, True])
def test_correlations_with_the_outcomes_of_hidden_cases_reach_organizers_only_until_published(
    board: Board, published: bool
) -> None:
    Case.objects.filter(name="sub-stroke0102").update(outcome_data={"outcome": {"mrs_90d": 4}})
    leaderboard_rebuild(phase=board.phase)
    leaderboard_stability_rebuild(phase=board.phase)
    board.settings(publish_outcome_correlations=published)

    for who in ("anonymous", "participant", "organizer"):
        client = board.client_for(who)
        shown = published or who == "organizer"
        page = client.get(detail_url(board)).content.decode()
        entries = client.get(api_url(board)).json()["results"]
        assert ("mRS at 90 days" in page) is shown, who
        assert "NIHSS at admission" in page
        assert all(("outcome_correlations" in entry) is shown for entry in entries), who
        assert all("mRS at 90 days" not in entry["clinical_correlations"] for entry in entries)
    organizer_entries = board.client_for("organizer").get(api_url(board)).json()["results"]
    assert organizer_entries[0]["outcome_correlations"]["mRS at 90 days"]["pairs"] == 3


def test_an_entry_whose_bootstrap_is_not_drawn_yet_has_a_null_median_rank_as_the_schema_allows(
    board: Board,
) -> None:
    leaderboard_rebuild(phase=board.phase)
    board.settings(publication=Publication.MANUAL, is_published=True)

    entries = board.client_for("anonymous").get(api_url(board)).json()["results"]
    schema = board.client_for("anonymous").get(reverse("api:schema"), {"format": "json"}).json()

    assert [entry["median_rank"] for entry in entries] == [None, None, None]
    assert schema["components"]["schemas"]["Entry"]["properties"]["median_rank"]["nullable"] is True
