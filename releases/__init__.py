"""A challenge's data release: its folder layout, reading one, making a synthetic one. Pure Python, no Django.

The portal's importer calls this package (``portal.datasets.services``); scripts, the benchmarks and the
reference algorithms' training use it alone.
"""
