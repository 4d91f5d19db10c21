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
from benchmarks.measure import (  # noqa: E402
    fit_slope,
    floor_calls,
    prepare_step,
    primitive_minima,
    traffic_floor,
    width_floor,
    work_log,
)
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
        "## Tiny singular values, small step",
        "## Tucker tensors",
        "cheapest for a given accuracy",
        "fixed part (the step at n = 2^5)",
    ):
        assert heading in text
    for png in ("time_vs_n.png", "time_vs_r.png", "work_precision.png"):
        assert (img / png).stat().st_size > 1000
    assert saved["env"]["numpy"] == np.__version__
    assert saved["orthonormality"] <= 1e-12
    records = json.loads((img / "results.json").read_text())["records"]
    assert {r["method"] for r in records["n_scan"]} == {"ksl", "bug", "midpoint_bug"}
    # the overhead table splits each step into its fixed part (the step at a tiny n) and the rest
    fixed = {r["method"]: r["time"] for r in records["overhead_fixed"]}
    assert set(fixed) == {"ksl", "bug", "midpoint_bug"} and min(fixed.values()) > 0
    assert {r["n"] for r in records["overhead_fixed"]} == {2**5}
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


def test_work_log_records_the_width_of_every_operation_and_restores_the_context():
    from dlra.integrators.base import StepContext

    before = {name: getattr(StepContext, name) for name in ("k_step", "s_step", "augment")}
    problem = make_problem("heat", 64, 3)
    _, bug = prepare_step(problem, "bug", memory=False)
    # K-step (4 RK4 stages on n × r), its QR, L-step, its QR, one S-step (its projection)
    assert bug.work == [("eval", 3, 4), ("qr", 3, 1), ("eval", 3, 4), ("qr", 3, 1), ("eval", 3, 1)]
    _, aug = prepare_step(problem, "augmented_bug", memory=False)
    # augmentations orthonormalise the r new directions; the Galerkin S-step is on 2r
    assert aug.work[-1] == ("eval", 6, 1) and aug.widths == [3, 6]
    _, mid = prepare_step(problem, "midpoint_bug", memory=False)
    assert max(mid.widths) > 6  # the Galerkin step on the ≤ 4r basis
    # every counted evaluation is logged, except the S-step's stages after its first
    assert sum(c for k, _, c in bug.work if k == "eval") == bug.nfev - 3
    assert {name: getattr(StepContext, name) for name in before} == before
    with pytest.raises(RuntimeError), work_log():
        raise RuntimeError  # the wrappers are removed on errors too
    assert StepContext.k_step is before["k_step"]


def test_width_floor_prices_each_operation_at_its_width():
    problem = make_problem("schrodinger", 64, 2)  # two sparse and two small products

    from types import SimpleNamespace

    result = SimpleNamespace(work=[("eval", 2, 4), ("qr", 2, 1), ("eval", 4, 1), ("qr", 4, 1)])

    prims = {
        2: {"spmm": 1.0, "small": 10.0, "gram": 100.0},
        4: {"spmm": 2.0, "small": 40.0, "gram": 400.0},
    }
    expected = 4 * (2 * 1.0 + 2 * 10.0) + 100.0 + (2 * 2.0 + 2 * 40.0) + 400.0
    assert width_floor(problem, result, prims) == expected
    result.work = []
    assert width_floor(problem, result, prims) is None


def test_floor_calls_at_a_width_multiply_blocks_of_that_width():
    problem = make_problem("heat", 32, 3)
    for width in (None, 3, 7):
        outs = {name: fn() for name, fn in floor_calls(problem, width).items()}
        w = width or 3
        assert outs["spmm"].shape == (32, w) and outs["small"].shape == (32, w)
        assert outs["gram"].shape == (w, w)
        assert np.linalg.matrix_rank(outs["gram"]) >= 3  # not a block of zeros
        # the variants of a primitive compute the same product
        np.testing.assert_allclose(outs["small@chunks"], outs["small"], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(outs["small@into"], outs["small"], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(outs["spmm@into"], outs["spmm"], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(outs["gram@chunks"], outs["gram"], rtol=1e-13, atol=1e-13)


def test_floor_calls_into_variants_reuse_one_result_block():
    """The `@into` variants time the product, not the allocation of its result: every call
    writes the same block (a fresh n × w result per call would be charged its page faults)."""
    for problem in (make_problem("heat", 64, 3), make_problem("schrodinger", 64, 3)):
        calls = floor_calls(problem, 5)
        for name in ("small@into", "small@chunks", "spmm@into"):
            first, second = calls[name](), calls[name]()
            assert first is second, name
        # the sparse variant accumulates, y += A K, as the step's kernel does
        product = calls["spmm"]()
        np.testing.assert_allclose(calls["spmm@into"](), 3 * product, rtol=1e-12, atol=1e-12)


def test_primitive_minima_take_the_fastest_variant():
    times = {"spmm": [3.0, 2.0], "small": [5.0], "small@chunks": [4.0, 6.0], "gram@chunks": [1.0]}
    assert primitive_minima(times) == {"spmm": 2.0, "small": 4.0, "gram": 1.0}


def test_fit_slope_recovers_a_power_law():
    xs = [2.0**k for k in range(10, 21, 2)]
    slope, intercept = fit_slope(xs, [3.0 * x**1.07 for x in xs])
    assert abs(slope - 1.07) <= 1e-12
    assert abs(intercept - np.log(3.0)) <= 1e-10
