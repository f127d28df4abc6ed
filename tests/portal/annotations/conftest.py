"""Fixtures of the annotation campaign tests: the small campaign world of ``campaign_world``."""

import pytest

from tests.portal.annotations.campaign_world import CampaignWorld, campaign_world_create


@pytest.fixture
def world(db: None) -> CampaignWorld:
    return campaign_world_create()
