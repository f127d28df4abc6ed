"""The organizer's pages of a challenge: its dashboard, the challenge and phase editors, the people who
organize, read and annotate it, its participants and announcements.

The pages compose the lower apps' services (a phase's page edits the phase, its leaderboard settings and
its algorithm sandbox in one form): the rules stay in each domain's ``services.py``, and every page is
read through the one organizer rule, ``portal.accounts.selectors.user_is_organizer``.
"""

from django.apps import AppConfig


class OrganizersConfig(AppConfig):
    name = "portal.organizers"
    label = "organizers"
    verbose_name = "Organizer pages"
