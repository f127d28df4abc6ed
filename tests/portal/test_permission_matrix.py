"""Who gets what from every URL of the portal: a permission matrix over the whole URL conf.

Every route ``get_resolver()`` knows (the admin's, the API router's with its format suffixes, the schema
and its documentation pages) has an entry: the URLs tried, filled from one world (``matrix_world``),
the method, and the answer each person gets. A route without an entry fails
``test_every_route_has_an_entry``, naming it; an entry for a route that is gone fails it too.

The rule the entries follow:
- an object a person may not know of answers 404: another team's submission, a study they do not read,
  a hidden case, a hidden challenge;
- one they know of but may not act on answers 403: their own submission's organizer-only actions, the
  per-case scores of a hidden test phase, the organizer pages of a study they read, the forms that make
  a study or a campaign of a challenge they see;
- an anonymous visitor of a page is sent to log in, of the API gets 401 (the reader's blinded files,
  named by tokens only, answer 404 to anyone but their reader);
- a refusal by a rule the person can satisfy (join the challenge first) is a 400, or the form again.
Every POST and PUT is tried with a body the service takes from someone allowed, in a transaction rolled
back after each request, so that every request meets the same world. Answers are also read: where a row
``hides`` something, a 200 must not name it (a team the person is not in, by its name or its submission
ids; a hidden case; a hidden case's log); where it ``shows_own_team``, a team member's 200 must name it.

Admin routes follow one rule, ``admin_tries``, applied to each of them: only staff get in, and a staff
user without permissions sees nothing of the challenge's data (403 on every model page, as Django does).
"""

import io
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from portal.submissions.models import Submission
from releases.synthetic import write_release
from tests.portal.matrix_world import (
    HIDDEN_LOG,
    PEOPLE,
    TRAIN_CASES,
    World,
    mask_bytes,
    predictions_zip,
    world_build,
)

LOGIN = "login"
"""302 to the login page, which comes back here."""
ADMIN_LOGIN = "admin login"
"""302 to the admin's login page."""
OPEN = "200 or 503"
"""The health check: open to all; its status is that of the services, not of the person."""
Outcome = int | str
Body = Callable[[World], object] | Mapping[str, object] | bytes | None


@dataclass(frozen=True)
class Hides:
    """What an answer must not name to the people it reaches (organizers see everything)."""

    other_teams: bool = False
    """A team the person is not in: its name, its submissions' ids."""
    hidden_cases: bool = False
    """A hidden test case's name."""
    hidden_logs: bool = False
    """What a job printed on a hidden case."""


NOTHING = Hides()
TEAMS = Hides(other_teams=True)
HIDDEN = Hides(hidden_cases=True)
LOGS = Hides(other_teams=True, hidden_logs=True)


@dataclass(frozen=True)
class Try:
    """One request, and what each person of ``PEOPLE`` gets from it."""

    method: str
    url: str
    """With ``{name}`` for ``World.ids[name]``."""
    expected: tuple[Outcome, ...]
    body: Body = None
    json: bool = False
    """Send the body as JSON (else as a form, or as raw bytes when it is bytes)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    hides: Hides = NOTHING
    shows_own_team: bool = False
    """A team member's 200 names their team's submissions: the list is not merely empty."""


# Named as the methods are, so that the table reads as requests.
def GET(url: str, *expected: Outcome, hides: Hides = NOTHING, shows_own_team: bool = False) -> Try:
    return Try("GET", url, expected, hides=hides, shows_own_team=shows_own_team)


def POST(url: str, *expected: Outcome, body: Body = None, json: bool = False, hides: Hides = NOTHING) -> Try:
    return Try("POST", url, expected, body=body, json=json, hides=hides)


def PUT(url: str, *expected: Outcome, body: Body, headers: Mapping[str, str] | None = None) -> Try:
    return Try("PUT", url, expected, body=body, headers=headers or {})


def _predictions(world: World) -> dict[str, object]:
    """A valid archive of the training phase's masks."""
    return {"file": SimpleUploadedFile("predictions.zip", predictions_zip(TRAIN_CASES))}


def _promotion(world: World) -> dict[str, object]:
    reader = world.people["reader"]
    assert reader is not None
    return {"annotator": reader.pk, "note": "The reader's masks."}


def _mask(world: World) -> bytes:
    return mask_bytes()


def _reruns(world: World) -> dict[str, object]:
    """Team A's algorithm, re-run on the validation phase (its creator consented in the terms)."""
    return {"submissions": [world.ids["a_algorithm"]]}


def _rerun_form(world: World) -> dict[str, object]:
    return {"submissions": [str(world.ids["a_algorithm"])]}


def _ensemble_members(world: World) -> dict[str, object]:
    """The final phase's two algorithm submissions, fused by majority vote."""
    return {"members": [world.ids["a_algorithm"], world.ids["b_algorithm"]], "rule": "majority_vote"}


def _validation_phase(world: World) -> dict[str, object]:
    """The validation phase, to validate the organizer's ensemble on (both members' creators consented)."""
    return {"phase": world.ids["validation"]}


def _phase_version(world: World) -> dict[str, object]:
    return {"phase": world.ids["final_pk"], "version": 1}


def _captain_form(world: World) -> dict[str, object]:
    """Team A's captain, named as the team page's form names a member."""
    return {"member": world.ids["team_a_user"]}


def _captain_api(world: World) -> dict[str, object]:
    return {"user": world.ids["team_a_user"]}


CHALLENGE_FORM = {
    "title": "ISLES 2024",
    "slug": "isles24",
    "time_zone": "UTC",
    "visibility": "public",
    "licence": "CC BY-NC 4.0",
    "terms": "For research only.",
}
"""The challenge editor's form, valid for the world's challenge (whose data card it keeps)."""


def _release_folder_path() -> Path:
    """Where ``_release_folder`` writes its release: under the import root (the test settings': the
    temporary folder), one per process, so that runs side by side neither share nor remove each other's."""
    return Path(settings.ISLES_IMPORT_ROOT) / f"isles-permission-matrix-release-{os.getpid()}"


@pytest.fixture(scope="module", autouse=True)
def _release_folder_removed() -> Iterator[None]:
    """The release the import rows read is removed once the module's tests are done."""
    yield
    shutil.rmtree(_release_folder_path(), ignore_errors=True)


def _release_folder(world: World) -> dict[str, object]:
    """An import of a one-case synthetic release written under the import root, once per run."""
    folder = _release_folder_path()
    if not folder.is_dir():
        write_release(folder, cases=1, seed=5, size="small")
    return {"dataset": "release", "split": "TRAIN", "folder": str(folder)}


def _ground_truth_archive(world: World) -> dict[str, object]:
    """A new mask of a training case, as an archive for the dataset's next ground-truth version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{TRAIN_CASES[0]}.nii.gz", mask_bytes())
    archive_file = SimpleUploadedFile("masks.zip", buffer.getvalue())
    return {"dataset": world.ids["dataset_pk"], "archive": archive_file, "note": "Corrected."}


def _attribute_table_form(world: World) -> dict[str, object]:
    """A table of case attributes for the data page's form: the training case's centre."""
    table = SimpleUploadedFile("attributes.csv", f"case,centre\n{TRAIN_CASES[0]},TUM\n".encode())
    return {"dataset": world.ids["dataset_pk"], "table": table}


def _attribute_table_api(world: World) -> dict[str, object]:
    return {"file": SimpleUploadedFile("attributes.csv", f"case,centre\n{TRAIN_CASES[0]},TUM\n".encode())}


CHUNK = {"content-range": "bytes 0-9/1000"}
STOP = {"reason": "It hangs every worker."}

# Columns: anonymous, team_a, team_b, reader, staff (no role), organizer.
# fmt: off
MATRIX: dict[str, tuple[Try, ...]] = {
    # --- Accounts --------------------------------------------------------------------------------------
    "accounts/me/": (GET("/accounts/me/",                                  LOGIN, 200, 200, 200, 200, 200),),
    "accounts/me/token/": (POST("/accounts/me/token/",                     LOGIN, 302, 302, 302, 302, 302),),
    # django-allauth's pages: a logged-in person is sent on from the sign-up and login forms.
    "accounts/login/": (GET("/accounts/login/",                            200,   302, 302, 302, 302, 302),),
    "accounts/logout/": (POST("/accounts/logout/",                         302,   302, 302, 302, 302, 302),),
    "accounts/inactive/": (GET("/accounts/inactive/",                      200,   200, 200, 200, 200, 200),),
    "accounts/signup/": (GET("/accounts/signup/",                          200,   302, 302, 302, 302, 302),),
    "accounts/reauthenticate/": (GET("/accounts/reauthenticate/",          LOGIN, 200, 200, 200, 200, 200),),
    "accounts/reauthenticate/code/": (
        GET("/accounts/reauthenticate/code/",                              LOGIN, 200, 200, 200, 200, 200),),
    "accounts/reauthenticate/code/confirm/": (
        GET("/accounts/reauthenticate/code/confirm/",                      LOGIN, 302, 302, 302, 302, 302),),
    "accounts/email/": (GET("/accounts/email/",                            LOGIN, 200, 200, 200, 200, 200),),
    "accounts/confirm-email/": (GET("/accounts/confirm-email/",            200,   200, 200, 200, 200, 200),),
    "accounts/password/change/": (GET("/accounts/password/change/",        LOGIN, 200, 200, 200, 200, 200),),
    "accounts/password/set/": (GET("/accounts/password/set/",              LOGIN, 302, 302, 302, 302, 302),),
    "accounts/password/reset/": (GET("/accounts/password/reset/",          200,   200, 200, 200, 200, 200),),
    "accounts/login/code/confirm/": (GET("/accounts/login/code/confirm/",  302,   302, 302, 302, 302, 302),),
    r"accounts/confirm-email/(?P<key>[-:\w]+)/$": (
        GET("/accounts/confirm-email/not-a-key/",                          200,   200, 200, 200, 200, 200),),
    "accounts/password/reset/key/done/": (
        GET("/accounts/password/reset/key/done/",                          200,   200, 200, 200, 200, 200),),
    r"accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": (
        GET("/accounts/password/reset/key/1-not-a-key/",                   200,   200, 200, 200, 200, 200),),
    "accounts/password/reset/done/": (
        GET("/accounts/password/reset/done/",                              200,   200, 200, 200, 200, 200),),
    # --- Challenges: public ones to all, a hidden one to the people in it ------------------------------
    "": (GET("/",                                                          200,   200, 200, 200, 200, 200,
             hides=TEAMS),),
    "challenges/<slug>/": (
        GET("/challenges/{challenge}/",                                    200,   200, 200, 200, 200, 200),
        GET("/challenges/{hidden_challenge}/",                             404,   404, 404, 404, 404, 200),
    ),
    "challenges/<slug>/join/": (
        POST("/challenges/{challenge}/join/",                              LOGIN, 302, 302, 302, 302, 302),
        POST("/challenges/{hidden_challenge}/join/",                       LOGIN, 404, 404, 404, 404, 302),
    ),
    # --- Teams: one's own team; a refusal is a message on the team page --------------------------------
    "challenges/<slug>/team/": (
        GET("/challenges/{challenge}/team/",                               LOGIN, 200, 200, 200, 200, 200,
            hides=TEAMS, shows_own_team=True),
        GET("/challenges/{hidden_challenge}/team/",                        LOGIN, 404, 404, 404, 404, 200),
    ),
    "challenges/<slug>/team/create/": (
        POST("/challenges/{challenge}/team/create/",                       LOGIN, 302, 302, 302, 302, 302,
             body={"name": "Gamma Core Lab"}),
    ),
    "challenges/<slug>/team/invite/": (
        POST("/challenges/{challenge}/team/invite/",                       LOGIN, 302, 302, 302, 302, 302,
             body={"email": ""}),
    ),
    "challenges/<slug>/team/leave/": (
        POST("/challenges/{challenge}/team/leave/",                        LOGIN, 302, 302, 302, 302, 302),
    ),
    "challenges/<slug>/team/members/<user_id>/remove/": (
        POST("/challenges/{challenge}/team/members/{team_a_user}/remove/", LOGIN, 302, 302, 302, 302, 302),
    ),
    "challenges/<slug>/team/captain/": (
        POST("/challenges/{challenge}/team/captain/",                      LOGIN, 302, 302, 302, 302, 302,
             body=_captain_form),
    ),
    "challenges/<slug>/team/invitations/<token>/withdraw/": (
        POST("/challenges/{challenge}/team/invitations/{invitation}/withdraw/",
                                                                           LOGIN, 302, 404, 302, 302, 302),
    ),
    "challenges/<slug>/invitations/<token>/": (
        GET("/challenges/{challenge}/invitations/{invitation}/",           LOGIN, 200, 200, 200, 200, 200),
        GET("/challenges/{hidden_challenge}/invitations/{invitation}/",    LOGIN, 404, 404, 404, 404, 404),
        POST("/challenges/{challenge}/invitations/{invitation}/",          LOGIN, 302, 302, 302, 302, 302,
             body={"answer": "accept"}),
    ),
    # --- The phase editor: a challenge's organizers only; an empty form comes back with its sentences ---
    "challenges/<slug>/organize/new-phase/": (
        GET("/challenges/{challenge}/organize/new-phase/",                 LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/new-phase/",          LOGIN, 404, 404, 404, 404, 200),
        POST("/challenges/{challenge}/organize/new-phase/",                LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{other_challenge}/organize/new-phase/",           LOGIN, 403, 403, 403, 403, 403),
        POST("/challenges/{other_challenge}/organize/new-phase/",          LOGIN, 403, 403, 403, 403, 403),
    ),
    "challenges/<slug>/organize/phases/<phase_slug>/": (
        GET("/challenges/{challenge}/organize/phases/{training}/",         LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{challenge}/organize/phases/{final}/",            LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/phases/{training}/",  LOGIN, 404, 404, 404, 404, 404),
        POST("/challenges/{challenge}/organize/phases/{final}/",           LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{other_challenge}/organize/phases/{training}/",   LOGIN, 403, 403, 403, 403, 403),
        POST("/challenges/{other_challenge}/organize/phases/{training}/",  LOGIN, 403, 403, 403, 403, 403),
    ),
    # --- Organizer pages: a challenge's organizers only (403 to whoever sees the challenge, 404 to the
    # others); the organizer column organizes isles24 and the hidden challenge, not {other_challenge} ----
    "organize/new/": (
        GET("/organize/new/",                                              LOGIN, 403, 403, 403, 403, 200),
        POST("/organize/new/",                                             LOGIN, 403, 403, 403, 403, 302,
             body={**CHALLENGE_FORM, "slug": "isles-2027", "title": "ISLES 2027"}),
    ),
    "challenges/<slug>/organize/": (
        GET("/challenges/{challenge}/organize/",                           LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/",                    LOGIN, 404, 404, 404, 404, 200),
        GET("/challenges/{other_challenge}/organize/",                     LOGIN, 403, 403, 403, 403, 403),
    ),
    "challenges/<slug>/organize/edit/": (
        GET("/challenges/{challenge}/organize/edit/",                      LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/edit/",               LOGIN, 404, 404, 404, 404, 200),
        GET("/challenges/{other_challenge}/organize/edit/",                LOGIN, 403, 403, 403, 403, 403),
        POST("/challenges/{challenge}/organize/edit/",                     LOGIN, 403, 403, 403, 403, 302,
             body=CHALLENGE_FORM),
        POST("/challenges/{other_challenge}/organize/edit/",               LOGIN, 403, 403, 403, 403, 403,
             body={**CHALLENGE_FORM, "slug": "isles23"}),
    ),
    "challenges/<slug>/organize/people/": (
        GET("/challenges/{challenge}/organize/people/",                    LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/people/",             LOGIN, 404, 404, 404, 404, 200),
        GET("/challenges/{other_challenge}/organize/people/",              LOGIN, 403, 403, 403, 403, 403),
        POST("/challenges/{challenge}/organize/people/",                   LOGIN, 403, 403, 403, 403, 302,
             body={"username_or_email": "staff", "role": "READER"}),
        POST("/challenges/{other_challenge}/organize/people/",             LOGIN, 403, 403, 403, 403, 403,
             body={"username_or_email": "organizer", "role": "ORGANIZER"}),
    ),
    "challenges/<slug>/organize/people/<role_id>/remove/": (
        POST("/challenges/{challenge}/organize/people/{reader_role}/remove/",
                                                                           LOGIN, 403, 403, 403, 403, 302),
        POST("/challenges/{other_challenge}/organize/people/{other_organizer_role}/remove/",
                                                                           LOGIN, 403, 403, 403, 403, 403),
    ),
    # --- The participants page and its CSV export: a challenge's organizers only ----------------------
    "challenges/<slug>/organize/participants/": (
        GET("/challenges/{challenge}/organize/participants/",              LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/participants/",       LOGIN, 404, 404, 404, 404, 200),
        GET("/challenges/{other_challenge}/organize/participants/",        LOGIN, 403, 403, 403, 403, 403),
    ),
    "challenges/<slug>/organize/participants/export/": (
        GET("/challenges/{challenge}/organize/participants/export/",       LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/participants/export/",
                                                                           LOGIN, 404, 404, 404, 404, 200),
        GET("/challenges/{other_challenge}/organize/participants/export/", LOGIN, 403, 403, 403, 403, 403),
    ),
    "challenges/<slug>/organize/participants/requests/<request_id>/": (
        POST("/challenges/{challenge}/organize/participants/requests/{participation_request}/",
                                                                           LOGIN, 403, 403, 403, 403, 302,
             body={"decision": "approve", "reason": "Welcome."}),
        POST("/challenges/{hidden_challenge}/organize/participants/requests/{participation_request}/",
                                                                           LOGIN, 404, 404, 404, 404, 404,
             body={"decision": "approve"}),
        POST("/challenges/{other_challenge}/organize/participants/requests/{participation_request}/",
                                                                           LOGIN, 403, 403, 403, 403, 403,
             body={"decision": "approve"}),
    ),
    "challenges/<slug>/organize/announcements/": (
        GET("/challenges/{challenge}/organize/announcements/",             LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/announcements/",      LOGIN, 404, 404, 404, 404, 200),
        GET("/challenges/{other_challenge}/organize/announcements/",       LOGIN, 403, 403, 403, 403, 403),
        POST("/challenges/{challenge}/organize/announcements/",            LOGIN, 403, 403, 403, 403, 302,
             body={"title": "Office hours", "body": "Thursdays.", "send_by_email": "on"}),
        POST("/challenges/{other_challenge}/organize/announcements/",      LOGIN, 403, 403, 403, 403, 403,
             body={"title": "Office hours", "body": "Thursdays."}),
    ),
    # --- Datasets: training files to participants, hidden ones to organizers ---------------------------
    "datasets/images/<pk>/download/": (
        GET("/datasets/images/{train_image}/download/",                    LOGIN, 200, 200, 404, 404, 200),
        GET("/datasets/images/{test_image}/download/",                     LOGIN, 404, 404, 404, 404, 200),
    ),
    "datasets/images/<pk>/volume/": (
        GET("/datasets/images/{train_image}/volume/",                      LOGIN, 200, 200, 404, 404, 200),
        GET("/datasets/images/{test_image}/volume/",                       LOGIN, 404, 404, 404, 404, 200),
    ),
    "datasets/cases/<pk>/view/": (
        GET("/datasets/cases/{train_case}/view/",                          LOGIN, 200, 200, 404, 404, 200),
        GET("/datasets/cases/{test_case}/view/",                           LOGIN, 404, 404, 404, 404, 200),
    ),
    # --- The data card: public where the challenge is; participants accept its terms (a message) --------
    "datasets/<challenge_slug>/card/": (
        GET("/datasets/{challenge}/card/",                                 200,   200, 200, 200, 200, 200),
        GET("/datasets/{hidden_challenge}/card/",                          404,   404, 404, 404, 404, 200),
        POST("/datasets/{challenge}/card/",                                LOGIN, 302, 302, 302, 302, 302,
             body={"consents": "on"}),
        POST("/datasets/{hidden_challenge}/card/",                         404,   404, 404, 404, 404, 302),
    ),
    "datasets/<challenge_slug>/<dataset_slug>/<split>/": (
        GET("/datasets/{challenge}/{dataset}/train/",                      LOGIN, 200, 200, 403, 403, 200,
            hides=HIDDEN),
        GET("/datasets/{challenge}/{dataset}/test/",                       LOGIN, 403, 403, 403, 403, 200),
    ),
    "datasets/ground-truths/<pk>/download/": (
        GET("/datasets/ground-truths/{train_mask}/download/",              LOGIN, 200, 200, 404, 404, 200),
        GET("/datasets/ground-truths/{test_mask}/download/",               LOGIN, 404, 404, 404, 404, 200),
    ),
    "datasets/ground-truths/<pk>/volume/": (
        GET("/datasets/ground-truths/{train_mask}/volume/",                LOGIN, 200, 200, 404, 404, 200),
        GET("/datasets/ground-truths/{test_mask}/volume/",                 LOGIN, 404, 404, 404, 404, 200),
    ),
    # --- Submissions: a team's own; an organizer's actions ---------------------------------------------
    "submissions/phases/<slug>/": (
        GET("/submissions/phases/{training}/",                             LOGIN, 200, 200, 200, 200, 200,
            hides=TEAMS, shows_own_team=True),
        POST("/submissions/phases/{training}/",                            LOGIN, 302, 302, 200, 200, 200,
             body=_predictions),
    ),
    "submissions/<pk>/": (GET("/submissions/{a_predictions}/",             LOGIN, 200, 404, 404, 404, 200),),
    "submissions/<pk>/cancel/": (
        POST("/submissions/{a_pending}/cancel/",                           LOGIN, 302, 404, 404, 404, 302),
    ),
    "submissions/<pk>/requeue/": (
        POST("/submissions/{a_pending}/requeue/",                          LOGIN, 403, 404, 404, 404, 302),
    ),
    "submissions/<pk>/stop/": (
        POST("/submissions/{a_pending}/stop/",                             LOGIN, 403, 404, 404, 404, 302,
             body=STOP),
    ),
    "submissions/<pk>/select-final/": (
        POST("/submissions/{a_predictions}/select-final/",                 LOGIN, 302, 404, 404, 404, 403),
    ),
    "submissions/<pk>/review/": (
        GET("/submissions/{a_predictions}/review/",                        LOGIN, 200, 404, 404, 404, 200),
        GET("/submissions/{a_algorithm}/review/",                          LOGIN, 200, 404, 404, 404, 200,
            hides=HIDDEN),
    ),
    "submissions/<pk>/review/<case_pk>/": (
        GET("/submissions/{a_predictions}/review/{train_case}/",           LOGIN, 200, 404, 404, 404, 200),
        GET("/submissions/{a_algorithm}/review/{test_case}/",              LOGIN, 404, 404, 404, 404, 200),
    ),
    "submissions/<pk>/review/<case_pk>/overlap.nii.gz": (
        GET("/submissions/{a_predictions}/review/{train_case}/overlap.nii.gz",
                                                                           LOGIN, 200, 404, 404, 404, 200),
        GET("/submissions/{a_algorithm}/review/{test_case}/overlap.nii.gz",  LOGIN, 404, 404, 404, 404, 200),
    ),
    # --- The data page: a challenge's organizers import releases and upload ground truth ---------------
    "challenges/<slug>/organize/data/": (
        GET("/challenges/{challenge}/organize/data/",                      LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/data/",               LOGIN, 404, 404, 404, 404, 200),
        GET("/challenges/{other_challenge}/organize/data/",                LOGIN, 403, 403, 403, 403, 403),
        POST("/challenges/{other_challenge}/organize/data/",               LOGIN, 403, 403, 403, 403, 403,
             body=_release_folder),
        POST("/challenges/{challenge}/organize/data/",                     LOGIN, 403, 403, 403, 403, 302,
             body=_release_folder),
    ),
    "challenges/<slug>/organize/data/imports/<import_id>/": (
        GET("/challenges/{challenge}/organize/data/imports/{dataset_import}/",
                                                                           LOGIN, 403, 403, 403, 403, 200),
        GET("/challenges/{hidden_challenge}/organize/data/imports/{dataset_import}/",
                                                                           LOGIN, 404, 404, 404, 404, 404),
        GET("/challenges/{other_challenge}/organize/data/imports/{dataset_import}/",
                                                                           LOGIN, 403, 403, 403, 403, 403),
    ),
    "challenges/<slug>/organize/data/ground-truth/": (
        POST("/challenges/{challenge}/organize/data/ground-truth/",        LOGIN, 403, 403, 403, 403, 302,
             body=_ground_truth_archive),
        POST("/challenges/{other_challenge}/organize/data/ground-truth/",  LOGIN, 403, 403, 403, 403, 403,
             body=_ground_truth_archive),
    ),
    "challenges/<slug>/organize/ensembles/<ensemble_id>/validate/": (
        POST("/challenges/{challenge}/organize/ensembles/{ensemble}/validate/",
                                                                           LOGIN, 403, 403, 403, 403, 302,
             body=_validation_phase),
        POST("/challenges/{other_challenge}/organize/ensembles/{ensemble}/validate/",
                                                                           LOGIN, 403, 403, 403, 403, 403,
             body=_validation_phase),
    ),
    "challenges/<slug>/organize/data/case-attributes/": (
        POST("/challenges/{challenge}/organize/data/case-attributes/",     LOGIN, 403, 403, 403, 403, 302,
             body=_attribute_table_form),
        POST("/challenges/{other_challenge}/organize/data/case-attributes/",
                                                                           LOGIN, 403, 403, 403, 403, 403,
             body=_attribute_table_form),
    ),
    # --- Algorithms: the upload page, a submission's jobs (never the logs of hidden cases) --------------
    "algorithms/phases/<slug>/upload/": (
        GET("/algorithms/phases/{final}/upload/",                          LOGIN, 200, 200, 200, 200, 200),
    ),
    "algorithms/phases/<slug>/contract/": (
        GET("/algorithms/phases/{final}/contract/",                        LOGIN, 200, 200, 200, 200, 200,
            hides=HIDDEN),
        GET("/algorithms/phases/{training}/contract/",                     LOGIN, 404, 404, 404, 404, 404),
    ),
    "algorithms/phases/<slug>/validation/": (
        GET("/algorithms/phases/{validation}/validation/",                 LOGIN, 403, 403, 403, 403, 200),
        POST("/algorithms/phases/{validation}/validation/",                LOGIN, 403, 403, 403, 403, 302,
             body=_rerun_form),
        GET("/algorithms/phases/{final}/validation/",                      LOGIN, 404, 404, 404, 404, 404),
    ),
    "algorithms/submissions/<pk>/jobs/": (
        GET("/algorithms/submissions/{a_algorithm}/jobs/",                 LOGIN, 200, 404, 404, 404, 200,
            hides=LOGS),
    ),
    # --- Leaderboards: public once published; per-case scores of a hidden test phase to organizers ------
    "leaderboards/<phase_slug>/": (
        GET("/leaderboards/{training}/",                                   200,   200, 200, 200, 200, 200),
        GET("/leaderboards/{final}/",                                      200,   200, 200, 200, 200, 200),
        GET("/leaderboards/{unpublished}/",                                LOGIN, 403, 403, 403, 403, 200),
    ),
    "leaderboards/<phase_slug>/cases/": (
        GET("/leaderboards/{training}/cases/",                             LOGIN, 200, 200, 403, 403, 200,
            hides=TEAMS, shows_own_team=True),
        GET("/leaderboards/{final}/cases/",                                LOGIN, 403, 403, 403, 403, 200),
        GET("/leaderboards/{final}/cases/?split_by=lesion_volume",         LOGIN, 403, 403, 403, 403, 200),
    ),
    "leaderboards/<phase_slug>/biomarkers/": (
        GET("/leaderboards/{training}/biomarkers/",                        LOGIN, 200, 200, 403, 403, 200,
            hides=TEAMS, shows_own_team=True),
        GET("/leaderboards/{final}/biomarkers/",                           LOGIN, 403, 403, 403, 403, 200),
    ),
    # Results scored before lesion counts were stored are scored again at an organizer's request.
    "leaderboards/<phase_slug>/biomarkers/rescore/": (
        POST("/leaderboards/{final}/biomarkers/rescore/",                  LOGIN, 403, 403, 403, 403, 302),
    ),
    "leaderboards/<phase_slug>/submissions/<submission_id>/": (
        GET("/leaderboards/{training}/submissions/{a_predictions}/",       404,   200, 404, 404, 404, 200),
        GET("/leaderboards/{final}/submissions/{a_algorithm}/",            404,   403, 404, 404, 404, 200),
    ),
    "leaderboards/<phase_slug>/export/<table>.<file_format>": (
        GET("/leaderboards/{final}/export/cases.csv",                      LOGIN, 403, 403, 403, 403, 200),
        GET("/leaderboards/{final}/export/biomarkers.csv",                 LOGIN, 403, 403, 403, 403, 200),
    ),
    # Ensembles of submissions are the organizers' own: the phase is known, building on it is not theirs.
    "leaderboards/<phase_slug>/ensembles/new/": (
        GET("/leaderboards/{final}/ensembles/new/",                        LOGIN, 403, 403, 403, 403, 200),
        POST("/leaderboards/{final}/ensembles/new/",                       LOGIN, 403, 403, 403, 403, 302,
             body=_ensemble_members),
    ),
    "leaderboards/<phase_slug>/ensembles/<ensemble_id>/": (
        GET("/leaderboards/{final}/ensembles/{ensemble}/",                 LOGIN, 403, 403, 403, 403, 200),
        GET("/leaderboards/{training}/ensembles/{ensemble}/",              LOGIN, 403, 403, 403, 403, 404),
    ),
    "leaderboards/<phase_slug>/ensembles/<ensemble_id>/ranking/": (
        POST("/leaderboards/{final}/ensembles/{ensemble}/ranking/",        LOGIN, 403, 403, 403, 403, 302,
             body={"is_ranked": "on"}),
    ),
    "leaderboards/<phase_slug>/ensembles/<ensemble_id>/report/": (
        GET("/leaderboards/{final}/ensembles/{ensemble}/report/",          LOGIN, 403, 403, 403, 403, 200),
        GET("/leaderboards/{training}/ensembles/{ensemble}/report/",       LOGIN, 403, 403, 403, 403, 404),
    ),
    "leaderboards/<phase_slug>/ensembles/<ensemble_id>/report.html": (
        GET("/leaderboards/{final}/ensembles/{ensemble}/report.html",      LOGIN, 403, 403, 403, 403, 200),
        GET("/leaderboards/{training}/ensembles/{ensemble}/report.html",   LOGIN, 403, 403, 403, 403, 404),
    ),
    # --- Reader studies: organizers manage, the invited reader reads blinded files by tokens -----------
    "studies/": (GET("/studies/",                                          LOGIN, 200, 200, 200, 200, 200,
                     hides=TEAMS),),
    "studies/new/<challenge_slug>/": (
        GET("/studies/new/{challenge}/",                                   LOGIN, 403, 403, 403, 403, 200),
        POST("/studies/new/{challenge}/",                                  LOGIN, 403, 403, 403, 403, 200,
             hides=TEAMS),
        GET("/studies/new/{hidden_challenge}/",                            LOGIN, 404, 404, 404, 404, 200),
    ),
    "studies/<pk>/": (GET("/studies/{study}/",                             LOGIN, 404, 404, 403, 404, 200),),
    "studies/<pk>/readers/": (
        POST("/studies/{study}/readers/",                                  LOGIN, 404, 404, 403, 404, 302,
             body={"username": "reader"}),
    ),
    "studies/<pk>/design/": (
        POST("/studies/{study}/design/",                                   LOGIN, 404, 404, 403, 404, 302,
             body={"instructions": "Read each case.", "same_mask_trials": "0", "repeated_pairs": "0"}),
    ),
    "studies/<pk>/results/": (GET("/studies/{study}/results/",             LOGIN, 404, 404, 403, 404, 200),),
    "studies/<pk>/answers.csv": (GET("/studies/{study}/answers.csv",       LOGIN, 404, 404, 403, 404, 200),),
    "studies/<pk>/read/": (GET("/studies/{study}/read/",                   LOGIN, 404, 404, 200, 404, 404,
                               hides=TEAMS),),
    "studies/<pk>/instructions/": (
        GET("/studies/{study}/instructions/",                              LOGIN, 404, 404, 200, 404, 404,
            hides=TEAMS),
        POST("/studies/{study}/instructions/",                             LOGIN, 404, 404, 302, 404, 404),
    ),
    # The reader has not finished: sent back to the reading page.
    "studies/<pk>/finished/": (GET("/studies/{study}/finished/",           LOGIN, 404, 404, 302, 404, 404),),
    "studies/masks/<token>/": (GET("/studies/masks/{mask}/",               404,   404, 404, 200, 404, 404),),
    "studies/items/<token>/images/<index>/": (
        GET("/studies/items/{item}/images/0/",                             404,   404, 404, 200, 404, 404),
    ),
    # --- Annotation campaigns: organizers manage, the annotator draws ----------------------------------
    "studies/campaigns/new/<challenge_slug>/": (
        GET("/studies/campaigns/new/{challenge}/",                         LOGIN, 403, 403, 403, 403, 200),
    ),
    "studies/campaigns/<pk>/": (
        GET("/studies/campaigns/{campaign}/",                              LOGIN, 404, 404, 404, 404, 200),
    ),
    "studies/campaigns/<pk>/promote/": (
        POST("/studies/campaigns/{campaign}/promote/",                     LOGIN, 404, 404, 404, 404, 302,
             body=_promotion),
    ),
    # A case's consensus in the viewer and its file: the world's campaign has no finished masks, so no
    # consensus yet (404 to the organizer too; tests/portal/annotations/test_consensus_viewer.py opens one).
    "studies/campaigns/<pk>/cases/<case_pk>/consensus/": (
        GET("/studies/campaigns/{campaign}/cases/{test_case}/consensus/",  LOGIN, 404, 404, 404, 404, 404),
    ),
    "studies/campaigns/<pk>/cases/<case_pk>/consensus/volume/": (
        GET("/studies/campaigns/{campaign}/cases/{test_case}/consensus/volume/",
                                                                           LOGIN, 404, 404, 404, 404, 404),
    ),
    "studies/campaigns/<pk>/phase-version/": (
        POST("/studies/campaigns/{campaign}/phase-version/",               LOGIN, 404, 404, 404, 404, 302,
             body=_phase_version),
    ),
    "studies/campaigns/assignments/<pk>/": (
        GET("/studies/campaigns/assignments/{assignment}/",                LOGIN, 404, 404, 200, 404, 200),
    ),
    # The organizer's reopening from the campaign page: the world's case is in progress, so it is refused
    # with its sentence on the campaign page (302); the annotator may not reopen (403).
    "studies/campaigns/assignments/<pk>/reopen/": (
        POST("/studies/campaigns/assignments/{assignment}/reopen/",        LOGIN, 404, 404, 403, 404, 302,
             body={"reason": "The lesion's posterior edge is missing."}),
    ),
    "studies/campaigns/assignments/<pk>/images/<index>/": (
        GET("/studies/campaigns/assignments/{assignment}/images/0/",       LOGIN, 404, 404, 200, 404, 200),
    ),
    "studies/campaigns/assignments/<pk>/start/": (
        GET("/studies/campaigns/assignments/{assignment}/start/",          LOGIN, 404, 404, 200, 404, 200),
    ),
    "studies/campaigns/assignments/<pk>/revisions/<number>/": (
        GET("/studies/campaigns/assignments/{assignment}/revisions/1/",    LOGIN, 404, 404, 200, 404, 200),
    ),
    # --- Health ----------------------------------------------------------------------------------------
    # The health check answers everyone alike, by the state of the services.
    "health/": (GET("/health/", OPEN, OPEN, OPEN, OPEN, OPEN, OPEN),),
    # --- Signed links to private files: the token is the permission, for everyone alike ---------------
    "files/signed/<token>/": (
        GET("/files/signed/{signed_file}/",                                200,   200, 200, 200, 200, 200),
        GET("/files/signed/{signed_file}x/",                               403,   403, 403, 403, 403, 403),
    ),
    # --- API: its root, the router's challenges with their format suffixes, the token, the schema -------
    "api/": (GET("/api/",                                                  200,   200, 200, 200, 200, 200),),
    "api/<format>": (GET("/api/.json",                                     200,   200, 200, 200, 200, 200),),
    "api/challenges/$": (GET("/api/challenges/",                           200,   200, 200, 200, 200, 200),),
    r"api/challenges\.(?P<format>[a-z0-9]+)/?$": (
        GET("/api/challenges.json",                                        200,   200, 200, 200, 200, 200),
    ),
    "api/challenges/(?P<slug>[^/.]+)/$": (
        GET("/api/challenges/{challenge}/",                                200,   200, 200, 200, 200, 200),
        GET("/api/challenges/{hidden_challenge}/",                         404,   404, 404, 404, 404, 200),
    ),
    r"api/challenges/(?P<slug>[^/.]+)\.(?P<format>[a-z0-9]+)/?$": (
        GET("/api/challenges/{challenge}.json",                            200,   200, 200, 200, 200, 200),
    ),
    "api/challenges/(?P<slug>[^/.]+)/cases/$": (
        GET("/api/challenges/{challenge}/cases/",                          401,   200, 200, 200, 200, 200,
            hides=HIDDEN),
    ),
    r"api/challenges/(?P<slug>[^/.]+)/cases\.(?P<format>[a-z0-9]+)/?$": (
        GET("/api/challenges/{challenge}/cases.json",                      401,   200, 200, 200, 200, 200,
            hides=HIDDEN),
    ),
    "api/challenges/(?P<slug>[^/.]+)/join/$": (
        POST("/api/challenges/{challenge}/join/",                          401,   201, 201, 400, 201, 400),
        POST("/api/challenges/{hidden_challenge}/join/",                   401,   404, 404, 404, 404, 400),
    ),
    r"api/challenges/(?P<slug>[^/.]+)/join\.(?P<format>[a-z0-9]+)/?$": (
        POST("/api/challenges/{challenge}/join.json",                      401,   201, 201, 400, 201, 400),
    ),
    # --- API: teams (mine: the user's own; 404 without one) --------------------------------------------
    "api/challenges/<slug>/teams/": (
        GET("/api/challenges/{challenge}/teams/",                          401,   200, 200, 200, 200, 200),
        GET("/api/challenges/{hidden_challenge}/teams/",                   401,   404, 404, 404, 404, 200),
        POST("/api/challenges/{challenge}/teams/",                         401,   400, 400, 400, 400, 400,
             body={"name": "Gamma Core Lab"}, json=True),
    ),
    "api/challenges/<slug>/teams/mine/": (
        GET("/api/challenges/{challenge}/teams/mine/",                     401,   200, 200, 404, 404, 404,
            hides=TEAMS, shows_own_team=True),
    ),
    "api/challenges/<slug>/teams/mine/invitations/": (
        POST("/api/challenges/{challenge}/teams/mine/invitations/",        401,   201, 201, 404, 404, 404,
             body={"email": ""}, json=True, hides=TEAMS),
    ),
    "api/challenges/<slug>/teams/mine/invitations/<token>/withdraw/": (
        POST("/api/challenges/{challenge}/teams/mine/invitations/{invitation}/withdraw/",
                                                                           401,   200, 404, 404, 404, 404),
    ),
    "api/challenges/<slug>/teams/mine/leave/": (
        POST("/api/challenges/{challenge}/teams/mine/leave/",              401,   204, 204, 404, 404, 404),
    ),
    "api/challenges/<slug>/teams/mine/members/<user_id>/remove/": (
        POST("/api/challenges/{challenge}/teams/mine/members/{team_a_user}/remove/",
                                                                           401,   400, 400, 404, 404, 404),
    ),
    "api/challenges/<slug>/teams/mine/captain/": (
        POST("/api/challenges/{challenge}/teams/mine/captain/",            401,   200, 400, 404, 404, 404,
             body=_captain_api, json=True, hides=TEAMS),
    ),
    "api/challenges/<slug>/teams/invitations/<token>/": (
        GET("/api/challenges/{challenge}/teams/invitations/{invitation}/", 401,   200, 200, 200, 200, 200),
        GET("/api/challenges/{hidden_challenge}/teams/invitations/{invitation}/",
                                                                           401,   404, 404, 404, 404, 404),
    ),
    "api/challenges/<slug>/teams/invitations/<token>/accept/": (
        POST("/api/challenges/{challenge}/teams/invitations/{invitation}/accept/",
                                                                           401,   400, 400, 400, 200, 400),
    ),
    "api/challenges/<slug>/teams/invitations/<token>/decline/": (
        POST("/api/challenges/{challenge}/teams/invitations/{invitation}/decline/",
                                                                           401,   200, 200, 200, 200, 200),
    ),
    "api/challenges/(?P<slug>[^/.]+)/phases/$": (
        GET("/api/challenges/{challenge}/phases/",                         200,   200, 200, 200, 200, 200),
    ),
    r"api/challenges/(?P<slug>[^/.]+)/phases\.(?P<format>[a-z0-9]+)/?$": (
        GET("/api/challenges/{challenge}/phases.json",                     200,   200, 200, 200, 200, 200),
    ),
    "api/me/": (GET("/api/me/",                                            401,   200, 200, 200, 200, 200),),
    "api/images/<pk>/file/": (
        GET("/api/images/{train_image}/file/",                             401,   200, 200, 404, 404, 200),
        GET("/api/images/{test_image}/file/",                              401,   404, 404, 404, 404, 200),
    ),
    "api/ground-truths/<pk>/file/": (
        GET("/api/ground-truths/{train_mask}/file/",                       401,   200, 200, 404, 404, 200),
        GET("/api/ground-truths/{test_mask}/file/",                        401,   404, 404, 404, 404, 200),
    ),
    "api/challenges/<slug>/data-card/": (
        GET("/api/challenges/{challenge}/data-card/",                      200,   200, 200, 200, 200, 200),
        GET("/api/challenges/{hidden_challenge}/data-card/",               404,   404, 404, 404, 404, 200),
    ),
    # Only a participant accepts terms: others are told to join (400), the organizers of the hidden
    # challenge that it has none (400).
    "api/challenges/<slug>/data-card/accept/": (
        POST("/api/challenges/{challenge}/data-card/accept/",              401,   200, 200, 400, 400, 400,
             body={"consents_to_reruns": True}, json=True),
        POST("/api/challenges/{hidden_challenge}/data-card/accept/",       401,   404, 404, 404, 404, 400,
             body={"consents_to_reruns": True}, json=True),
    ),
    "api/challenges/<slug>/files/": (
        GET("/api/challenges/{challenge}/files/?split=train",              401,   200, 200, 403, 403, 200,
            hides=HIDDEN),
        GET("/api/challenges/{challenge}/files/",                          401,   200, 200, 403, 403, 200,
            hides=HIDDEN),
        GET("/api/challenges/{challenge}/files/?split=test",               401,   403, 403, 403, 403, 200),
        GET("/api/challenges/{hidden_challenge}/files/",                   401,   404, 404, 404, 404, 403),
    ),
    "api/challenges/<slug>/archive/": (
        GET("/api/challenges/{challenge}/archive/?split=train",            401,   200, 200, 403, 403, 200),
        GET("/api/challenges/{challenge}/archive/?split=test",             401,   403, 403, 403, 403, 200),
        GET("/api/challenges/{challenge}/archive/?case=sub-stroke9999",    401,   404, 404, 404, 404, 404),
        GET("/api/challenges/{hidden_challenge}/archive/",                 401,   404, 404, 404, 404, 403),
    ),
    "api/auth/token/": (POST("/api/auth/token/",                           400,   400, 400, 400, 400, 400),),
    "api/schema/": (GET("/api/schema/",                                    200,   200, 200, 200, 200, 200),),
    "api/docs/": (GET("/api/docs/",                                        200,   200, 200, 200, 200, 200),),
    "api/redoc/": (GET("/api/redoc/",                                      200,   200, 200, 200, 200, 200),),
    # --- API: submissions and algorithms ---------------------------------------------------------------
    "api/phases/<slug>/submissions/": (
        GET("/api/phases/{training}/submissions/",                         401,   200, 200, 200, 200, 200,
            hides=TEAMS, shows_own_team=True),
        POST("/api/phases/{training}/submissions/",                        401,   201, 201, 400, 400, 400,
             body=_predictions),
    ),
    "api/submissions/<pk>/": (GET("/api/submissions/{a_predictions}/",     401,   200, 404, 404, 404, 200),),
    "api/submissions/<pk>/cancel/": (
        POST("/api/submissions/{a_pending}/cancel/",                       401,   200, 404, 404, 404, 200),
    ),
    "api/submissions/<pk>/requeue/": (
        POST("/api/submissions/{a_pending}/requeue/",                      401,   403, 404, 404, 404, 200),
    ),
    "api/submissions/<pk>/stop/": (
        POST("/api/submissions/{a_pending}/stop/",                         401,   403, 404, 404, 404, 200,
             body=STOP, json=True),
    ),
    "api/submissions/<pk>/select-final/": (
        POST("/api/submissions/{a_predictions}/select-final/",             401,   200, 404, 404, 404, 403),
    ),
    "api/phases/<slug>/algorithm-uploads/": (
        POST("/api/phases/{final}/algorithm-uploads/",                     401,   201, 201, 400, 400, 400,
             body={"total_bytes": 1000}, json=True),
    ),
    "api/phases/<slug>/algorithm-contract/": (
        GET("/api/phases/{final}/algorithm-contract/",                     401,   200, 200, 200, 200, 200,
            hides=HIDDEN),
        GET("/api/phases/{training}/algorithm-contract/",                  401,   404, 404, 404, 404, 404),
    ),
    "api/phases/<slug>/validation-runs/": (
        GET("/api/phases/{validation}/validation-runs/",                   401,   403, 403, 403, 403, 200),
        POST("/api/phases/{validation}/validation-runs/",                  401,   403, 403, 403, 403, 201,
             body=_reruns, json=True),
        GET("/api/phases/{final}/validation-runs/",                        401,   404, 404, 404, 404, 404),
    ),
    "api/algorithm-uploads/<upload_id>/": (
        GET("/api/algorithm-uploads/{upload}/",                            401,   200, 404, 404, 404, 404),
        PUT("/api/algorithm-uploads/{upload}/",                            401,   200, 404, 404, 404, 404,
            body=b"0123456789", headers=CHUNK),
    ),
    # --- API: remote workers' (a worker key only; no person's login opens it) ---------------------------
    "api/worker/jobs/next/": (
        POST("/api/worker/jobs/next/",                                     401,   401, 401, 401, 401, 401),
    ),
    "api/worker/jobs/<pk>/beat/": (
        POST("/api/worker/jobs/1/beat/",                                   401,   401, 401, 401, 401, 401,
             body={"claim": "remote worker x claim y"}, json=True),
    ),
    "api/worker/jobs/<pk>/let-go/": (
        POST("/api/worker/jobs/1/let-go/",                                 401,   401, 401, 401, 401, 401,
             body={"claim": "remote worker x claim y"}, json=True),
    ),
    "api/worker/jobs/<pk>/report/": (
        POST("/api/worker/jobs/1/report/",                                 401,   401, 401, 401, 401, 401,
             body={"claim": "remote worker x claim y", "result": "{}"}),
    ),
    # --- API: the data page's release uploads (the uploader's only) and imports (organizers') ----------
    "api/challenges/<slug>/release-uploads/": (
        POST("/api/challenges/{challenge}/release-uploads/",               401,   403, 403, 403, 403, 201,
             body={"file_name": "isles24.zip", "total_bytes": 1000}, json=True),
        POST("/api/challenges/{hidden_challenge}/release-uploads/",        401,   404, 404, 404, 404, 201,
             body={"file_name": "isles24.zip", "total_bytes": 1000}, json=True),
        POST("/api/challenges/{other_challenge}/release-uploads/",         401,   403, 403, 403, 403, 403,
             body={"file_name": "isles24.zip", "total_bytes": 1000}, json=True),
    ),
    "api/release-uploads/<upload_id>/": (
        GET("/api/release-uploads/{release_upload}/",                      401,   404, 404, 404, 404, 200),
        PUT("/api/release-uploads/{release_upload}/",                      401,   404, 404, 404, 404, 200,
            body=b"0123456789", headers=CHUNK),
    ),
    "api/challenges/<slug>/dataset-imports/<pk>/": (
        GET("/api/challenges/{challenge}/dataset-imports/{dataset_import}/",
                                                                           401,   403, 403, 403, 403, 200),
        GET("/api/challenges/{hidden_challenge}/dataset-imports/{dataset_import}/",
                                                                           401,   404, 404, 404, 404, 404),
        GET("/api/challenges/{other_challenge}/dataset-imports/{dataset_import}/",
                                                                           401,   403, 403, 403, 403, 403),
    ),
    "api/challenges/<slug>/datasets/<dataset_slug>/case-attributes/": (
        POST("/api/challenges/{challenge}/datasets/{dataset}/case-attributes/",
                                                                           401,   403, 403, 403, 403, 201,
             body=_attribute_table_api),
        POST("/api/challenges/{hidden_challenge}/datasets/{dataset}/case-attributes/",
                                                                           401,   404, 404, 404, 404, 404,
             body=_attribute_table_api),
        POST("/api/challenges/{other_challenge}/datasets/{dataset}/case-attributes/",
                                                                           401,   403, 403, 403, 403, 403,
             body=_attribute_table_api),
    ),
    "api/submissions/<pk>/jobs/": (
        GET("/api/submissions/{a_algorithm}/jobs/",                        401,   200, 404, 404, 404, 200,
            hides=LOGS),
    ),
    # --- API: leaderboards -----------------------------------------------------------------------------
    "api/phases/<phase_slug>/leaderboard/": (
        GET("/api/phases/{training}/leaderboard/",                         200,   200, 200, 200, 200, 200),
        GET("/api/phases/{final}/leaderboard/",                            200,   200, 200, 200, 200, 200),
        GET("/api/phases/{unpublished}/leaderboard/",                      401,   403, 403, 403, 403, 200),
    ),
    "api/phases/<phase_slug>/leaderboard/cases/": (
        GET("/api/phases/{training}/leaderboard/cases/",                   401,   200, 200, 403, 403, 200,
            hides=TEAMS, shows_own_team=True),
        GET("/api/phases/{final}/leaderboard/cases/",                      401,   403, 403, 403, 403, 200),
    ),
    "api/phases/<phase_slug>/leaderboard/subgroups/": (
        GET("/api/phases/{training}/leaderboard/subgroups/",               401,   200, 200, 403, 403, 200,
            hides=TEAMS),
        GET("/api/phases/{final}/leaderboard/subgroups/",                  401,   403, 403, 403, 403, 200),
    ),
    "api/phases/<phase_slug>/leaderboard/biomarkers/": (
        GET("/api/phases/{training}/leaderboard/biomarkers/",              401,   200, 200, 403, 403, 200,
            hides=TEAMS, shows_own_team=True),
        GET("/api/phases/{final}/leaderboard/biomarkers/",                 401,   403, 403, 403, 403, 200),
    ),
    "api/phases/<phase_slug>/leaderboard/export/<table>.<file_format>": (
        GET("/api/phases/{final}/leaderboard/export/cases.csv",            401,   403, 403, 403, 403, 200),
        GET("/api/phases/{final}/leaderboard/export/subgroups.csv",        401,   403, 403, 403, 403, 200),
        GET("/api/phases/{final}/leaderboard/export/biomarkers.json",      401,   403, 403, 403, 403, 200),
    ),
    "api/phases/<phase_slug>/ensembles/": (
        GET("/api/phases/{final}/ensembles/",                              401,   403, 403, 403, 403, 200),
        POST("/api/phases/{final}/ensembles/",                             401,   403, 403, 403, 403, 201,
             body=_ensemble_members, json=True),
    ),
    "api/ensembles/<ensemble_id>/": (
        GET("/api/ensembles/{ensemble}/",                                  401,   404, 404, 404, 404, 200),
    ),
    "api/ensembles/<ensemble_id>/validations/": (
        POST("/api/ensembles/{ensemble}/validations/",                     401,   404, 404, 404, 404, 201,
             body=_validation_phase, json=True),
    ),
    # --- API: reader studies and annotation ------------------------------------------------------------
    "api/studies/<pk>/next/": (GET("/api/studies/{study}/next/",           401,   404, 404, 200, 404, 404,
                                   hides=TEAMS),),
    "api/studies/<pk>/items/<token>/answer/": (
        POST("/api/studies/{study}/items/{item}/answer/",                  401,   404, 404, 200, 404, 404,
             body={"preference": "A"}, json=True),
    ),
    "api/studies/<pk>/items/<token>/drawn/": (
        POST("/api/studies/{study}/items/{item}/drawn/",                   401,   404, 404, 204, 404, 404),
    ),
    "api/studies/<pk>/results/": (
        GET("/api/studies/{study}/results/",                               401,   404, 404, 403, 404, 200),
    ),
    "api/studies/<pk>/answers.csv": (
        GET("/api/studies/{study}/answers.csv",                            401,   404, 404, 403, 404, 200),
    ),
    "api/campaigns/assignments/<pk>/": (
        GET("/api/campaigns/assignments/{assignment}/",                    401,   404, 404, 200, 404, 200),
    ),
    "api/campaigns/assignments/<pk>/mask/": (
        PUT("/api/campaigns/assignments/{assignment}/mask/",               401,   404, 404, 201, 404, 403,
            body=_mask),
    ),
    "api/campaigns/assignments/<pk>/done/": (
        POST("/api/campaigns/assignments/{assignment}/done/",              401,   404, 404, 200, 404, 403),
    ),
    # The world's case is in progress, so the organizer's reopening is refused with its sentence (400);
    # tests/portal/annotations/test_campaign_api.py reopens a done one.
    "api/campaigns/assignments/<pk>/reopen/": (
        POST("/api/campaigns/assignments/{assignment}/reopen/",            401,   404, 404, 403, 404, 400,
             body={"reason": "The lesion's posterior edge is missing."}, json=True),
    ),
}
# fmt: on


# --- The admin: one rule, applied to each of its routes -----------------------------------------------

_MODEL_PAGE = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/(?P<rest>.*)$")
_MODEL_PAGE_KINDS = {
    "": 403,  # the change list
    "add/": 403,
    "<object_id>/history/": 403,
    "<object_id>/delete/": 403,
    "<object_id>/change/": 403,
    "<object_id>/": 302,  # Django's redirect to the change page
    "<id>/password/": 403,  # the user admin's password form
}
_ADMIN_PAGES = {
    # route: (method, URL, what staff get)
    "admin/": ("GET", "/admin/", 200),
    "admin/login/": ("GET", "/admin/login/", 302),
    "admin/logout/": ("POST", "/admin/logout/", 302),
    "admin/password_change/": ("GET", "/admin/password_change/", 200),
    "admin/password_change/done/": ("GET", "/admin/password_change/done/", 200),
    "admin/autocomplete/": ("GET", "/admin/autocomplete/", 403),
    "admin/jsi18n/": ("GET", "/admin/jsi18n/", 200),
    "admin/(?P<url>.*)$": ("GET", "/admin/no-such-page/", 404),
}


def _admin_expected(route: str, staff: Outcome) -> tuple[Outcome, ...]:
    """Staff get ``staff``; everyone else is sent to the admin's login (its own page and the logout aside,
    which Django answers without it)."""
    others: Outcome = ADMIN_LOGIN
    if route == "admin/login/":
        others = 200
    elif route == "admin/logout/":
        others = 302
    return tuple(staff if person == "staff" else others for person in PEOPLE)


def admin_tries(route: str, world: World | None) -> tuple[Try, ...] | None:
    """The rule for the admin's routes, or None for a route it does not know (which then has no entry).

    ``world`` fills the object ids (a real object of each model); without one, only the rule is asked.
    """
    if route in _ADMIN_PAGES:
        method, url, staff = _ADMIN_PAGES[route]
        return (Try(method, url, _admin_expected(route, staff), hides=TEAMS),)
    if route == "admin/r/<content_type_id>/<object_id>/":
        content_type = ContentType.objects.get_for_model(Submission).pk if world else 1
        url = f"/admin/r/{content_type}/{{a_predictions}}/"
        return (Try("GET", url, _admin_expected(route, 404)),)
    if route.startswith("admin/(?P<app_label>"):
        return (Try("GET", "/admin/challenges/", _admin_expected(route, 404)),)
    match = _MODEL_PAGE.match(route)
    if match is None or match["rest"] not in _MODEL_PAGE_KINDS:
        return None
    staff = _MODEL_PAGE_KINDS[match["rest"]]
    row = None
    if world is not None:
        row = apps.get_model(match["app"], match["model"]).objects.order_by("pk").first()
    if row is None and match["rest"] == "<object_id>/history/":
        staff = 302  # Django looks the row up before the permission, and sends staff back to the index
    object_id = str(row.pk) if row is not None else "1"
    rest = match["rest"].replace("<object_id>", object_id).replace("<id>", object_id)
    return (Try("GET", f"/admin/{match['app']}/{match['model']}/{rest}", _admin_expected(route, staff)),)


# --- Walking the URL conf -----------------------------------------------------------------------------


def route_key(route: str) -> str:
    """A route as the matrix names it: as Django writes ``ResolverMatch.route``, its parameters without
    their converters (``submissions/<pk>/``), which say how a URL is parsed, not who gets it."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", route)


def url_routes() -> list[str]:
    """Every route of the URL conf, as the matrix names it, in the conf's order."""

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> Iterator[str]:
        for pattern in patterns:
            text = str(pattern.pattern)
            route = prefix + (text.removeprefix("^") if prefix else text)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route_key(route)

    return list(dict.fromkeys(walk(get_resolver().url_patterns, "")))


def tries_of(route: str, world: World | None) -> tuple[Try, ...] | None:
    if route.startswith("admin/"):
        return admin_tries(route, world)
    return MATRIX.get(route)


def test_every_route_has_an_entry() -> None:
    routes = url_routes()
    missing = [route for route in routes if tries_of(route, None) is None]
    stale = sorted(set(MATRIX) - set(routes))

    assert not missing, f"Routes without an entry in the permission matrix: {missing}"
    assert not stale, f"Entries of the permission matrix for routes that no longer exist: {stale}"
    assert all(len(attempt.expected) == len(PEOPLE) for tries in MATRIX.values() for attempt in tries)


# --- Asking -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    """A page client (logged in by session) and an API client (by token) per person."""

    pages: dict[str, Client]
    api: dict[str, Client]
    sessions: dict[str, str]

    def client(self, person: str, route: str) -> Client:
        if route.startswith("api/"):
            return self.api[person]
        client = self.pages[person]
        if person in self.sessions:  # a logout or a new login in the last request changed the cookie
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[person]
        return client


def people_log_in(world: World) -> People:
    pages, api, sessions = {}, {}, {}
    for person, user in world.people.items():
        pages[person], api[person] = Client(), Client()
        if user is not None:
            pages[person].force_login(user)
            sessions[person] = pages[person].cookies[settings.SESSION_COOKIE_NAME].value
            api[person] = Client(headers={"authorization": f"Token {world.tokens[person]}"})
    return People(pages, api, sessions)


def _request(client: Client, attempt: Try, url: str, world: World) -> HttpResponse:
    body = attempt.body(world) if callable(attempt.body) else attempt.body
    if attempt.method == "GET":
        return client.get(url)
    options: dict[str, object] = {"headers": attempt.headers}
    if isinstance(body, bytes):
        options |= {"data": body, "content_type": "application/octet-stream"}
    elif attempt.json:
        options |= {"data": body, "content_type": "application/json"}
    elif body is not None:
        options["data"] = body
    if attempt.method == "PUT":
        return client.put(url, **options)
    return client.post(url, **options)


def outcome_of(response: HttpResponse) -> Outcome:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith(f"{reverse('account_login')}?next="):
            return LOGIN
        if location.startswith(f"{reverse('admin:login')}?next="):
            return ADMIN_LOGIN
    return response.status_code


def _text(response: HttpResponse) -> str:
    if response.streaming:
        return ""  # a file: never a list of teams or cases
    return response.content.decode(errors="replace")


def leaks(world: World, person: str, attempt: Try, text: str) -> list[str]:
    """What a 200 names that the person must not read, or does not name that they must."""
    if person == "organizer":
        return []
    forbidden: list[str] = []
    if attempt.hides.other_teams:
        forbidden += [marker for team, found in world.markers.items() if team != person for marker in found]
    if attempt.hides.hidden_cases:
        forbidden += world.hidden
    if attempt.hides.hidden_logs:
        forbidden.append(HIDDEN_LOG)
    found = [word for word in forbidden if re.search(rf"\b{re.escape(word)}\b", text)]
    own = world.markers.get(person, ())
    if attempt.shows_own_team and own and not any(marker in text for marker in own):
        found.append(f"nothing of its own team ({own[0]})")
    return found


def ask(people: People, world: World, route: str, attempt: Try, person: str) -> tuple[Outcome, list[str]]:
    """One request, in a transaction rolled back after it: its outcome, and what leaked."""
    url = attempt.url.format(**world.ids)
    try:
        with transaction.atomic():
            response = _request(people.client(person, route), attempt, url, world)
            transaction.set_rollback(True)
    except Exception as error:  # a view that raises (a 500) is one more cell that differs, listed below
        return f"raised {type(error).__name__}: {error}", []
    got = outcome_of(response)
    return got, leaks(world, person, attempt, _text(response)) if got == 200 else []


def _matches(expected: Outcome, got: Outcome) -> bool:
    return got in (200, 503) if expected == OPEN else got == expected


@pytest.fixture
def world(db: None, django_capture_on_commit_callbacks: Callable) -> World:
    return world_build(on_commit=django_capture_on_commit_callbacks)


def test_the_people_are_who_the_columns_say(world: World) -> None:
    """Only the staff user is staff, and they hold no role and no permission."""
    staff = world.people["staff"]
    assert staff is not None
    assert not staff.is_superuser
    assert not staff.challenge_roles.exists()
    assert not staff.get_all_permissions()
    assert [person for person, user in world.people.items() if user is not None and user.is_staff] == [
        "staff"
    ]


def test_every_person_gets_what_the_matrix_says(world: World) -> None:
    people = people_log_in(world)
    problems = []
    for route in url_routes():
        for attempt in tries_of(route, world) or ():
            url = attempt.url.format(**world.ids)
            path = url.partition("?")[0]
            assert route_key(resolve(path).route) == route, f"{url} is not a URL of {route}"
            for person, expected in zip(PEOPLE, attempt.expected, strict=True):
                got, leaked = ask(people, world, route, attempt, person)
                if not _matches(expected, got):
                    problems.append(f"{attempt.method} {url} as {person}: {got}, the matrix says {expected}")
                if leaked:
                    problems.append(f"{attempt.method} {url} as {person} names {leaked}")

    assert not problems, "\n".join(problems)
