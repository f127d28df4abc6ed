"""Factories for users, roles and teams."""

import factory
from allauth.account.models import EmailAddress

from portal.accounts.models import ChallengeRole, Team, TeamMembership, User
from tests.portal.challenges.factories import ChallengeFactory

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()

    @factory.post_generation
    def email_verified(self, create: bool, extracted: object, **kwargs: object) -> None:
        """Users have confirmed their e-mail address, as everyone who submits has; pass
        ``email_verified=False`` for one who has not."""
        if create and extracted is not False:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class ChallengeRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChallengeRole

    user = factory.SubFactory(UserFactory)
    challenge = factory.SubFactory(ChallengeFactory)
    role = ChallengeRole.Role.PARTICIPANT


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    challenge = factory.SubFactory(ChallengeFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class TeamMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMembership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    challenge = factory.SelfAttribute("team.challenge")
