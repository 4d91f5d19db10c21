"""pytest-benchmark cases: one step of every matrix integrator, and the linear-algebra kernels.

Run with ``pytest benchmarks --benchmark-enable`` (``--benchmark-only`` to skip nothing else).
Sizes are moderate (a full run takes a minute or two); the scaling study is
``benchmarks/run_benchmarks.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import dlra
from benchmarks.measure import integrator_for
from benchmarks.problems import make_problem

METHODS = list(dlra.INTEGRATORS)
SIZES = [(2**10, 8), (2**16, 16)]


def step_benchmark(benchmark, kind: str, n: int, r: int, method: str, backend: str = "numpy"):
    """Benchmark one step of ``method`` on problem ``kind``; returns the new state."""
    problem = make_problem(kind, n, r, backend)
    integ = integrator_for(method)
    integ.step(problem.field, problem.Y0, 0.0, problem.h)  # warm the operator caches
    return benchmark(integ.step, problem.field, problem.Y0, 0.0, problem.h)


@pytest.mark.parametrize("n,r", SIZES, ids=[f"n{n}-r{r}" for n, r in SIZES])
@pytest.mark.parametrize("method", METHODS)
def test_heat_step(benchmark, method, n, r):
    Y1 = step_benchmark(benchmark, "heat", n, r, method)
    assert np.isfinite(Y1.norm())


@pytest.mark.parametrize("method", ["ksl", "bug", "midpoint_bug"])
def test_schrodinger_step(benchmark, method):
    Y1 = step_benchmark(benchmark, "schrodinger", 2**14, 16, method)
    assert np.isfinite(Y1.norm())


@pytest.mark.parametrize("method", ["ksl", "bug", "augmented_bug"])
def test_torch_heat_step(benchmark, method):
    pytest.importorskip("torch")
    Y1 = step_benchmark(benchmark, "heat", 2**14, 16, method, backend="torch")
    assert np.isfinite(Y1.norm())


@pytest.mark.parametrize("n,k", [(2**16, 16), (2**18, 32)])
def test_orthonormalize(benchmark, n, k):
    X = np.random.default_rng(0).standard_normal((n, k))
    Q, _ = benchmark(dlra.orthonormalize, X)
    assert np.linalg.norm(Q.T @ Q - np.eye(k)) <= 1e-12


@pytest.mark.parametrize("n,k", [(2**16, 16), (2**18, 32)])
def test_augment_basis(benchmark, n, k):
    rng = np.random.default_rng(0)
    U0, _ = dlra.orthonormalize(rng.standard_normal((n, k)))
    K = U0 @ rng.standard_normal((k, k)) + 1e-3 * rng.standard_normal((n, k))
    _, U_hat = benchmark(dlra.augment_basis, U0, K)
    assert np.linalg.norm(U_hat.T @ U_hat - np.eye(U_hat.shape[1])) <= 1e-12
