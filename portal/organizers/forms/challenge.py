"""The challenge editor's form: a challenge's own fields and its data card (licence, citation, data-use
terms), in one page.

Dates are typed as wall-clock times in the challenge's time zone (the form's own ``time_zone`` field)
and given to the services as aware times; the services check every rule (``challenges.services``,
``datasets.services.data_card_set``) and their sentences come back beside the fields.
"""

import datetime
import zoneinfo

from django import forms
from django.core.files.uploadedfile import UploadedFile

from portal.challenges.models import Challenge
from portal.challenges.services import ChallengeFields
from portal.datasets.models import DataCard
from portal.organizers.forms.wall_clock import wall_clock_times_read

PUBLIC, INVITE_ONLY = "public", "invite-only"
DATE_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ChallengeForm(forms.Form):
    """Create or edit a challenge; with ``instance`` its current values are the initial ones."""

    title = forms.CharField(max_length=200)
    slug = forms.CharField(
        max_length=64,
        label="Address",
        help_text=(
            "The challenge's address: /challenges/ADDRESS/. Lowercase letters, digits and hyphens. Changing "
            "it moves every page of the challenge: links to the old address then answer 'not found'."
        ),
    )
    summary = forms.CharField(
        max_length=300, required=False, help_text="One line shown in the challenge list."
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        help_text="Markdown. Raw HTML is shown as text; only http, https and mailto links work.",
    )
    rules = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), required=False, help_text="Markdown, like the description."
    )
    logo = forms.FileField(required=False, help_text="A PNG, JPEG or WebP image of at most 1 MB.")
    logo_clear = forms.BooleanField(required=False, label="Remove the logo")
    time_zone = forms.CharField(
        max_length=64,
        initial="UTC",
        help_text="The time zone of the dates below, as an IANA name: Europe/Berlin, America/New_York, UTC.",
    )
    starts_at = forms.DateTimeField(required=False, widget=DATE_INPUT, label="Starts")
    ends_at = forms.DateTimeField(required=False, widget=DATE_INPUT, label="Ends")
    visibility = forms.ChoiceField(
        choices=[
            (PUBLIC, "Public: listed for everyone, and anyone signed in may join"),
            (INVITE_ONLY, "Invite-only: seen only by the people in it, who join by invitation"),
        ],
        widget=forms.RadioSelect,
        initial=PUBLIC,
    )
    participant_approval = forms.BooleanField(
        required=False,
        label="Participants need approval",
        help_text="A participant's registration waits for an organizer's approval before they take part.",
    )
    licence = forms.CharField(
        max_length=200,
        required=False,
        label="Data licence",
        help_text="The data's licence, e.g. CC BY-NC 4.0.",
    )
    citation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="How to cite the data."
    )
    terms = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label="Data-use terms",
        help_text=(
            "What each participant accepts before their first download. Changing them asks every "
            "participant to accept them again."
        ),
    )

    def __init__(self, *args: object, instance: Challenge | None = None, **kwargs: object) -> None:
        if instance is not None:
            kwargs.setdefault("initial", challenge_initial(instance))
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # Form's own signature, passed through
        if instance is None:
            del self.fields["logo_clear"]

    def clean(self) -> dict[str, object]:
        """Read the two dates as wall-clock times in the form's time zone (when it is one); a time the
        clocks skip there (the hour lost in spring) is refused."""
        data = super().clean() or {}
        zone_name = str(data.get("time_zone", ""))
        try:
            zone = zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return data  # the service names the time zone's problem
        wall_clock_times_read(self, data, names=("starts_at", "ends_at"), zone=zone)
        return data

    def challenge_fields(self) -> ChallengeFields:
        data = self.cleaned_data
        return ChallengeFields(
            title=data["title"],
            slug=data["slug"],
            summary=data["summary"],
            description=data["description"],
            rules=data["rules"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            time_zone=data["time_zone"],
            is_public=data["visibility"] == PUBLIC,
            participant_approval=data["participant_approval"],
        )

    def logo_upload(self) -> UploadedFile | None:
        logo = self.cleaned_data.get("logo")
        return logo if isinstance(logo, UploadedFile) else None


def challenge_initial(challenge: Challenge) -> dict[str, object]:
    """The form's values for an existing challenge: its dates in its own time zone, and its data card."""
    try:
        zone: datetime.tzinfo = zoneinfo.ZoneInfo(challenge.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = datetime.UTC
    card = DataCard.objects.filter(challenge=challenge).first()
    return {
        "title": challenge.title,
        "slug": challenge.slug,
        "summary": challenge.summary,
        "description": challenge.description,
        "rules": challenge.rules,
        "time_zone": challenge.time_zone,
        "starts_at": _wall_clock(challenge.starts_at, zone),
        "ends_at": _wall_clock(challenge.ends_at, zone),
        "visibility": PUBLIC if challenge.is_public else INVITE_ONLY,
        "participant_approval": challenge.participant_approval,
        "licence": "" if card is None else card.licence,
        "citation": "" if card is None else card.citation,
        "terms": "" if card is None else card.terms,
    }


def _wall_clock(moment: datetime.datetime | None, zone: datetime.tzinfo) -> datetime.datetime | None:
    """The moment as a naive wall-clock time in ``zone``: the form shows it as it is, unconverted."""
    return None if moment is None else moment.astimezone(zone).replace(tzinfo=None)
