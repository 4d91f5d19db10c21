"""Rank adaptivity, truncation and conservation of the rank-adaptive schemes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import dlra

from .problems import RotatingData, schrodinger, schrodinger_initial


def test_rank_grows_where_the_solution_needs_it():
    """Sylvester field with a rank-3 source from a rank-2 start: the solution's numerical rank grows;
    the adaptive BUG follows it (at most doubling per step) and beats the fixed rank-2 BUG by far."""
    from scipy.integrate import solve_ivp

    p = RotatingData(n=30, m=24, rank=2)
    rng = np.random.default_rng(4)
    G = dlra.LowRankMatrix.from_dense(
        rng.standard_normal((30, 3)) @ rng.standard_normal((3, 24)), rank=3
    )
    field = dlra.LinearField([(p.B1, None), (None, p.B2)], source=lambda t: G)
    Gd = G.to_dense()

    def rhs(t, y):
        Y = y.reshape(30, 24)
        return (p.B1 @ Y + Y @ p.B2.T + Gd).ravel()

    A1 = solve_ivp(rhs, (0, 1), p.D.ravel(), rtol=1e-12, atol=1e-12, method="DOP853").y[:, -1]
    A1 = A1.reshape(30, 24)
    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=2)
    adaptive = dlra.solve(
        field, Y0, (0, 1), h=0.02, method="adaptive_bug", tol=1e-8, save_at="steps"
    )
    fixed = dlra.solve(field, Y0, (0, 1), h=0.02, method="bug")
    ranks = adaptive.step_ranks
    assert ranks[0] == 2 and ranks[-1] > 5
    assert all(b <= 2 * a for a, b in itertools.pairwise(ranks))
    # first-order error O(h ‖F‖) ≈ 2 % at h = 0.02; the rank-2 BUG misses most of the solution
    assert adaptive.y[-1].distance(A1) <= 0.05 * np.linalg.norm(A1)
    assert adaptive.y[-1].distance(A1) <= 0.1 * fixed.y[-1].distance(A1)


def test_rank_truncates_when_data_lose_rank():
    """Singular values that decay away are dropped: rank falls to what the tolerance needs."""
    n = 30
    rng = np.random.default_rng(2)
    Q1, _ = np.linalg.qr(rng.standard_normal((n, n)))
    Q2, _ = np.linalg.qr(rng.standard_normal((n, n)))

    def A(t):
        s = np.array([1.0, 0.5, np.exp(-20 * t), np.exp(-30 * t)])
        return (Q1[:, :4] * s) @ Q2[:, :4].T

    Y0 = dlra.LowRankMatrix.from_dense(A(0.0), rank=4)
    sol = dlra.solve(
        dlra.DataField(A), Y0, (0, 1), h=0.05, method="adaptive_bug", tol=1e-6, substep="exact"
    )
    assert sol.ranks[-1] == 2
    assert sol.y[-1].distance(A(1.0)) <= 2e-6


@pytest.mark.parametrize("rule", [{"tol": 1e-3}, {"rtol": 1e-3}])
def test_truncation_tolerance_is_respected_per_step(rule):
    """One adaptive step discards at most ϑ = tol + rtol·‖Ŝ‖ (ℓ2 tail)."""
    p = RotatingData(n=30, m=30, sigma=2.0 ** -np.arange(1, 21), scale=1.0)
    Y0 = dlra.LowRankMatrix.from_dense(p.A(0.0), rank=20)
    integrator = dlra.get_integrator("adaptive_bug", substep="exact", **rule)
    field = dlra.DataField(p.A, p.dA)
    Y1 = integrator.step(field, Y0, 0.0, 0.1)
    # compare with the untruncated augmented Galerkin result: the big-tolerance step discards ≤ ϑ
    full = dlra.get_integrator("adaptive_bug", substep="exact", tol=0.0, max_rank=60).step(
        field, Y0, 0.0, 0.1
    )
    theta = rule.get("tol", 0.0) + rule.get("rtol", 0.0) * full.norm()
    assert Y1.rank < full.rank
    assert Y1.distance(full) <= theta * (1 + 1e-10)


def test_min_and_max_rank_clamp():
    p = RotatingData(n=30, m=30, sigma=2.0 ** -np.arange(1, 21), scale=1.0)
    Y0 = dlra.LowRankMatrix.from_dense(p.A(0.0), rank=8)
    field = dlra.DataField(p.A, p.dA)
    big = dlra.solve(
        field,
        Y0,
        (0, 0.5),
        h=0.1,
        method="adaptive_bug",
        tol=1e-14,
        max_rank=10,
        substep="exact",
        save_at="steps",
    )
    assert max(big.step_ranks) == 10
    small = dlra.solve(
        field, Y0, (0, 0.5), h=0.1, method="adaptive_bug", tol=10.0, min_rank=3, substep="exact"
    )
    assert small.ranks[-1] == 3


@pytest.mark.parametrize("method", ["adaptive_bug", "parallel_bug"])
def test_schrodinger_rank_adaptivity_and_norm(method):
    """T4 (reduced size): ranks grow from 4; adaptive BUG conserves the norm up to nϑ with exact
    substeps, the parallel BUG does not (its dropped block changes the norm by more)."""
    N = 40
    terms, coeffs, _ = schrodinger(N)
    field = dlra.LinearField(terms, coeffs)
    A0 = schrodinger_initial(N).astype(complex)
    Y0 = dlra.LowRankMatrix.from_dense(A0, rank=4)
    tol, h, T = 1e-6, 0.05, 1.0
    sol = dlra.solve(
        field,
        Y0,
        (0, T),
        h=h,
        method=method,
        tol=tol,
        max_rank=30,
        substep="exact",
        save_at="steps",
    )
    norms = np.array([y.norm() for y in sol.y])
    drift = np.max(np.abs(norms - norms[0]))
    n_steps = round(T / h)
    assert max(sol.step_ranks) > 4
    if method == "adaptive_bug":
        assert drift <= n_steps * tol * 1.0001
    else:
        assert drift > n_steps * tol


def test_adaptive_bug_energy_conservation():
    """Energy E(Y) = Re⟨Y, H[Y]⟩ of T4 is kept up to C nϑ by the adaptive BUG with exact substeps."""
    N = 40
    terms, coeffs, (D, Vc) = schrodinger(N)
    field = dlra.LinearField(terms, coeffs)
    A0 = schrodinger_initial(N).astype(complex)

    def energy(Y):
        Yd = Y.to_dense()
        H = 0.5 * (D @ Yd + Yd @ D) + Vc @ Yd @ Vc
        return float(np.real(np.vdot(Yd, H)))

    tol = 1e-7
    sol = dlra.solve(
        field,
        dlra.LowRankMatrix.from_dense(A0, rank=6),
        (0, 1),
        h=0.05,
        method="adaptive_bug",
        tol=tol,
        substep="exact",
        save_at="steps",
    )
    E = np.array([energy(y) for y in sol.y])
    H_norm = 4.0 + 4.0  # ‖D‖₂ ≤ 4, ‖Vc‖₂² ≤ 4
    assert np.max(np.abs(E - E[0])) <= 2 * H_norm * 20 * tol


def test_parallel_bug_step_rejection_counts_and_accuracy():
    """Rejection redoes steps with doubled bases: counted, and no less accurate than without."""
    p = RotatingData(n=40, m=40, rank=8, scale=3.0)
    field = dlra.DataField(p.A, p.dA)
    Y0 = dlra.LowRankMatrix.from_dense(p.A(0.0), rank=1)
    plain = dlra.solve(field, Y0, (0, 1), h=0.1, method="parallel_bug", tol=1e-4, substep="exact")
    rejecting = dlra.solve(
        field, Y0, (0, 1), h=0.1, method="parallel_bug", tol=1e-4, substep="exact", rejection=True
    )
    assert rejecting.n_rejected > 0
    assert plain.n_rejected == 0
    A1 = p.A(1.0)
    assert rejecting.y[-1].distance(A1) < plain.y[-1].distance(A1)


def _decay(t, Y):
    return -Y


_Y0_RANK4 = dlra.LowRankMatrix.from_dense(
    np.random.default_rng(0).standard_normal((30, 30)), rank=4
)


@pytest.mark.parametrize(
    ("method", "options", "ranks"),
    [
        # without a tolerance the truncating methods keep the rank within [min_rank, max_rank]
        ("augmented_bug", {"max_rank": 2}, [4, 2]),
        ("midpoint_bug", {"min_rank": 6, "max_rank": 7}, [4, 4]),  # F adds no new directions
        ("parallel_bug2", {"max_rank": 3}, [4, 3]),
        ("parallel_bug", {"rank": 3}, [3, 3]),
        # with a tolerance `rank` is the initial rank and ϑ chooses the rank after each step
        ("augmented_bug", {"tol": 1e3, "rank": 4}, [4, 1]),
        ("adaptive_bug", {"tol": 1e-8, "rank": 6}, [6, 4]),
        ("adaptive_bug", {"tol": 1e3, "min_rank": 2}, [4, 2]),
    ],
)
def test_rank_options_of_truncating_methods(method, options, ranks):
    sol = dlra.solve(_decay, _Y0_RANK4, (0, 1), h=0.5, method=method, **options)
    assert sol.ranks == ranks
    # Ẏ = −Y: every kept direction decays like e^{−t}
    kept = min(ranks[-1], 4)
    exact = dlra.LowRankMatrix.from_dense(np.exp(-1.0) * _Y0_RANK4.to_dense(), rank=kept)
    assert sol.y[-1].distance(exact.to_dense()) <= 1e-3 * exact.norm()


@pytest.mark.parametrize("method", ["augmented_bug", "midpoint_bug", "parallel_bug2"])
def test_min_rank_keeps_new_directions(method):
    """``F = −Y + G`` with a rank-3 ``G`` outside range(Y₀): the augmented bases have room, and
    ``min_rank`` keeps at least that many directions."""
    rng = np.random.default_rng(2)
    G = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 30))
    sol = dlra.solve(
        lambda t, Y: -Y + G, _Y0_RANK4, (0, 1), h=0.5, method=method, min_rank=6, max_rank=7
    )
    assert sol.ranks == [4, 6]


@pytest.mark.parametrize("method", ["ksl", "strang", "bug"])
def test_fixed_rank_methods_reject_min_rank(method):
    with pytest.raises(ValueError, match="tol, rtol, min_rank and max_rank do not apply"):
        dlra.solve(_decay, _Y0_RANK4, (0, 1), h=0.5, method=method, min_rank=2)


@pytest.mark.parametrize("method", ["ksl", "augmented_bug", "adaptive_bug"])
def test_an_instance_made_with_a_rank_brings_y0_to_it(method):
    options = {"tol": 1e-10} if method == "adaptive_bug" else {}
    integrator = dlra.get_integrator(method, rank=6, **options)
    sol = dlra.solve(_decay, _Y0_RANK4, (0, 1), h=0.5, method=integrator)
    assert sol.ranks[0] == 6
    assert sol.ranks[-1] == (4 if method == "adaptive_bug" else 6)


def test_numpy_integer_ranks_are_accepted():
    A = np.random.default_rng(1).standard_normal((10, 8))
    assert dlra.LowRankMatrix.from_dense(A, rank=np.int64(3)).rank == 3
    sol = dlra.solve(_decay, _Y0_RANK4, np.array([0.0, 1.0]), h=0.5, method="bug", rank=np.int64(2))
    assert sol.ranks == [2, 2]


@pytest.mark.parametrize("kind", ["matrix", "tucker"])
def test_midpoint_3r_with_a_tolerance_truncates_the_half_step_to_rank_r(kind):
    """integrators.md §2.5.1: the 3r variant brings the half step back to rank r, so the full
    Galerkin basis has at most 3r columns (4r for the 4r variant) even when ϑ keeps everything."""
    rng = np.random.default_rng(0)
    if kind == "matrix":
        n, r = 30, 3
        A, B, G = (rng.standard_normal((n, n)) / 5 for _ in range(3))

        def F(t, Y):
            return A @ Y + Y @ B.T + 0.3 * np.sin(Y) + G

        Y0 = dlra.LowRankMatrix.from_dense(rng.standard_normal((n, n)), rank=r)
    else:
        n, r = 8, 2
        W = rng.standard_normal((n, n, n)) / 5

        def F(t, Y):
            return -Y + 0.3 * np.sin(Y) + W

        Y0 = dlra.TuckerTensor.from_dense(rng.standard_normal((n, n, n)), ranks=r)
    widths = {}
    for variant in ("3r", "4r"):
        sol = dlra.solve(F, Y0, (0, 0.1), h=0.1, method="midpoint_bug", variant=variant, tol=1e-12)
        final = sol.ranks[-1]
        widths[variant] = final if kind == "matrix" else max(final)
    assert widths == {"3r": 3 * r, "4r": 4 * r}
