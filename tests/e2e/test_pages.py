"""A new person registers, logs in, finds a challenge and joins it, in a real Chromium."""

import pytest
from playwright.sync_api import Browser, expect

from portal.challenges.models import Challenge
from tests.portal.challenges.factories import ChallengeFactory

PASSWORD = "perfusion-tmax-6s"


@pytest.fixture
def challenge(transactional_db: None) -> Challenge:
    # Made before Playwright starts: its sync API runs the test in a greenlet, where the ORM would open
    # a database connection of its own that nothing closes (PostgreSQL then keeps the test database).
    return ChallengeFactory(slug="isles24", title="ISLES 2024")


@pytest.mark.e2e
def test_a_new_user_registers_logs_in_and_joins_a_challenge(
    challenge: Challenge, live_server: object, browser: Browser
) -> None:
    page = browser.new_page()
    page.set_default_timeout(10_000)

    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again):").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_text("Confirmation email sent to ada@example.org.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_text("Successfully signed in as ada.")).to_be_visible()

    expect(page.get_by_role("heading", name="Challenges")).to_be_visible()
    page.get_by_role("link", name=challenge.title).click()
    page.get_by_role("button", name="Join this challenge").click()

    expect(page.locator("#my-role")).to_contain_text("Your role: Participant")
    assert page.get_by_role("button", name="Join this challenge").count() == 0
