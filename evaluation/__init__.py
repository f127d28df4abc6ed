"""The science of judging lesion masks, in pure Python with no Django: image I/O, the exact ISLES metrics
and metric profiles, ranking and statistics, lesion volume as a biomarker (``biomarkers``: ICC,
Bland-Altman, clinical correlations), results by subgroup (``subgroups``), the reader-study statistics
(``preference``), annotators' agreement and the checks of saved masks, blinding, the safe opening of
participants' archives, and the leaderboard's SVG plots.

The portal calls this package; it also runs alone: ``python -m evaluation score --help``.
"""
