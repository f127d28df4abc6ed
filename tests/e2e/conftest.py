"""The browser the e2e tests drive: Debian's Chromium through Playwright, with software WebGL."""

from collections.abc import Iterator

import pytest
from django.db import connections
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.viewer_pages import CHROMIUM_ARGS


@pytest.fixture
def browser(chromium_path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; without this, Django refuses any ORM call
    # made in the thread meanwhile (pytest-django's database teardown included) as async-unsafe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # Django's connections are per context, and Playwright's sync API gives the test its own: the
        # connection the test opened here would stay open and keep the test database from being dropped.
        connections.close_all()
