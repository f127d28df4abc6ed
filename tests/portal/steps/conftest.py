"""The submissions' open phase, whose submissions' steps the engine's tests run."""

from tests.portal.submissions import conftest as submission_fixtures

open_phase = submission_fixtures.open_phase
