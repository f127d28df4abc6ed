"""What the organizer's pages read across the apps below them: a challenge's participants with their team,
the day they joined, their acceptance of the data-use terms and whether their e-mail address is confirmed.
"""

import datetime
from dataclasses import dataclass

from portal.accounts.models import ChallengeRole, TeamMembership, User
from portal.accounts.selectors import users_email_verified, users_taking_part
from portal.challenges.models import Challenge
from portal.datasets.models import DataTermsAcceptance

PARTICIPANT_CSV_HEADER = (
    "username",
    "email",
    "email_confirmed",
    "team",
    "joined_at",
    "terms_version",
    "terms_accepted_at",
    "consents_to_reruns",
)
"""The columns of the participants' CSV export, in the order of ``ParticipantRow.csv_row``."""


@dataclass(frozen=True)
class ParticipantRow:
    """One participant of a challenge as its organizers see them."""

    user: User
    team: str | None
    joined_at: datetime.datetime | None
    email_confirmed: bool
    terms_version: int | None
    """The version of the data-use terms of their latest acceptance; None: never accepted."""
    terms_accepted_at: datetime.datetime | None
    consents_to_reruns: bool | None

    def csv_row(self) -> tuple[object, ...]:
        """The row's cells under ``PARTICIPANT_CSV_HEADER``; times in UTC, ISO 8601."""
        return (
            self.user.username,
            self.user.email,
            "yes" if self.email_confirmed else "no",
            self.team or "",
            _iso(self.joined_at),
            self.terms_version,
            _iso(self.terms_accepted_at),
            None if self.consents_to_reruns is None else ("yes" if self.consents_to_reruns else "no"),
        )


def challenge_participant_list(*, challenge: Challenge) -> list[ParticipantRow]:
    """Everyone who takes part in the challenge (``accounts.selectors.users_taking_part``), by the day they
    joined (their participant role's creation, else their team membership's), then username. Their
    acceptance is the latest of the challenge's data-use terms, of any version."""
    users = list(users_taking_part(challenge=challenge).order_by("username"))
    joined = dict(
        ChallengeRole.objects.filter(challenge=challenge, role=ChallengeRole.Role.PARTICIPANT).values_list(
            "user_id", "created_at"
        )
    )
    memberships = {
        membership.user_id: membership
        for membership in TeamMembership.objects.filter(challenge=challenge).select_related("team")
    }
    confirmed = users_email_verified(users=users)
    acceptances: dict[int, DataTermsAcceptance] = {}
    for acceptance in DataTermsAcceptance.objects.filter(card__challenge=challenge).order_by("accepted_at"):
        acceptances[acceptance.user_id] = acceptance
    rows = []
    for user in users:
        membership = memberships.get(user.pk)
        acceptance = acceptances.get(user.pk)
        rows.append(
            ParticipantRow(
                user=user,
                team=membership.team.name if membership else None,
                joined_at=joined.get(user.pk) or (membership.joined_at if membership else None),
                email_confirmed=user.pk in confirmed,
                terms_version=acceptance.terms_version if acceptance else None,
                terms_accepted_at=acceptance.accepted_at if acceptance else None,
                consents_to_reruns=acceptance.consents_to_reruns if acceptance else None,
            )
        )
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return sorted(rows, key=lambda row: row.joined_at or epoch)


def _iso(moment: datetime.datetime | None) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds") if moment else ""
