"""Building blocks: orthonormalisation, basis augmentation, truncation rules, LowRankMatrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlra
from dlra.linalg import RankControl, augment_basis, orthonormalize, truncate, truncation_rank


def defect(Q) -> float:
    Q = np.asarray(Q)
    return float(np.linalg.norm(Q.conj().T @ Q - np.eye(Q.shape[1])))


@pytest.mark.parametrize("n", [50, 5000])
@pytest.mark.parametrize("cond", [1.0, 1e6, 1e12])
def test_orthonormalize_is_orthonormal_and_factors(n, cond, xp):
    """Both paths (Householder, Cholesky-QR2 with fallback) give ‖QᴴQ − I‖ ≤ 1e-12 and X = QR."""
    rng = np.random.default_rng(1)
    k = 8
    P, _ = np.linalg.qr(rng.standard_normal((n, k)))
    W, _ = np.linalg.qr(rng.standard_normal((k, k)))
    X = (P * np.logspace(0, -math.log10(cond), k)) @ W
    Q, R = orthonormalize(xp.asarray(X))
    Q, R = xp.to_numpy(Q), xp.to_numpy(R)
    assert defect(Q) <= 1e-12
    assert np.linalg.norm(Q @ R - X) <= 1e-12 * np.linalg.norm(X)


@pytest.mark.parametrize("n", [40, 4000])
def test_augment_keeps_u0_and_is_orthonormal(n, xp):
    rng = np.random.default_rng(2)
    U0, _ = np.linalg.qr(rng.standard_normal((n, 5)))
    K = rng.standard_normal((n, 5))
    _, U_hat = augment_basis(xp.asarray(U0), xp.asarray(K))
    U_hat = xp.to_numpy(U_hat)
    assert np.array_equal(U_hat[:, :5], U0)  # U0 verbatim, not a sign-flipped Q factor
    assert U_hat.shape[1] == 10
    assert defect(U_hat) <= 1e-12
    # range(K) ⊆ range(Û)
    assert np.linalg.norm(K - U_hat @ (U_hat.T @ K)) <= 1e-12 * np.linalg.norm(K)


@pytest.mark.parametrize("n", [40, 4000])
def test_augment_with_directions_already_in_the_basis(n):
    """K ∈ range(U0) (the parallel-BUG blow-up case): no spurious directions, U0 untouched."""
    rng = np.random.default_rng(3)
    U0, _ = np.linalg.qr(rng.standard_normal((n, 6)))
    K = U0 @ rng.standard_normal((6, 3)) + 1e-18 * rng.standard_normal((n, 3))
    U_new, U_hat = augment_basis(U0, K)
    assert U_new.shape[1] == 0
    assert np.array_equal(U_hat, U0)
    # partially inside: one new direction only
    K2 = np.hstack([U0[:, :2], rng.standard_normal((n, 1))])
    U_new2, U_hat2 = augment_basis(U0, K2)
    assert U_new2.shape[1] == 1
    assert defect(U_hat2) <= 1e-12


def test_augment_caps_at_n():
    rng = np.random.default_rng(4)
    U0, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    _, U_hat = augment_basis(U0, rng.standard_normal((6, 4)))
    assert U_hat.shape == (6, 6)
    assert defect(U_hat) <= 1e-12


@pytest.mark.parametrize(
    ("sigma", "control", "expected"),
    [
        ([3.0, 2.0, 1.0], RankControl(tol=0.0), 3),  # keep all
        ([3.0, 2.0, 1.0], RankControl(tol=10.0), 1),  # keep one (never zero)
        ([3.0, 2.0, 1.0], RankControl(tol=1.0), 2),  # tail exactly ϑ is admissible
        ([3.0, 0.6, 0.8], RankControl(tol=0.9), 2),  # ℓ2 tail: √(0.6²+0.8²) = 1 > 0.9 ≥ 0.8
        ([3.0, 0.6, 0.8], RankControl(tol=1.0), 1),  # ℓ1 sum 1.4 would keep 2 — we use ℓ2
        ([4.0, 3.0], RankControl(rtol=0.6), 1),  # ϑ = 0.6·5 = 3
        ([4.0, 3.0], RankControl(tol=0.1, rtol=0.5), 2),  # ϑ = 0.1 + 0.5·5 = 2.6 < 3: keep 2
        ([1.0] * 6, RankControl(tol=0.0, max_rank=4), 4),
        ([1.0, 1e-9], RankControl(tol=1e-6, min_rank=2), 2),
        ([3.0, 2.0, 1.0], RankControl(rank=2), 2),
    ],
)
def test_truncation_rank_rules(sigma, control, expected):
    assert truncation_rank(np.array(sigma), control) == expected


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(1e-8, 1e3), min_size=1, max_size=12),
    st.floats(0.0, 10.0),
)
def test_truncation_is_minimal_and_within_tolerance(values, tol):
    """Property: the kept rank is the smallest whose ℓ2 tail is ≤ ϑ."""
    sigma = np.sort(np.array(values))[::-1]
    r = truncation_rank(sigma, RankControl(tol=tol))
    tail = math.sqrt(float(np.sum(sigma[r:] ** 2)))
    assert tail <= tol * (1 + 1e-12) or r == len(sigma)
    if r > 1:
        assert math.sqrt(float(np.sum(sigma[r - 1 :] ** 2))) > tol


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(7, 15), st.integers(7, 12), st.integers(0, 10_000))
def test_truncate_error_equals_discarded_tail(r, n, m, seed):
    """Property: ‖U S Vᴴ − U₁ S₁ V₁ᴴ‖_F equals the reported tail (Eckart–Young)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, m))
    full = dlra.LowRankMatrix.from_dense(A, rank=min(n, m))
    u, s, v, tail = truncate(full.U, full.S, full.V, RankControl(rank=r))
    approx = u @ s @ v.T
    assert abs(np.linalg.norm(A - approx) - tail) <= 1e-10 * np.linalg.norm(A)


def test_lowrank_matrix_basics(xp):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 4)) @ rng.standard_normal((4, 20))
    Y = dlra.LowRankMatrix.from_dense(xp.asarray(A))
    assert Y.rank == 4  # numerical rank without rank/tol
    assert Y.shape == (30, 20)
    assert Y.norm() == pytest.approx(np.linalg.norm(A), rel=1e-12)
    assert np.linalg.norm(xp.to_numpy(Y.to_dense()) - A) <= 1e-12 * np.linalg.norm(A)
    Y2 = dlra.LowRankMatrix.from_dense(xp.asarray(A), rank=2)
    s = np.linalg.svd(A, compute_uv=False)
    assert Y.distance(Y2) == pytest.approx(np.sqrt(np.sum(s[2:] ** 2)), rel=1e-8)
    Yt = dlra.LowRankMatrix.from_dense(xp.asarray(A), tol=s[3] * 1.0001)
    assert Yt.rank == 3
    U, S, V = Y  # unpacking
    assert U.shape == (30, 4) and S.shape == (4, 4) and V.shape == (20, 4)
    with pytest.raises(AttributeError, match="immutable"):
        Y.U = U


def test_complex_lowrank_uses_conjugate_transpose():
    rng = np.random.default_rng(6)
    A = (rng.standard_normal((12, 3)) + 1j * rng.standard_normal((12, 3))) @ (
        rng.standard_normal((3, 9)) + 1j * rng.standard_normal((3, 9))
    )
    Y = dlra.LowRankMatrix.from_dense(A, rank=3)
    assert np.linalg.norm(Y.to_dense() - A) <= 1e-12 * np.linalg.norm(A)
    assert np.linalg.norm(Y.U @ Y.S @ Y.V.conj().T - A) <= 1e-12 * np.linalg.norm(A)
