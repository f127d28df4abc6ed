"""Schemathesis against the API's own schema (/api/schema/), in this process, through Django's WSGI app.

Every operation gets the examples Schemathesis derives from the schema (its coverage phase: edge values,
wrong types, missing parameters, unknown methods) and a bounded number of generated ones, derandomized so
that a run repeats the last. Requests come from the people of the permission matrix's world (each with
their token, or none) and mostly name its real challenge, phases, submissions, study, assignment and
upload, so that they reach the services behind the views rather than a 404. Each response must be no
server error and conform to the schema: a documented status, content type, headers and body.
"""

import zlib
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet

from tests.portal.matrix_world import World, world_build

EXAMPLES_PER_OPERATION = 50

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261206,
        "generation": {
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": True,
            "database": "none",
            # Credentials come from the world's people, below, not from generated headers.
            "with-security-parameters": False,
        },
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "unsupported_method": {"enabled": True},
            "allow_header_conformance": {"enabled": True},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)

PEOPLE = ("organizer", "team_a", "reader", "team_b", "staff", "anonymous")
REAL_VALUES = {
    # (the path's first segment after /api/, the parameter): names of the world's ids that fit it
    ("challenges", "slug"): ("challenge", "hidden_challenge"),
    ("challenges", "token"): ("invitation",),
    ("challenges", "user_id"): ("team_a_user",),
    ("phases", "slug"): ("training", "final", "unpublished"),
    ("phases", "phase_slug"): ("training", "final", "unpublished"),
    ("submissions", "id"): ("a_predictions", "a_pending", "a_algorithm", "b_predictions", "b_algorithm"),
    ("algorithm-uploads", "upload_id"): ("upload",),
    ("studies", "id"): ("study",),
    ("studies", "token"): ("item",),
    ("campaigns", "id"): ("assignment",),
    ("images", "id"): ("train_image", "test_image"),
}


@pytest.fixture
def world(db: None, django_capture_on_commit_callbacks: Callable[..., object]) -> Iterator[World]:
    """The permission matrix's world. Django's WSGI handler closes the database connection after each
    request, and the test's transaction lives on it: it is kept open, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield world_build(on_commit=django_capture_on_commit_callbacks)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _draw(generated: str, salt: str, count: int) -> int:
    """A number below ``count`` that the generated case decides, so that a run repeats the last."""
    return zlib.crc32(f"{salt}:{generated}".encode()) % count


def _with_world(case: schemathesis.Case, world: World) -> None:
    """Send the case as one of the world's people; replace three path parameters in four with real ones.

    The case's dictionaries are replaced, not changed: Schemathesis may share them between cases."""
    body = None if isinstance(case.body, NotSet) else case.body  # NotSet's repr holds its address
    generated = repr((case.method, case.path_parameters, case.query, body))
    person = PEOPLE[_draw(generated, "person", len(PEOPLE))]
    if person != "anonymous":
        case.headers = {**(case.headers or {}), "Authorization": f"Token {world.tokens[person]}"}
    collection = case.operation.path.split("/")[2]
    parameters = dict(case.path_parameters or {})
    for name in parameters:
        names = REAL_VALUES.get((collection, name))
        if names is None:
            continue
        choice = _draw(generated, name, 4 * len(names))
        if choice < 3 * len(names):
            parameters[name] = str(world.ids[names[choice % len(names)]])
    case.path_parameters = parameters


@pytest.mark.slow
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_answer_conforms_to_the_schema(case: schemathesis.Case, world: World) -> None:
    _with_world(case, world)
    case.call_and_validate()
