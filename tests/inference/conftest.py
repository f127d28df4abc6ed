"""Fixtures of the container runtime's tests: the busybox algorithm images of ``tests.inference.images``."""

from tests.inference.images import algorithm_image

__all__ = ["algorithm_image"]
