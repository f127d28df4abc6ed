"""Clinical biomarkers of a phase: per-case lesion volumes and counts of each submission and of the
reference, their agreement with the reference and the volume's clinical correlations beside the
reference's, on the page, in the API and in the organizers' export; the same numbers as evaluation's
functions, scipy and pingouin give on the same per-case values; an unranked ensemble among them (and in
the split by a case attribute); never to a participant of a hidden test phase."""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pingouin
import pytest
from django.test import Client
from django.urls import reverse
from scipy.stats import spearmanr

from evaluation.biomarkers import agreement_with_reference, correlations_beside_reference
from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Phase, Split
from portal.datasets.models import Case
from portal.leaderboards.models import Ensemble, LeaderboardSettings
from portal.leaderboards.services import leaderboard_rebuild
from portal.submissions.models import CaseResult, Submission
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, TeamMembershipFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory
from tests.portal.datasets.factories import CaseFactory
from tests.portal.leaderboards.conftest import ground_truth_recorded, succeeded_submission

pytestmark = pytest.mark.django_db

CASES = tuple(f"sub-stroke{n:04d}" for n in range(10))
NIHSS = "NIHSS at admission"
MRS = "mRS at 90 days"


@dataclass(frozen=True)
class Values:
    """One submitter's per-case lesion volumes (ml) and counts, by case name."""

    volumes_ml: dict[str, float]
    lesion_counts: dict[str, float]


@dataclass(frozen=True)
class BiomarkerWorld:
    phase: Phase
    organizer: User
    participant: User
    reference: Values
    submitted: dict[str, Values]
    """Alpha's, Beta's and the ensemble's."""
    ensemble: Ensemble
    nihss: dict[str, float]
    mrs: dict[str, float]

    def client(self, user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client


def _results(submission: Submission, cases: list[Case], reference: Values, values: Values) -> None:
    CaseResult.objects.bulk_create(
        CaseResult(
            submission=submission,
            case=case,
            metrics={
                "dice": 0.5,
                "absolute_volume_difference_ml": abs(
                    values.volumes_ml[case.name] - reference.volumes_ml[case.name]
                ),
                "absolute_lesion_count_difference": abs(
                    values.lesion_counts[case.name] - reference.lesion_counts[case.name]
                ),
                "lesion_f1": 0.5,
                "reference_volume_ml": reference.volumes_ml[case.name],
                "predicted_volume_ml": values.volumes_ml[case.name],
                "reference_lesion_count": reference.lesion_counts[case.name],
                "predicted_lesion_count": values.lesion_counts[case.name],
            },
        )
        for case in cases
    )


@pytest.fixture
def world() -> BiomarkerWorld:
    """Ten hidden test cases with NIHSS and 90-day mRS; teams Alpha and Beta with a scored submission each,
    ranked, and an organizer's scored ensemble left unranked."""
    rng = np.random.default_rng(7)
    challenge = ChallengeFactory(slug="isles24")
    phase = PhaseFactory(challenge=challenge, slug="final", title="Final", split=Split.TEST)
    LeaderboardSettings.objects.create(phase=phase, publication=LeaderboardSettings.Publication.AUTOMATIC)
    nihss = {name: float(rng.integers(1, 25)) for name in CASES}
    mrs = {name: float(rng.integers(0, 7)) for name in CASES}
    cases = [
        CaseFactory(
            dataset=phase.dataset,
            name=name,
            split=Split.TEST,
            admission_data={"demographic_baseline": {"nihss_admission": nihss[name]}},
            outcome_data={"outcome": {"mrs_90d": mrs[name]}},
        )
        for name in CASES
    ]
    reference = Values(
        volumes_ml={name: nihss[name] * 4.0 + float(rng.gamma(2.0, 10.0)) for name in CASES},
        lesion_counts={name: float(rng.integers(1, 5)) for name in CASES},
    )
    for case in cases:
        ground_truth_recorded(
            case=case, version=phase.ground_truth_version, lesion_volume_ml=reference.volumes_ml[case.name]
        )

    def noisy(scale: float, offset: float, spread: float) -> Values:
        return Values(
            volumes_ml={
                name: max(0.0, volume * scale + offset + float(rng.normal(0, spread)))
                for name, volume in reference.volumes_ml.items()
            },
            lesion_counts={
                name: max(0.0, count + float(rng.integers(-1, 2)))
                for name, count in reference.lesion_counts.items()
            },
        )

    submitted = {
        "Alpha": noisy(1.1, 0.0, 8.0),
        "Beta": noisy(0.8, 5.0, 20.0),
        "ensemble": noisy(1.0, 1.0, 4.0),
    }
    people = {}
    for name in ("Alpha", "Beta"):
        team = TeamFactory(challenge=challenge, name=name)
        member = ChallengeRoleFactory(challenge=challenge, role=ChallengeRole.Role.PARTICIPANT).user
        TeamMembershipFactory(team=team, user=member)
        people[name] = member
        _results(
            succeeded_submission(phase=phase, creator=member, team=team), cases, reference, submitted[name]
        )
    organizer = ChallengeRoleFactory(challenge=challenge, role=ChallengeRole.Role.ORGANIZER).user
    ensemble_submission = succeeded_submission(phase=phase, creator=organizer, team=None)
    ensemble_submission.kind = Submission.Kind.ENSEMBLE
    ensemble_submission.save(update_fields=["kind"])
    ensemble = Ensemble.objects.create(
        submission=ensemble_submission, build_status=Ensemble.BuildStatus.SUCCEEDED
    )
    _results(ensemble_submission, cases, reference, submitted["ensemble"])
    leaderboard_rebuild(phase=phase)
    return BiomarkerWorld(
        phase=phase,
        organizer=organizer,
        participant=people["Alpha"],
        reference=reference,
        submitted=submitted,
        ensemble=ensemble,
        nihss=nihss,
        mrs=mrs,
    )


def _pingouin_icc(reference: dict[str, float], measured: dict[str, float]) -> pd.Series:
    long = pd.DataFrame(
        [
            (case, rater, values[case])
            for case in CASES
            for rater, values in (("reference", reference), ("m", measured))
        ],
        columns=["case", "rater", "value"],
    )
    table = pingouin.intraclass_corr(long, targets="case", raters="rater", ratings="value")
    return table.set_index("Type").loc["ICC(A,1)"]


def _api(world: BiomarkerWorld, user: User | None) -> Any:
    return world.client(user).get(reverse("api:leaderboard-biomarkers", args=[world.phase.slug]))


def test_the_api_gives_what_evaluation_scipy_and_pingouin_compute_on_the_per_case_values(
    world: BiomarkerWorld,
) -> None:
    answer = _api(world, world.organizer)

    assert answer.status_code == 200
    body = answer.json()
    assert body["clinical_scores"] == [NIHSS, MRS]
    reference = body["reference"]
    assert {row["case"]: row["volume_ml"] for row in reference["cases"]} == world.reference.volumes_ml
    assert {row["case"]: row["lesion_count"] for row in reference["cases"]} == world.reference.lesion_counts
    ranked = {row["team"]: row for row in body["results"]}
    assert list(ranked)[:2] in (["Alpha", "Beta"], ["Beta", "Alpha"])
    assert [row["is_ensemble"] for row in body["results"]] == [False, False, True]
    assert body["results"][2]["rank"] is None

    reference_volumes = world.reference.volumes_ml
    for expected_rho, score in (
        (spearmanr([reference_volumes[c] for c in CASES], [world.nihss[c] for c in CASES]), NIHSS),
    ):
        assert reference["correlations"][score]["rho"] == pytest.approx(expected_rho.statistic, abs=1e-12)
    alpha = ranked["Alpha"]
    values = world.submitted["Alpha"]
    for key, measured, truth in (
        ("volume_agreement", values.volumes_ml, reference_volumes),
        ("lesion_count_agreement", values.lesion_counts, world.reference.lesion_counts),
    ):
        by_pingouin = _pingouin_icc(truth, measured)
        agreement = alpha[key]
        assert agreement["cases"] == len(CASES)
        assert agreement["icc"] == pytest.approx(by_pingouin["ICC"], abs=1e-9)
        assert agreement["icc_interval"] == pytest.approx(list(by_pingouin["CI95"]), abs=0.006)
        differences = np.array([measured[c] - truth[c] for c in CASES])
        assert agreement["bias"] == pytest.approx(differences.mean(), abs=1e-9)
        assert agreement["upper_limit"] == pytest.approx(differences.mean() + 1.96 * differences.std(ddof=1))
        computed = agreement_with_reference(truth, measured)
        assert computed.icc is not None
        assert computed.bland_altman is not None
        assert agreement["icc_interval"] == pytest.approx(list(computed.icc.interval), abs=1e-12)
        assert agreement["bias_interval"] == pytest.approx(
            list(computed.bland_altman.bias_interval), abs=1e-12
        )

    for score, by_case in ((NIHSS, world.nihss), (MRS, world.mrs)):
        scores = [by_case[c] for c in CASES]
        rho = spearmanr([values.volumes_ml[c] for c in CASES], scores).statistic
        reference_rho = spearmanr([reference_volumes[c] for c in CASES], scores).statistic
        beside = alpha["correlations"][score]
        assert beside["correlation"]["rho"] == pytest.approx(rho, abs=1e-12)
        assert beside["reference"]["rho"] == pytest.approx(reference_rho, abs=1e-12)
        assert beside["difference"] == pytest.approx(rho - reference_rho, abs=1e-12)
    together = correlations_beside_reference(
        reference_volumes, {"Alpha": values.volumes_ml}, {NIHSS: world.nihss}
    )
    computed = together["Alpha"][NIHSS]
    assert alpha["correlations"][NIHSS]["difference_interval"] == pytest.approx(
        list(computed.difference.interval), abs=1e-12
    )
    assert alpha["correlations"][NIHSS]["correlation"]["interval"] == pytest.approx(
        list(computed.correlation.interval), abs=1e-12
    )


def test_the_page_shows_the_reference_first_and_a_dot_plot_per_clinical_score(world: BiomarkerWorld) -> None:
    page = world.client(world.organizer).get(reverse("leaderboard-biomarkers", args=[world.phase.slug]))

    assert page.status_code == 200
    html = page.content.decode()
    agreement = agreement_with_reference(world.reference.volumes_ml, world.submitted["Alpha"].volumes_ml)
    assert agreement.icc is not None
    assert f"{agreement.icc.coefficient:.3f}" in html
    table = html[html.index('class="leaderboard biomarker-correlations"') :]
    assert (
        table.index("Reference annotation")
        < table.index("Alpha")
        < table.index(f"Ensemble (submission {world.ensemble.submission_id})")
    )
    assert html.count('class="plot correlation-plot"') == 2
    reference_rho = spearmanr(
        [world.reference.volumes_ml[c] for c in CASES], [world.nihss[c] for c in CASES]
    ).statistic
    assert f"{reference_rho:.3f}" in table
    assert html.count('class="case-row"') == 3 * len(CASES)


def test_an_unranked_ensemble_is_compared_in_the_biomarkers_and_in_the_split(world: BiomarkerWorld) -> None:
    client = world.client(world.organizer)
    name = f"Ensemble (submission {world.ensemble.submission_id})"

    biomarkers = _api(world, world.organizer).json()
    split = client.get(
        reverse("api:leaderboard-subgroups", args=[world.phase.slug]), {"attribute": "lesion_volume"}
    ).json()
    page = client.get(reverse("leaderboard-cases", args=[world.phase.slug]), {"split_by": "lesion_volume"})
    exported = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    reverse("api:leaderboard-export", args=[world.phase.slug, "subgroups", "csv"])
                ).content.decode()
            )
        )
    )

    ensemble_row = biomarkers["results"][-1]
    assert (ensemble_row["team"], ensemble_row["is_ensemble"], ensemble_row["rank"]) == (name, True, None)
    ensemble_split = [row for row in split["results"] if row["submission"] == world.ensemble.submission_id]
    assert len(ensemble_split) == 1
    assert ensemble_split[0]["rank"] is None
    assert ensemble_split[0]["is_ensemble"] is True
    assert sum(group["cases"] for group in ensemble_split[0]["subgroups"]) == len(CASES)
    assert f"<td>unranked</td><td>{name}</td>" in page.content.decode()
    assert {row["team"] for row in exported} == {"Alpha", "Beta", name}


def test_a_participant_of_a_hidden_test_phase_is_refused(world: BiomarkerWorld) -> None:
    participant = world.client(world.participant)
    page_url = reverse("leaderboard-biomarkers", args=[world.phase.slug])

    assert participant.get(page_url).status_code == 403
    refused = _api(world, world.participant)
    assert refused.status_code == 403
    assert (
        refused.json()["detail"] == "Per-case volumes and lesion counts of this phase are not shown to you."
    )
    export = reverse("api:leaderboard-export", args=[world.phase.slug, "biomarkers", "csv"])
    assert participant.get(export).status_code == 403
    assert world.client(None).get(page_url).status_code == 302
    assert _api(world, None).status_code == 401


def test_a_participant_sees_their_own_teams_biomarkers_without_unpublished_outcomes_on_training_cases(
    world: BiomarkerWorld,
) -> None:
    Case.objects.filter(dataset=world.phase.dataset).update(split=Split.TRAIN)
    world.phase.split = Split.TRAIN
    world.phase.save(update_fields=["split"])
    LeaderboardSettings.objects.filter(phase=world.phase).update(show_case_scores_to_participants=True)

    own = _api(world, world.participant).json()
    everything = _api(world, world.organizer).json()

    assert [row["team"] for row in own["results"]] == ["Alpha"]
    assert own["clinical_scores"] == [NIHSS]
    assert list(own["results"][0]["correlations"]) == [NIHSS]
    assert everything["clinical_scores"] == [NIHSS, MRS]
    page = world.client(world.participant).get(reverse("leaderboard-biomarkers", args=[world.phase.slug]))
    assert page.status_code == 200
    assert "Beta" not in page.content.decode()
    assert page.content.decode().count('class="plot correlation-plot"') == 1


def test_the_organizers_export_has_the_reference_first_and_every_compared_submission(
    world: BiomarkerWorld,
) -> None:
    client = world.client(world.organizer)

    answer = client.get(reverse("leaderboard-export", args=[world.phase.slug, "biomarkers", "csv"]))
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    document = client.get(
        reverse("api:leaderboard-export", args=[world.phase.slug, "biomarkers", "json"])
    ).json()

    assert answer.status_code == 200
    assert next(row["team"] for row in rows) == "Reference annotation"
    assert {row["team"] for row in rows[1:]} == {
        "Alpha",
        "Beta",
        f"Ensemble (submission {world.ensemble.submission_id})",
    }
    api = {row["team"]: row for row in _api(world, world.organizer).json()["results"]}
    alpha = next(row for row in document if row["team"] == "Alpha")
    assert alpha["volume_icc"] == pytest.approx(api["Alpha"]["volume_agreement"]["icc"], abs=1e-12)
    assert alpha["lesion_count_bias"] == pytest.approx(
        api["Alpha"]["lesion_count_agreement"]["bias"], abs=1e-12
    )
    assert alpha["mrs_90d_rho"] == pytest.approx(
        api["Alpha"]["correlations"][MRS]["correlation"]["rho"], abs=1e-12
    )
    assert alpha["mrs_90d_difference"] == pytest.approx(
        api["Alpha"]["correlations"][MRS]["difference"], abs=1e-12
    )
    assert document[0]["nihss_admission_rho"] == pytest.approx(
        _api(world, world.organizer).json()["reference"]["correlations"][NIHSS]["rho"], abs=1e-12
    )
    assert rows[0]["volume_icc"] == ""


def test_the_api_is_read_in_a_fixed_number_of_queries(
    world: BiomarkerWorld, django_assert_num_queries: Callable[..., Any]
) -> None:
    client = world.client(world.organizer)
    url = reverse("api:leaderboard-biomarkers", args=[world.phase.slug])
    client.get(url)  # the session and the user, read once

    # The session and user; the phase with the user's roles; the entries; the unranked ensembles; the
    # per-case results; the scores known at admission; the outcomes.
    with django_assert_num_queries(8):
        answer = client.get(url)

    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 3
