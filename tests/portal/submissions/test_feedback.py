"""What a participant is told of how their work is scored: a switch of the phase's ground truth (a notice
on the phase page, an e-mail to the challenge's participants, the leaderboard naming its version and
metric profile), and which submission the leaderboard counts (on the submission page and in its API)."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, User
from portal.datasets.models import GroundTruthVersion
from portal.datasets.services import ground_truth_version_create
from portal.leaderboards.models import LeaderboardSettings
from portal.leaderboards.services import leaderboard_settings_get
from portal.submissions.models import GroundTruthSwitch
from portal.submissions.publication import phase_counted_submission_sentence
from portal.submissions.services import phase_ground_truth_version_set, submission_create
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.submissions.conftest import OpenPhase, mask_bytes

Counted = LeaderboardSettings.CountedSubmission


@pytest.fixture
def organizer(open_phase: OpenPhase) -> User:
    return ChallengeRoleFactory(
        challenge=open_phase.phase.challenge, role=ChallengeRole.Role.ORGANIZER, user__username="organizer"
    ).user


@pytest.fixture
def version_2(open_phase: OpenPhase, organizer: User, tmp_path: Path) -> GroundTruthVersion:
    path = tmp_path / "mask.nii.gz"
    path.write_bytes(mask_bytes())
    return ground_truth_version_create(
        dataset=open_phase.phase.dataset,
        masks={open_phase.cases[0].name: path},
        note="Consensus",
        source=GroundTruthVersion.Source.CONSENSUS,
        created_by=organizer,
    )


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_switching_the_version_shows_a_notice_on_the_phase_page(
    open_phase: OpenPhase,
    organizer: User,
    version_2: GroundTruthVersion,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    url = reverse("phase-submissions", kwargs={"slug": open_phase.phase.slug})
    assert 'id="ground-truth-switch"' not in _logged_in(open_phase.participant).get(url).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version_2.number, user=organizer)

    switch = GroundTruthSwitch.objects.get()
    assert (switch.from_version, switch.to_version, switch.switched_by) == (1, 2, organizer)
    page = " ".join(_logged_in(open_phase.participant).get(url).content.decode().split())
    assert "switched this phase's ground truth from version 1 to version 2" in page
    assert switch.switched_at.strftime("%Y-%m-%d %H:%M") in page


def test_switching_the_version_emails_the_participants_of_that_challenge_only_after_the_commit(
    open_phase: OpenPhase,
    organizer: User,
    version_2: GroundTruthVersion,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    ChallengeRoleFactory(role=ChallengeRole.Role.PARTICIPANT, user__username="elsewhere")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        phase_ground_truth_version_set(phase=open_phase.phase, version=version_2.number, user=organizer)
    assert mail.outbox == []
    for callback in callbacks:  # type: ignore[attr-defined]  # the fixture yields the callbacks' list
        callback()

    assert sorted(address for message in mail.outbox for address in message.to) == [
        "loner@example.org",
        "participant@example.org",
        "teammate@example.org",
    ]
    assert all(len(message.to) == 1 for message in mail.outbox)
    assert "from version 1 to version 2" in mail.outbox[0].body


def test_the_admin_lists_the_switches_read_only(
    open_phase: OpenPhase,
    organizer: User,
    version_2: GroundTruthVersion,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version_2.number, user=organizer)
    switch = GroundTruthSwitch.objects.get()
    admin = _logged_in(UserFactory(username="admin", is_staff=True, is_superuser=True))
    url = f"/admin/submissions/groundtruthswitch/{switch.pk}/"

    listed = admin.get("/admin/submissions/groundtruthswitch/").content.decode()
    shown = admin.get(f"{url}change/").content.decode()

    row = " ".join(listed.partition('id="result_list"')[2].partition("</table>")[0].split())
    cells = [f">{open_phase.phase}<", ">1<", ">2<", ">organizer<"]
    assert all(cell in row for cell in cells), row
    assert f"{switch.switched_at:%Y}" in row
    assert 'name="_save"' not in shown
    assert admin.post(f"{url}change/", {"to_version": 1}).status_code == 403
    assert admin.get("/admin/submissions/groundtruthswitch/add/").status_code == 403
    assert admin.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    assert GroundTruthSwitch.objects.get().to_version == 2


def test_choosing_the_version_the_phase_has_tells_no_one(
    open_phase: OpenPhase,
    organizer: User,
    version_2: GroundTruthVersion,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version_2.number, user=organizer)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version_2.number, user=organizer)

    assert mail.outbox == []
    assert GroundTruthSwitch.objects.count() == 1


def test_the_leaderboard_names_its_ground_truth_version_and_metric_profile(
    open_phase: OpenPhase,
    organizer: User,
    version_2: GroundTruthVersion,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version_2.number, user=organizer)
    client = _logged_in(open_phase.participant)

    answer = client.get(reverse("api:leaderboard", kwargs={"phase_slug": open_phase.phase.slug})).json()
    page = client.get(reverse("leaderboard-detail", kwargs={"phase_slug": open_phase.phase.slug}))

    assert answer["ground_truth_version"] == 2
    assert answer["metric_profile"] == "isles24"
    assert answer["metric_profile_title"] == "ISLES'24: lesion F1 with one-to-one matching at IoU >= 0.2"
    assert answer["counted_submission"] == Counted.LATEST
    text = " ".join(page.content.decode().split())
    assert "Scored on ground-truth version 2 with the metric profile ISLES&#x27;24" in text
    assert "switched from version 1 to version 2" in text


@pytest.mark.parametrize(
    ("counted", "words"),
    [
        (Counted.SELECTED, "counts the submission your team selects as final"),
        (Counted.LATEST, "counts your team's latest scored submission"),
        (Counted.BEST, "counts your team's best-ranked submission"),
    ],
)
def test_the_submission_page_says_which_submission_the_leaderboard_counts(
    open_phase: OpenPhase, counted: str, words: str
) -> None:
    LeaderboardSettings.objects.filter(pk=leaderboard_settings_get(phase=open_phase.phase).pk).update(
        counted_submission=counted
    )
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )

    page = _logged_in(open_phase.teammate).get(reverse("submission-detail", kwargs={"pk": submission.pk}))

    assert words in phase_counted_submission_sentence(phase=open_phase.phase)
    assert words.replace("'", "&#x27;") in page.content.decode()


def test_the_submission_api_says_which_submission_the_leaderboard_counts_and_its_etag_follows(
    open_phase: OpenPhase,
) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    client = _logged_in(open_phase.teammate)
    url = reverse("api:submission-detail", kwargs={"pk": submission.pk})
    first = client.get(url)
    settings = leaderboard_settings_get(phase=open_phase.phase)
    LeaderboardSettings.objects.filter(pk=settings.pk).update(counted_submission=Counted.BEST)

    second = client.get(url, headers={"if-none-match": first["ETag"]})

    assert "counts your team's latest scored submission" in first.json()["counted_submission_sentence"]
    assert second.status_code == 200
    assert second.json()["counted_submission_sentence"] == phase_counted_submission_sentence(
        phase=open_phase.phase
    )
    assert "counts your team's best-ranked submission" in second.json()["counted_submission_sentence"]
