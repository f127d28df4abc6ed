"""The demo challenge: synthetic ISLES'24 data, a predictions phase, an algorithm phase, three users of it
and a site admin.

The demo organizer is no superuser: they run the challenge from its organizer pages, and may create
challenges (``challenges.add_challenge``, which a site admin grants). The Django admin at ``/admin/`` is
the site admin's (``siteadmin``), who holds no role in any challenge.

``demo_setup`` is what ``manage.py demo`` (and so ``make demo``) builds before it starts the servers. It
is safe to run again: releases already written are reused, the import is idempotent, rows are fetched
before they are created, and the demo users keep the passwords first given to them (kept, readable only
by the owner, in ``VAR_DIR/demo-credentials.json``, so every run prints the same ones).
"""

import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from portal.accounts.models import ChallengeRole, Team, TeamMembership, User
from portal.accounts.services import challenge_role_grant, email_address_mark_verified
from portal.algorithms.models import AlgorithmSettings
from portal.annotations.models import AnnotationCampaign
from portal.annotations.services import annotation_campaign_demo_create
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import CaseAttributeTable, DataCard, Dataset
from portal.datasets.services import case_attribute_table_upload, data_terms_accept, isles24_import
from portal.demo.baseline import (
    BASELINE_TEAM_NAME,
    BASELINE_USERNAME,
    BASELINE_VARIANTS,
    DemoBaseline,
    demo_baseline_register,
    demo_baseline_variant_register,
)
from portal.demo.predictions import demo_predictions_write
from portal.leaderboards.ensembles import ensemble_create
from portal.leaderboards.models import Ensemble
from portal.organizers.services import ensemble_validate
from portal.readerstudies.models import ReaderStudy
from portal.readerstudies.services import readerstudy_demo_create
from portal.submissions.models import Submission
from releases.synthetic import write_release

DEMO_CHALLENGE_SLUG = "isles24-demo"
DEMO_FINAL_PHASE_SLUG = "isles24-demo-final"
DEMO_TEAM_NAME = "Demo team"

# (split, cases, seed, first subject number): the hidden test subjects follow the training ones, as in
# the real release, where test subjects were numbered after the public ones.
DEMO_RELEASES = (
    (Split.TRAIN, 8, 2024, 1),
    (Split.TEST, 4, 2025, 201),
)

DEMO_VALIDATION_PHASE_SLUG = "isles24-demo-external"
DEMO_VALIDATION_RELEASE = (Split.TEST, 2, 2026, 401)
"""A second synthetic centre, as small as a release can usefully be: the external-validation phase's cases
(subjects numbered after the challenge's)."""

DEMO_USERS = (
    ("organizer", ChallengeRole.Role.ORGANIZER),
    ("participant", ChallengeRole.Role.PARTICIPANT),
    ("reader", ChallengeRole.Role.READER),
)
SITE_ADMIN_USERNAME = "siteadmin"
DEMO_CENTRES = ("TUM", "Zurich")
"""The demo's cases alternate between ISLES'24's two centres, so that its results split by centre."""


@dataclass(frozen=True)
class DemoUser:
    """A demo account as printed to the person who started the demo."""

    username: str
    role: str
    password: str
    api_token: str


@dataclass(frozen=True)
class DemoSiteAdmin:
    """The demo's administrator of the portal, for ``/admin/`` only."""

    username: str
    password: str


@dataclass(frozen=True)
class Demo:
    """What ``demo_setup`` built."""

    challenge: Challenge
    users: tuple[DemoUser, ...]
    site_admin: DemoSiteAdmin
    data_dir: Path
    cases_per_split: dict[str, int]
    predictions_archive: Path
    baseline: DemoBaseline
    campaign: AnnotationCampaign


def demo_release_write(*, data_dir: Path, split: str, cases: int, seed: int, first_subject: int) -> Path:
    """Write one synthetic release under ``data_dir/<split>`` unless a complete one is already there.

    The release is written into a temporary folder and renamed when complete, so an interrupted run
    leaves no half-written release behind to be imported.
    """
    release = data_dir / split.lower()
    if release.is_dir():
        return release
    partial = data_dir / f".{split.lower()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    write_release(partial, cases=cases, seed=seed, size="small", first_subject=first_subject)
    partial.rename(release)
    return release


def _demo_passwords(*, credentials_file: Path) -> dict[str, str]:
    """Return the demo users' passwords, generating and saving any that are not saved yet."""
    saved = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    usernames = [*(username for username, _ in DEMO_USERS), SITE_ADMIN_USERNAME]
    passwords = {username: saved.get(username) or secrets.token_urlsafe(12) for username in usernames}
    if passwords != saved:
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(json.dumps(passwords, indent=2))
        credentials_file.chmod(0o600)
    return passwords


def _demo_member(*, challenge: Challenge, username: str, role: str, team_name: str | None) -> User:
    """The demo account ``username`` with ``role`` in the challenge (in the team ``team_name``, if given).

    A new account has no usable password until one is set.
    """
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@demo.isles-portal.invalid"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        # The demo's addresses are invalid on purpose (no mail reaches them), so nobody could confirm one.
        email_address_mark_verified(user=user)
    challenge_role_grant(user=user, challenge=challenge, role=role)
    if team_name is not None:
        team, _ = Team.objects.get_or_create(challenge=challenge, name=team_name, defaults={"captain": user})
        TeamMembership.objects.get_or_create(challenge=challenge, user=user, defaults={"team": team})
    return user


def _demo_user(*, challenge: Challenge, username: str, role: str, password: str) -> DemoUser:
    team_name = DEMO_TEAM_NAME if role == ChallengeRole.Role.PARTICIPANT else None
    user = _demo_member(challenge=challenge, username=username, role=role, team_name=team_name)
    if not user.check_password(password):
        user.set_password(password)
    # No demo user of the challenge administers the portal (a demo made before this change made the
    # organizer a superuser): the organizer runs the challenge from its organizer pages.
    user.is_staff = user.is_superuser = False
    user.save()
    if role == ChallengeRole.Role.ORGANIZER:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="challenges", codename="add_challenge")
        )
    token, _ = Token.objects.get_or_create(user=user)
    return DemoUser(username=username, role=role, password=password, api_token=token.key)


def _demo_site_admin(*, password: str) -> DemoSiteAdmin:
    """The superuser who opens ``/admin/``: no role in any challenge, no API token."""
    user, created = User.objects.get_or_create(
        username=SITE_ADMIN_USERNAME, defaults={"email": f"{SITE_ADMIN_USERNAME}@demo.isles-portal.invalid"}
    )
    if created:
        email_address_mark_verified(user=user)
    if not user.check_password(password):
        user.set_password(password)
    user.is_staff = user.is_superuser = True
    user.save()
    return DemoSiteAdmin(username=SITE_ADMIN_USERNAME, password=password)


def _demo_phases(*, challenge: Challenge, dataset: Dataset) -> None:
    opens_at = timezone.now() - timedelta(days=1)
    phases = (
        (
            "isles24-demo-preliminary",
            "Preliminary: predicted masks",
            Phase.SubmissionKind.PREDICTIONS,
            "Upload a zip of predicted lesion masks, one per hidden test case, named by case id.",
        ),
        (
            DEMO_FINAL_PHASE_SLUG,
            "Final: algorithm container",
            Phase.SubmissionKind.ALGORITHM,
            "Upload your algorithm as a container image; it runs on the hidden test cases.",
        ),
    )
    for order, (slug, title, kind, description) in enumerate(phases):
        phase, _ = Phase.objects.get_or_create(
            slug=slug,
            defaults={
                "challenge": challenge,
                "title": title,
                "description": description,
                "order": order,
                "submission_kind": kind,
                "opens_at": opens_at,
                "closes_at": opens_at + timedelta(days=90),
                "dataset": dataset,
                "split": Split.TEST,
                "metric_profile": Phase.MetricProfile.ISLES24,
            },
        )
        if kind == Phase.SubmissionKind.ALGORITHM:
            # Participants read their own jobs' logs in the demo, the sanity case's first of all.
            AlgorithmSettings.objects.get_or_create(
                phase=phase, defaults={"logs_visible_to_participants": True}
            )


def _demo_case_attributes(*, dataset: Dataset, organizer: User) -> None:
    """Give the demo's cases a centre through the organizer's table upload, once."""
    if dataset.attribute_tables.filter(status=CaseAttributeTable.Status.APPLIED).exists():
        return
    names = dataset.cases.order_by("name").values_list("name", flat=True)
    lines = ["case,centre", *(f"{name},{DEMO_CENTRES[n % 2]}" for n, name in enumerate(names))]
    case_attribute_table_upload(
        dataset=dataset,
        content=ContentFile("\n".join(lines).encode()),
        original_name="demo-centres.csv",
        uploaded_by=organizer,
    )


def _demo_validation_phase(*, challenge: Challenge, dataset: Dataset) -> None:
    """The external-validation phase on the second centre's cases: it takes no submissions; the organizer
    re-runs the demo's algorithms and its ensemble there."""
    phase, _ = Phase.objects.get_or_create(
        slug=DEMO_VALIDATION_PHASE_SLUG,
        defaults={
            "challenge": challenge,
            "title": "External validation: a second centre",
            "description": "A second centre's (synthetic) cases: the organizers re-run algorithms here.",
            "order": 2,
            "submission_kind": Phase.SubmissionKind.ALGORITHM,
            "opens_at": timezone.now() - timedelta(days=1),
            "closes_at": timezone.now() + timedelta(days=89),
            "dataset": dataset,
            "split": Split.TEST,
            "metric_profile": Phase.MetricProfile.ISLES24,
            "is_validation": True,
        },
    )
    AlgorithmSettings.objects.get_or_create(phase=phase)


def demo_setup(*, var_dir: Path, say: Callable[[str], object] = print) -> Demo:
    """Build (or find) the demo challenge with its data, phases and users; return what it holds.

    Needs a migrated database. Leaves synthetic releases under ``var_dir/demo-data/{train,test}``, the
    cases imported into the challenge's dataset, two open phases scored on the hidden test split, and
    an organizer, a participant (in a team) and an expert reader, each with an API token, an example
    predictions archive for the preliminary phase (``var_dir/demo-data/demo-predictions.zip``) and the
    ``threshold`` reference algorithm submitted to the final phase as a baseline team (see
    ``portal.demo.baseline``), and an annotation campaign in which the reader and the organizer correct
    that algorithm's pre-annotation of two hidden test cases; the cases alternate between two centres
    (``DEMO_CENTRES``), from a table of case attributes the organizer uploaded. A second, smaller synthetic
    release (``var_dir/demo-data/external/test``) is an external-validation phase's dataset, and the
    baseline team accepts the data-use terms with consent to re-runs there.
    """
    data_dir = var_dir / "demo-data"
    releases = {
        split: demo_release_write(
            data_dir=data_dir, split=split, cases=cases, seed=seed, first_subject=first_subject
        )
        for split, cases, seed, first_subject in DEMO_RELEASES
    }
    split, cases, seed, first_subject = DEMO_VALIDATION_RELEASE
    external_release = demo_release_write(
        data_dir=data_dir / "external", split=split, cases=cases, seed=seed, first_subject=first_subject
    )
    passwords = _demo_passwords(credentials_file=var_dir / "demo-credentials.json")
    with transaction.atomic():
        challenge, _ = Challenge.objects.get_or_create(
            slug=DEMO_CHALLENGE_SLUG,
            defaults={
                "title": "ISLES'24 demo: final infarct from acute CT",
                "summary": "Predict the follow-up infarct from acute NCCT, CTA and CT perfusion (synthetic).",
                "description": (
                    "A demo of the ISLES 2024 task on synthetic head phantoms in the real release layout.\n\n"
                    "Training cases are public; test cases are hidden. Submissions are scored with the "
                    "ISLES'24 metrics: Dice, absolute volume difference, lesion count difference and "
                    "lesion-wise F1."
                ),
                "is_public": True,
            },
        )
        dataset, _ = Dataset.objects.get_or_create(
            challenge=challenge, slug="isles24", defaults={"title": "ISLES'24 (synthetic)"}
        )
        DataCard.objects.get_or_create(
            challenge=challenge,
            defaults={
                "licence": "CC0 1.0 (synthetic head phantoms made by releases.synthetic; no patient data)",
                "citation": "Cite the ISLES 2024 challenge papers for the task; this data is the demo's own.",
                "terms": (
                    "Use the data to take part in this demo challenge. Do not try to match cases to people "
                    "(there are none: the data is synthetic). The organizers may run your team's algorithm "
                    "again on validation data if you consent below."
                ),
            },
        )
        for split, release in releases.items():
            isles24_import(dataset=dataset, root=release, split=split)
        _demo_phases(challenge=challenge, dataset=dataset)
        external, _ = Dataset.objects.get_or_create(
            challenge=challenge, slug="isles24-external", defaults={"title": "A second centre (synthetic)"}
        )
        isles24_import(dataset=external, root=external_release, split=split)
        _demo_validation_phase(challenge=challenge, dataset=external)
        users = tuple(
            _demo_user(challenge=challenge, username=username, role=role, password=passwords[username])
            for username, role in DEMO_USERS
        )
        site_admin = _demo_site_admin(password=passwords[SITE_ADMIN_USERNAME])
        baseline_team_member = _demo_member(
            challenge=challenge,
            username=BASELINE_USERNAME,
            role=ChallengeRole.Role.PARTICIPANT,
            team_name=BASELINE_TEAM_NAME,
        )
        data_terms_accept(user=baseline_team_member, challenge=challenge, consents_to_reruns=True)
        people = User.objects.in_bulk(["organizer", "reader"], field_name="username")
        _demo_case_attributes(dataset=dataset, organizer=people["organizer"])
        # On hidden test cases, so that the phases re-scored on a promoted consensus change their scores.
        campaign = annotation_campaign_demo_create(
            challenge=challenge,
            organizer=people["organizer"],
            annotators=[people["reader"]],
            split=Split.TEST,
        )
    cases_per_split = {split: dataset.cases.filter(split=split).count() for split in releases}
    predictions_archive = demo_predictions_write(dataset=dataset, data_dir=data_dir)
    baseline = demo_baseline_register(
        phase=Phase.objects.get(slug=DEMO_FINAL_PHASE_SLUG), user=baseline_team_member, say=say
    )
    return Demo(
        challenge=challenge,
        users=users,
        site_admin=site_admin,
        data_dir=data_dir,
        cases_per_split=cases_per_split,
        predictions_archive=predictions_archive,
        baseline=baseline,
        campaign=campaign,
    )


# The demo study's design, as an organizer would set it, so that a first reader meets every part of it:
# instructions before the first item, and catch trials (its four hidden test cases make four comparisons
# of eight masks: two masks shown on both sides, two comparisons shown again later).
DEMO_READING_INSTRUCTIONS = """## Reading protocol

Each item shows two lesion masks, **A** (left) and **B** (right), over the same acute non-contrast CT.
Both outline the **final infarct**: the tissue found dead on the follow-up MRI 2 to 9 days later, moved
into the CT's space. One may be a neuroradiologist's, the other an algorithm's; you are not told which,
and the sides change at random from item to item.

For each item:

1. Look through the whole lesion, not one slice: the arrow keys move through the slices, **V** changes
   the view. **W** changes the CT window: the stroke window (32/8) shows early hypodensity best.
2. **Space** shows A and B in turn in one pane (**Esc** puts them side by side again).
3. Choose the mask you would sign off as the final infarct: **1** for A, **2** for B, **0** when they
   are equally good or equally poor. Judge the extent and the borders, not how smooth a mask looks.
4. If you wish, rate each mask from 1 (poor) to 5 (excellent) and say in a comment what decided it.
5. **Enter** records your answer and shows the next item.

A few items check how the reading goes: answer every item as you would any other. There is no time
limit, but take the time a case needs: answers given in under 2 seconds are flagged. You can reopen this
page from the reading page at any time; your place is kept.
"""
DEMO_SAME_MASK_TRIALS = 2
DEMO_REPEATED_PAIRS = 2


class DemoBaselineFailed(Exception):
    """The demo's baseline submission ended without succeeding, so there is no study to make of it."""

    def __init__(self, submission: Submission) -> None:
        self.submission_id = submission.pk
        reason = submission.error or "no reason was recorded"
        super().__init__(
            f"The baseline submission {submission.pk} ended {submission.get_status_display().lower()} "
            f"({reason}), so the demo has no reader study."
        )


def demo_study_create(*, demo: Demo) -> ReaderStudy | None:
    """The demo's blinded study of the baseline against the reference masks, for the demo reader, once the
    baseline has succeeded (the worker runs it after the servers start); None until then or without one.
    Safe to call again: the study made first is returned. Raises ``DemoBaselineFailed`` once the baseline
    has failed or been cancelled."""
    if demo.baseline.submission is None:
        return None
    baseline = Submission.objects.get(pk=demo.baseline.submission.pk)
    if baseline.status in (Submission.Status.FAILED, Submission.Status.CANCELLED):
        raise DemoBaselineFailed(baseline)
    if baseline.status != Submission.Status.SUCCEEDED:
        return None
    people = User.objects.in_bulk(["organizer", "reader"], field_name="username")
    return readerstudy_demo_create(
        submission=baseline,
        organizer=people["organizer"],
        reader=people["reader"],
        instructions=DEMO_READING_INSTRUCTIONS,
        same_mask_trials=DEMO_SAME_MASK_TRIALS,
        repeated_pairs=DEMO_REPEATED_PAIRS,
    )


def demo_ensemble_members_register(*, demo: Demo, say: Callable[[str], object]) -> tuple[DemoBaseline, ...]:
    """The baseline's variants (``BASELINE_VARIANTS``) submitted to the final phase, each by a team of its
    own, once; each without a submission (and with the baseline's note) when the baseline has none."""
    phase = Phase.objects.get(slug=DEMO_FINAL_PHASE_SLUG)
    variants = []
    for variant in BASELINE_VARIANTS:
        with transaction.atomic():
            member = _demo_member(
                challenge=demo.challenge,
                username=variant.username,
                role=ChallengeRole.Role.PARTICIPANT,
                team_name=variant.team_name,
            )
            data_terms_accept(user=member, challenge=demo.challenge, consents_to_reruns=True)
        variants.append(
            demo_baseline_variant_register(
                phase=phase, user=member, variant=variant, baseline=demo.baseline, say=say
            )
        )
    return tuple(variants)


class DemoEnsembleImpossible(Exception):
    """Fewer than two of the demo's baselines succeeded, so there is nothing to combine."""


_ENDED = (Submission.Status.SUCCEEDED, Submission.Status.FAILED, Submission.Status.CANCELLED)


def demo_ensemble_create(*, demo: Demo, variants: tuple[DemoBaseline, ...]) -> Ensemble | None:
    """The organizer's majority vote of the baseline and its ``variants`` on the final phase, as DeepISLES
    combined three algorithms, once every one of them has ended; None until then. Safe to call again: the
    ensemble made first is returned. ``DemoEnsembleImpossible`` when fewer than two succeeded."""
    submitted = [baseline.submission.pk for baseline in (demo.baseline, *variants) if baseline.submission]
    statuses = dict(Submission.objects.filter(pk__in=submitted).values_list("pk", "status"))
    if any(status not in _ENDED for status in statuses.values()):
        return None
    succeeded = sorted(pk for pk, status in statuses.items() if status == Submission.Status.SUCCEEDED)
    phase = Phase.objects.get(slug=DEMO_FINAL_PHASE_SLUG)
    organizer = User.objects.get(username="organizer")
    existing = Ensemble.objects.filter(submission__phase=phase, submission__creator=organizer).first()
    if existing is not None:
        return existing
    if len(succeeded) < 2:
        raise DemoEnsembleImpossible(
            f"{len(succeeded)} of the demo's {len(submitted)} baselines succeeded, so there is no ensemble "
            "to build; the organizer can build one from the leaderboard once two algorithms have run."
        )
    return ensemble_create(phase=phase, user=organizer, members=succeeded, rule=Ensemble.Rule.MAJORITY_VOTE)


def demo_ensemble_validate(*, ensemble: Ensemble) -> Ensemble:
    """The organizer's validation of the demo's ensemble on the external-validation phase, in one step
    (``ensemble_validate``: its members re-run on the second centre's cases, the majority vote of the
    re-runs built once they have ended). Safe to call again: the validation made first is returned.
    ``PortalError`` with its sentence when it cannot be made."""
    phase = Phase.objects.get(slug=DEMO_VALIDATION_PHASE_SLUG)
    organizer = User.objects.get(username="organizer")
    existing = Ensemble.objects.filter(submission__phase=phase, submission__creator=organizer).first()
    if existing is not None:
        return existing
    return ensemble_validate(ensemble=ensemble, phase=phase, user=organizer)
