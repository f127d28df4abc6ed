"""The ensemble report's HTML export in a real browser, opened from disk as an organizer's colleague would
open the downloaded file: it asks for nothing but itself, draws every plot, hides its contents line when
printed, and Chromium's "Save as PDF" (``page.pdf``) makes a PDF of it."""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Request

from portal.leaderboards.models import Ensemble
from tests.portal.leaderboards.ensemble_world import (
    EnsembleWorld,
    OnCommit,
    ensemble_built,
    ensemble_world_make,
)


@pytest.fixture
def world(db: None, django_capture_on_commit_callbacks: OnCommit) -> EnsembleWorld:
    return ensemble_world_make(capture=django_capture_on_commit_callbacks)


@pytest.fixture
def built(world: EnsembleWorld, django_capture_on_commit_callbacks: OnCommit) -> Ensemble:
    return ensemble_built(world=world, capture=django_capture_on_commit_callbacks)


@pytest.fixture
def report_file(world: EnsembleWorld, built: Ensemble, tmp_path: Path) -> Path:
    """The organizer's download, saved. Fetched before the browser starts: Playwright's event loop gives
    the test's later ORM calls a connection of their own, outside the test's transaction."""
    url = reverse("ensemble-report-export", args=[world.phase.slug, built.pk])
    download = world.client(world.organizer).get(url)
    assert download.status_code == 200
    report = tmp_path / "report.html"
    report.write_bytes(download.content)
    return report


@pytest.mark.e2e
def test_the_downloaded_report_needs_nothing_else_and_prints_to_pdf(
    world: EnsembleWorld, report_file: Path, browser: Browser
) -> None:
    page = browser.new_page()
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)

    page.goto(report_file.as_uri())
    page.wait_for_load_state("networkidle")

    assert requested == [report_file.as_uri()]
    plots = page.locator(".plot svg")
    assert plots.count() >= len(world.members) + 1
    for index in range(plots.count()):
        box = plots.nth(index).bounding_box()
        assert box is not None
        assert box["width"] > 100
        assert box["height"] > 50
    assert page.locator(".report-contents").is_visible()
    page.emulate_media(media="print")
    assert not page.locator(".report-contents").is_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 2  # the report spans pages, each drawn
    page.close()
