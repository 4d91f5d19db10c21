"""Benchmarks of dlra: problems, measurement helpers, the pytest-benchmark suite and the report script.

Run the report with ``python benchmarks/run_benchmarks.py`` (writes ``docs/benchmarks.md``) and the
suite with ``pytest benchmarks --benchmark-enable``.  Neither is part of the normal test run.
"""
