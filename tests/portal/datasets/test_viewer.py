"""The case viewer page: who may open it, what it offers, and the policy that keeps it script-safe."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from portal.datasets.models import Case
from tests.portal.conftest import ChallengeWithPeople
from tests.portal.datasets.factories import ImageFactory


def open_viewer(world: ChallengeWithPeople, person: str, case: Case) -> tuple[int, Client]:
    client = Client()
    user = world.people[person]
    if user is not None:
        client.force_login(user)
    return client.get(reverse("case-viewer", kwargs={"pk": case.pk})).status_code, client


def viewer_data(world: ChallengeWithPeople, person: str, case: Case) -> dict[str, list[dict[str, object]]]:
    client = Client()
    client.force_login(world.people[person])
    response = client.get(reverse("case-viewer", kwargs={"pk": case.pk}))
    html = response.content.decode()
    start = html.index('<script id="viewer-data" type="application/json">')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)


@pytest.mark.parametrize(
    ("person", "train", "test"),
    [
        ("anonymous", 302, 302),
        ("outsider", 404, 404),
        ("reader", 404, 404),
        ("participant", 200, 404),
        ("organizer", 200, 200),
    ],
)
def test_the_case_viewer_opens_only_for_people_who_may_download_the_cases_images(
    world: ChallengeWithPeople, person: str, train: int, test: int
) -> None:
    train_status, _ = open_viewer(world, person, world.train_image.case)
    test_status, _ = open_viewer(world, person, world.test_image.case)

    assert (train_status, test_status) == (train, test)


def test_the_case_viewer_lists_every_modality_in_reading_order_with_volume_urls(
    world: ChallengeWithPeople,
) -> None:
    case = world.train_image.case
    for interface in (
        "tmax-parameter-map",
        "preprocessed-tmax-map",
        "follow-up-adc",
        "perfusion-ct",
        "ct-angiography",
    ):
        ImageFactory(case=case, interface=interface)

    data = viewer_data(world, "participant", case)

    assert [image["label"] for image in data["images"]] == [
        "NCCT",
        "CTA",
        "CTP",
        "Tmax (in NCCT space)",
        "Tmax",
        "ADC (follow-up)",
    ]
    tmax = data["images"][3]
    assert data["images"][4]["colormap"] == "warm"
    assert tmax["colormap"] == "warm"
    assert tmax["is_ct"] is False
    assert tmax["parameter_map"]["unit"] == "s"
    assert (tmax["parameter_map"]["low"], tmax["parameter_map"]["high"]) == (0.0, 10.0)
    assert data["images"][0]["parameter_map"] is None
    assert tmax["name"].endswith(".nii.gz")
    assert data["images"][0]["url"] == reverse("image-volume", kwargs={"pk": world.train_image.pk})


def test_the_case_viewer_page_has_a_strict_content_security_policy_and_no_inline_script(
    world: ChallengeWithPeople,
) -> None:
    client = Client()
    client.force_login(world.people["participant"])

    response = client.get(reverse("case-viewer", kwargs={"pk": world.train_image.case.pk}))

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "img-src 'self' data:" in policy
    assert "style-src 'self'" in policy
    html = response.content.decode()
    assert '<script id="viewer-data" type="application/json">' in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert all(" src=" in tag or 'type="application/json"' in tag for tag in scripts)
    assert "onclick" not in html
    assert "style=" not in html


def test_the_case_list_links_each_case_to_its_viewer(world: ChallengeWithPeople) -> None:
    client = Client()
    client.force_login(world.people["participant"])

    response = client.get(
        reverse(
            "case-list", kwargs={"challenge_slug": "isles24", "dataset_slug": "release", "split": "train"}
        )
    )

    assert reverse("case-viewer", kwargs={"pk": world.train_image.case.pk}) in response.content.decode()
