"""Structured fields never form the n × m array: a 100 000 × 100 000 problem at rank 20."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import dlra

N = 100_000
RANK = 20


def heat_field(n: int) -> dlra.LinearField:
    L = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n), format="csr") * (n / 10.0)
    return dlra.LinearField([(L, None), (None, L)])


def random_state(n: int, r: int) -> dlra.LowRankMatrix:
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n, r)))
    return dlra.LowRankMatrix(U, np.diag(2.0 ** -np.arange(r)), V)


@pytest.mark.parametrize("method", ["ksl", "bug", "adaptive_bug", "parallel_bug", "midpoint_bug"])
def test_step_without_dense_allocation(method):
    field = heat_field(N)
    Y0 = random_state(N, RANK)
    opts = {"tol": 1e-8, "max_rank": 40} if method in ("adaptive_bug", "parallel_bug") else {}
    integrator = dlra.get_integrator(method, **opts)
    tracemalloc.start()
    Y1 = integrator.step(field, Y0, 0.0, 1e-3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    block = N * RANK * 8  # one n × r float64 block: 16 MB
    assert Y1.shape == (N, N)
    assert np.isfinite(Y1.norm())
    # a step holds a few dozen n × r (≤ 4r wide) blocks at most; an n × m array would need 80 GB
    assert peak <= 80 * block, f"peak {peak / 1e6:.0f} MB"
    # orthonormality of the new factors
    for X in (Y1.U, Y1.V):
        assert np.linalg.norm(X.T @ X - np.eye(X.shape[1])) <= 1e-12


def test_torch_sparse_large():
    torch = pytest.importorskip("torch")
    n = 50_000
    L = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n), format="coo") * (n / 10.0)
    Lt = torch.sparse_coo_tensor(np.vstack([L.row, L.col]), L.data, (n, n))
    field = dlra.LinearField([(Lt, None), (None, Lt)])
    Y = random_state(n, RANK)
    Yt = dlra.LowRankMatrix(*(torch.as_tensor(x) for x in Y), check=False)
    sol = dlra.solve(field, Yt, (0.0, 2e-3), h=1e-3, method="bug")
    ref = dlra.solve(heat_field(n), Y, (0.0, 2e-3), h=1e-3, method="bug")
    diff = sol.y[-1].distance(
        dlra.LowRankMatrix(*(torch.as_tensor(x) for x in ref.y[-1]), check=False)
    )
    assert diff <= 1e-10 * ref.y[-1].norm()
