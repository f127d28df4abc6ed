"""Factories for datasets and cases (rows only; tests that need files import synthetic data)."""

import factory

from portal.datasets.models import Case, Dataset, Split
from tests.portal.challenges.factories import ChallengeFactory


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    challenge = factory.SubFactory(ChallengeFactory)
    slug = factory.Sequence(lambda n: f"dataset-{n}")
    title = "ISLES'24 release"


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"sub-stroke{n:04d}")
    split = Split.TRAIN
