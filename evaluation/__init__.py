"""Exact ISLES metrics, metric profiles, ranking and statistics: pure Python, no Django.

The portal calls this package; it also runs alone: ``python -m evaluation score --help``.
"""
