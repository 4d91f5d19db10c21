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


@pytest.mark.parametrize("n", [2**10, 2**16])
@pytest.mark.parametrize("method", METHODS)
def test_graded_heat_step(benchmark, method, n):
    """Singular values down to 1e-14 and h = 1e-3: the ill-conditioned paths."""
    Y1 = step_benchmark(benchmark, "heat_graded", n, 16, method)
    assert np.isfinite(Y1.norm())


def _conditioned(n: int, k: int, cond: float) -> np.ndarray:
    """n × k with singular values from 1 to 1/cond in random directions."""
    rng = np.random.default_rng(0)
    P, _ = np.linalg.qr(rng.standard_normal((n, k)))
    W, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return (P * np.logspace(0, -np.log10(cond), k)) @ W


@pytest.mark.parametrize("cond", [1.0, 1e14], ids=["well", "ill"])
@pytest.mark.parametrize("n,k", [(2**16, 16), (2**18, 32)])
def test_orthonormalize(benchmark, n, k, cond):
    X = _conditioned(n, k, cond)
    Q, _ = benchmark(dlra.orthonormalize, X)
    assert np.linalg.norm(Q.T @ Q - np.eye(k)) <= 1e-12


@pytest.mark.parametrize("residual", ["full", "singular"])
@pytest.mark.parametrize("n,k", [(2**16, 16), (2**18, 32)])
def test_augment_basis(benchmark, n, k, residual):
    """``singular``: half of the new directions repeat the others (a rank-deficient residual,
    the general path)."""
    rng = np.random.default_rng(0)
    U0, _ = dlra.orthonormalize(rng.standard_normal((n, k)))
    D = 1e-3 * rng.standard_normal((n, k))
    if residual == "singular":
        D[:, k // 2 :] = D[:, : k // 2]
    K = U0 @ rng.standard_normal((k, k)) + D
    U_new, U_hat = benchmark(dlra.augment_basis, U0, K)
    assert U_new.shape[1] == (k if residual == "full" else k // 2)
    assert np.linalg.norm(U_hat.T @ U_hat - np.eye(U_hat.shape[1])) <= 1e-12
