"""An organizer's Markdown on the challenge page: formatted, and nothing in it runs in a visitor's browser."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from portal.challenges.templatetags.challenge_markdown import markdown_html
from tests.portal.challenges.factories import ChallengeFactory

pytestmark = pytest.mark.django_db

JAVASCRIPT_LINK = re.compile(r"<a\s[^>]*href=\S*javascript:", re.IGNORECASE)

HOSTILE = """# Timeline

Read the **rules** and the [paper](https://example.org/isles24).

<script>alert("description")</script>

[click me](javascript:alert(1)) and [this](JaVaScRiPt:alert(2))

<img src=x onerror="alert(3)">

<a href="javascript:alert(4)">raw link</a>
"""


def test_the_challenge_page_formats_the_description_and_rules_and_runs_none_of_their_scripts() -> None:
    challenge = ChallengeFactory(description=HOSTILE, rules="1. One team per person.\n\n<script>x()</script>")

    page = Client().get(reverse("challenge-detail", args=[challenge.slug])).content.decode()

    assert "<h1>Timeline</h1>" in page
    assert "<strong>rules</strong>" in page
    assert '<a href="https://example.org/isles24" rel="nofollow noopener noreferrer">paper</a>' in page
    assert "<li>One team per person.</li>" in page
    assert "<script>alert" not in page
    assert "<script>x()" not in page
    assert "&lt;script&gt;alert(" in page  # shown as text
    assert JAVASCRIPT_LINK.search(page) is None
    assert "<img" not in page


def test_markdown_keeps_tables_and_drops_every_script_and_javascript_link() -> None:
    html = markdown_html("| metric | better |\n|:--|--:|\n| Dice | higher |\n\n" + HOSTILE)

    assert '<th style="text-align:left">metric</th>' in html
    assert '<td style="text-align:right">higher</td>' in html
    assert "<script" not in html
    assert html.count("<a ") == 1  # the https link; the javascript: ones stay text
    assert JAVASCRIPT_LINK.search(html) is None
    assert "<img" not in html
