"""The benchmark script and the pytest-benchmark suite run (at tiny size) and write their report."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import run_benchmarks  # noqa: E402
from benchmarks.measure import fit_slope, traffic_floor  # noqa: E402
from benchmarks.problems import make_problem  # noqa: E402


@pytest.mark.slow
def test_script_writes_report_and_rerenders(tmp_path):
    out, img = tmp_path / "bench.md", tmp_path / "img"
    saved = run_benchmarks.main(
        ["--quick", "--out", str(out), "--img", str(img), "--methods", "ksl,bug,midpoint_bug"]
    )
    text = out.read_text(encoding="utf-8")
    for heading in (
        "## Goals of issue 6",
        "## Scaling in n",
        "## Scaling in r",
        "## Against dense RK4",
        "## Tucker tensors",
        "cheapest for a given accuracy",
    ):
        assert heading in text
    for png in ("time_vs_n.png", "time_vs_r.png", "work_precision.png"):
        assert (img / png).stat().st_size > 1000
    assert saved["env"]["numpy"] == np.__version__
    assert saved["orthonormality"] <= 1e-12
    records = json.loads((img / "results.json").read_text())["records"]
    assert {r["method"] for r in records["n_scan"]} == {"ksl", "bug", "midpoint_bug"}
    # re-rendering from the saved records gives the same page
    out2 = tmp_path / "again.md"
    run_benchmarks.main(
        ["--from-json", str(img / "results.json"), "--out", str(out2), "--img", str(img)]
    )
    assert out2.read_text(encoding="utf-8") == text


def test_one_pytest_benchmark_function_runs_once():
    """A benchmark of the suite, with a stand-in for the pytest-benchmark fixture."""
    from benchmarks import test_bench_matrix

    calls = []

    def benchmark(fn, *args):
        calls.append(fn)
        return fn(*args)

    test_bench_matrix.test_heat_step(benchmark, "bug", 256, 4)
    assert len(calls) == 1


def test_floor_model_counts_every_evaluation_and_orthonormalisation():
    problem = make_problem("schrodinger", 64, 2)

    class Result:
        nfev, n_qr = 12, 2

    prims = {"spmm": 1.0, "small": 10.0, "gram": 100.0}
    # Schrödinger terms: two sparse and two small products per evaluation
    assert traffic_floor(problem, Result(), prims) == 12 * (2 * 1.0 + 2 * 10.0) + 2 * 100.0


def test_fit_slope_recovers_a_power_law():
    xs = [2.0**k for k in range(10, 21, 2)]
    slope, intercept = fit_slope(xs, [3.0 * x**1.07 for x in xs])
    assert abs(slope - 1.07) <= 1e-12
    assert abs(intercept - np.log(3.0)) <= 1e-10
