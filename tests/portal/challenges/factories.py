"""Factories for challenges and phases."""

import datetime

import factory
from django.utils import timezone

from portal.challenges.models import Challenge, Phase, Split


class ChallengeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Challenge

    slug = factory.Sequence(lambda n: f"challenge-{n}")
    title = factory.Sequence(lambda n: f"Stroke challenge {n}")
    summary = "Predict the final infarct from acute CT perfusion."


class PhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Phase

    challenge = factory.SubFactory(ChallengeFactory)
    slug = factory.Sequence(lambda n: f"phase-{n}")
    title = "Preliminary"
    submission_kind = Phase.SubmissionKind.PREDICTIONS
    opens_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=30))
    dataset = factory.SubFactory(
        "tests.portal.datasets.factories.DatasetFactory", challenge=factory.SelfAttribute("..challenge")
    )
    split = Split.TEST
