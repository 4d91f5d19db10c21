"""Validation suite of ``dlra``: the analytic problem library, the studies that check each
integrator against the theory (order, exactness, robustness, truncation, conservation, rank
adaptivity, symmetry, reproductions of published figures) and the ``dlra validate`` command.

See ``docs/validation.md`` for how to read the report.
"""
