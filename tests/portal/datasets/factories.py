"""Factories for datasets, cases and images (an image is a tiny real NIfTI file in private storage)."""

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import factory
import numpy as np
import SimpleITK as sitk
from django.core.files.base import ContentFile

from portal.challenges.models import Split
from portal.datasets.models import Case, Dataset, Image
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


def nifti_bytes(*, shape: Sequence[int], spacing_mm: Sequence[float], fill: int) -> bytes:
    """The bytes of a small int16 ``.nii.gz`` volume of the given geometry, every voxel ``fill``."""
    volume = sitk.GetImageFromArray(np.full(tuple(reversed(shape)), fill, dtype=np.int16))
    volume.SetSpacing(tuple(spacing_mm))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.nii.gz"
        sitk.WriteImage(volume, str(path))
        return path.read_bytes()


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    class Params:
        fill = factory.Sequence(lambda n: n % 1000)
        content = factory.LazyAttribute(
            lambda image: nifti_bytes(shape=image.shape, spacing_mm=image.spacing_mm, fill=image.fill)
        )

    case = factory.SubFactory(CaseFactory)
    interface = "non-contrast-ct"
    shape = factory.LazyFunction(lambda: [6, 5, 4])
    spacing_mm = factory.LazyFunction(lambda: [0.5, 0.5, 2.0])
    pixel_type = "int16"
    sha256 = factory.LazyAttribute(lambda image: hashlib.sha256(image.content).hexdigest())
    size_bytes = factory.LazyAttribute(lambda image: len(image.content))
    file = factory.LazyAttribute(lambda image: ContentFile(image.content, name="image.nii.gz"))
