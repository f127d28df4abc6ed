"""Results scored before lesion counts were stored: the biomarkers page shows their counts as "not stored"
and offers organizers to score them again; the re-scoring step reads only those cases again and stores
their counts, as a result scored today holds them."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from evaluation.profiles import PREDICTED_LESION_COUNT, REFERENCE_LESION_COUNT
from portal.accounts.models import ChallengeRole, User
from portal.submissions.models import CaseResult, Rescoring, Submission
from portal.submissions.services import submission_create
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.submissions.conftest import OpenPhase


@pytest.fixture
def organizer(open_phase: OpenPhase) -> User:
    return ChallengeRoleFactory(
        challenge=open_phase.phase.challenge, role=ChallengeRole.Role.ORGANIZER, user__username="organizer"
    ).user


def _scored_before_counts(
    open_phase: OpenPhase, capture: DjangoCaptureOnCommitCallbacks
) -> tuple[CaseResult, dict[str, Any], CaseResult]:
    """A scored submission, on the leaderboard, whose first case's result lacks its lesion counts, as one
    scored before they were stored; that result, the metrics it had, and the second case's complete
    result."""
    with capture(execute=True):
        submission = submission_create(
            phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
        )
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SUCCEEDED
    old, complete = CaseResult.objects.filter(submission=submission).order_by("case__name")
    today = dict(old.metrics)
    CaseResult.objects.filter(pk=old.pk).update(
        metrics={
            key: value
            for key, value in today.items()
            if key not in (PREDICTED_LESION_COUNT, REFERENCE_LESION_COUNT)
        }
    )
    return old, today, complete


def test_an_organizer_has_the_results_without_lesion_counts_scored_again(
    open_phase: OpenPhase,
    organizer: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    old, today, complete = _scored_before_counts(open_phase, django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(organizer)
    biomarkers = reverse("leaderboard-biomarkers", args=[open_phase.phase.slug])
    page = " ".join(client.get(biomarkers).text.split())
    assert ">not stored</td>" in page
    assert "1 case result of this phase was scored before lesion counts were stored." in page
    rescore = reverse("leaderboard-results-complete", args=[open_phase.phase.slug])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(rescore)

    assert response.status_code == 302
    assert Rescoring.objects.get().status == Rescoring.Status.SUCCEEDED
    old.refresh_from_db()
    assert old.metrics == today
    assert CaseResult.objects.get(pk=complete.pk).metrics == complete.metrics
    page = " ".join(client.get(biomarkers).text.split())
    assert "not stored</td>" not in page
    assert 'id="results-complete"' not in page
    refused = client.post(rescore)
    assert refused.status_code == 400
    assert (
        f"Every scored result of {open_phase.phase.title} holds its lesion volumes and counts; there is "
        "nothing to score again."
    ) in refused.text


def test_only_an_organizer_has_results_scored_again(
    open_phase: OpenPhase,
    organizer: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    _scored_before_counts(open_phase, django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(open_phase.participant)

    response = client.post(reverse("leaderboard-results-complete", args=[open_phase.phase.slug]))

    assert response.status_code == 403
    assert not Rescoring.objects.exists()
