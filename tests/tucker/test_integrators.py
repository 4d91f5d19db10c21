"""Exactness, convergence order, robustness, rank adaptivity and conservation of the Tucker
integrators (integrators.md §3 and §6)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.sparse as sp

import dlra
from dlra.tucker import TuckerTensor, multi_mode_product

from .integrator_table import BY_NAME, NAMES, ORDER_BAND, SPECS
from .problems import (
    RANKS,
    RotatingTucker,
    Sylvester,
    fitted_order,
    laplacian,
    random_tucker,
    schrodinger,
    solve_tucker,
)

EXACT = [s.name for s in SPECS if s.exact]
NOT_EXACT = [s.name for s in SPECS if not s.exact]
HS = (0.1, 0.05, 0.025, 0.0125)
VARIANTS = [(s.name, {}) for s in SPECS] + [
    ("midpoint_bug", {"variant": "3r"}),
    ("parallel_bug2", {"variant": "3r"}),
]


def _point_substep(method: str):
    """Exact substeps where the scheme only needs increments; schemes that evaluate F at a point
    (midpoint, second-order parallel) get accurate RK4 substeps on explicit data."""
    return dlra.RK4(4) if method in ("midpoint_bug", "parallel_bug2") else "exact"


@pytest.mark.parametrize("method", EXACT)
def test_exact_for_explicit_tucker_data(method):
    """A(t) = eᵗ C₀ ×ᵢ e^{tWᵢ}Qᵢ of multilinear rank (2, 3, 4) on 12 × 15 × 18 is reproduced."""
    p = RotatingTucker(scale=2.0)
    Y0 = TuckerTensor.from_dense(p.A(0.0), ranks=RANKS)
    sol = solve_tucker(
        p.field(), Y0, (0.0, 1.0), h=0.1, method=method, substep="exact", **BY_NAME[method].options
    )
    A1 = p.A(1.0)
    assert sol.success and sol.ranks[-1] == RANKS
    assert sol.y[-1].distance(A1) <= 1e-12 * np.linalg.norm(A1)


@pytest.mark.parametrize("method", NOT_EXACT)
def test_not_exact_where_theory_says_so(method):
    """Parallel and second-order BUG schemes are not exact: error above round-off, shrinking with h."""
    p = RotatingTucker(scale=2.0)
    Y0 = TuckerTensor.from_dense(p.A(0.0), ranks=RANKS)
    errors = [
        solve_tucker(p.field(), Y0, (0, 1), h=h, method=method, substep=_point_substep(method))
        .y[-1]
        .distance(p.A(1.0))
        for h in (0.1, 0.05)
    ]
    assert errors[0] > 1e-8 * np.linalg.norm(p.A(1.0))
    assert errors[1] < errors[0]


@pytest.mark.parametrize(
    ("method", "variant"),
    [(n, v) for n, v in VARIANTS if not BY_NAME[n].exact_for_tangent_linear],
    ids=lambda x: x if isinstance(x, str) else x.get("variant", ""),
)
def test_order_on_a_tangent_field(method, variant):
    """F(Y) = Σᵢ Y ×ᵢ Bᵢ keeps the multilinear rank (no modelling error): with exact substeps the
    fitted slope of error against h is the scheme's order (a lower bound for the augmented BUGs)."""
    p = Sylvester()
    Y0 = random_tucker(seed=2)
    ref = p.exact(Y0, 1.0)
    options = {**BY_NAME[method].options, **variant}
    errors = [
        solve_tucker(p.field(), Y0, (0, 1), h=h, method=method, substep="exact", **options)
        .y[-1]
        .distance(ref)
        for h in HS
    ]
    slope = fitted_order(HS, errors)
    spec = BY_NAME[method]
    assert slope >= spec.order - ORDER_BAND
    if not spec.order_is_lower_bound:
        assert slope <= spec.order + ORDER_BAND


@pytest.mark.parametrize("method", ["ksl", "strang"])
def test_projector_splitting_exact_for_tangent_linear_fields(method):
    p = Sylvester()
    Y0 = random_tucker(seed=2)
    sol = solve_tucker(p.field(), Y0, (0, 1), h=0.1, method=method, substep="exact")
    ref = p.exact(Y0, 1.0)
    assert sol.y[-1].distance(ref) <= 1e-12 * np.linalg.norm(ref)


@pytest.mark.parametrize("method", ["ksl", "strang"])
def test_projector_splitting_order_with_coupling(method):
    """With a rank-raising coupling term the splitting error shows: successive differences
    ‖Y_h − Y_{h/2}‖ decrease like h^order (exact substeps; the limit is the DLRA solution)."""
    shape = (8, 9, 10)
    p = Sylvester(shape=shape, coupling=0.5)
    Y0 = random_tucker(shape=shape, ranks=(2, 3, 3), seed=2)
    ys = [
        solve_tucker(p.field(), Y0, (0, 1), h=h, method=method, substep="exact").y[-1] for h in HS
    ]
    diffs = [ys[k].distance(ys[k + 1]) for k in range(len(HS) - 1)]
    assert abs(fitted_order(HS[:-1], diffs) - BY_NAME[method].order) <= ORDER_BAND


@pytest.mark.parametrize("method", ["ksl", "strang", "bug", "midpoint_bug"])
def test_time_dependent_coefficients(method):
    """c(t) = 1 + t on a tangent field: exact solution Y₀ ×ᵢ exp((t + t²/2) Bᵢ).  Projector splitting
    is then exact up to the RK4 substeps (slope ≈ 4 — a wrong stage time would show as order ≤ 2),
    the BUGs keep their order."""
    p = Sylvester()
    terms = [tuple(B if j == i else None for j in range(3)) for i, B in enumerate(p.B)]
    F = dlra.LinearField(terms, [lambda t: 1 + t] * 3)
    Y0 = random_tucker(seed=2)
    ref = multi_mode_product(Y0.to_dense(), [sl.expm(1.5 * B) for B in p.B])
    errors = [
        solve_tucker(F, Y0, (0, 1), h=h, method=method, substep=dlra.RK4(2)).y[-1].distance(ref)
        for h in HS
    ]
    slope = fitted_order(HS, errors)
    if BY_NAME[method].exact_for_tangent_linear:
        assert slope >= 3.5
    else:
        assert abs(slope - BY_NAME[method].order) <= ORDER_BAND


@pytest.mark.parametrize("method", NAMES)
def test_over_approximated_ranks_do_not_blow_up(method):
    """Data of multilinear rank (2, 3, 4) integrated with ranks (4, 5, 6): the extra directions carry
    zero singular values (S⁻¹ would be infinite), yet the error stays at the correct-rank level."""
    p = RotatingTucker(scale=2.0)
    Y0 = TuckerTensor.from_dense(p.A(0.0), ranks=RANKS)
    norm = np.linalg.norm(p.A(1.0))
    errors = []
    for rank in (RANKS, (4, 5, 6)):
        sol = solve_tucker(
            p.field(), Y0, (0, 1), h=0.1, method=method, substep=_point_substep(method),
            rank=rank, **BY_NAME[method].options,
        )  # fmt: skip
        # with a tolerance `rank` is the initial rank and ϑ drops the zero-weight directions
        adaptive = "tol" in BY_NAME[method].options
        assert sol.success and sol.ranks[0] == rank
        assert sol.ranks[-1] == (RANKS if adaptive else rank)
        errors.append(sol.y[-1].distance(p.A(1.0)))
    if BY_NAME[method].exact:
        assert errors[1] <= 1e-12 * norm
    else:
        assert errors[1] <= 2 * errors[0] + 1e-5 * norm


def _normalized(Y: TuckerTensor) -> TuckerTensor:
    return TuckerTensor(Y.core / Y.norm(), Y.factors)


def test_rank_adaptivity_per_mode():
    """The potential couples modes 1 and 2 only: their ranks grow, mode 3 keeps rank 2; a smaller
    tolerance gives larger ranks; max_rank applies per mode."""
    shape = (16, 18, 20)
    F = schrodinger(shape, couple=(0, 1))
    Y0 = _normalized(random_tucker(shape=shape, ranks=(2, 2, 2), complex_=True, seed=3))
    finals = {}
    for tol in (1e-4, 1e-8):
        sol = solve_tucker(
            F,
            Y0,
            (0, 0.5),
            h=0.05,
            method="adaptive_bug",
            substep="exact",
            tol=tol,
            save_at="steps",
        )
        assert all(r[2] == 2 for r in sol.step_ranks)
        finals[tol] = sol.ranks[-1]
        assert finals[tol][0] > 2 and finals[tol][1] > 2
    assert finals[1e-8][0] > finals[1e-4][0] and finals[1e-8][1] > finals[1e-4][1]
    sol = solve_tucker(
        F, Y0, (0, 0.5), h=0.05, method="adaptive_bug", substep="exact", tol=1e-8,
        max_rank=(4, None, None), save_at="steps",
    )  # fmt: skip
    assert max(r[0] for r in sol.step_ranks) == 4 and sol.ranks[-1][1] > 4


def test_adaptive_bug_conserves_the_norm():
    """i·Hermitian field, exact substeps: |‖Yₙ‖ − ‖Y₀‖| ≤ nϑ (the fixed-rank BUG drifts by O(h))."""
    shape = (10, 12, 14)
    F = schrodinger(shape, couple=(0, 1, 2))
    Y0 = _normalized(random_tucker(shape=shape, ranks=(2, 2, 2), complex_=True, seed=3))
    tol = 1e-6
    sol = solve_tucker(
        F, Y0, (0, 1), h=0.1, method="adaptive_bug", substep="exact", tol=tol, save_at="steps"
    )
    assert sol.ranks[-1] != (2, 2, 2)  # the rank did adapt
    drift = max(abs(y.norm() - 1.0) for y in sol.y)
    assert drift <= sol.n_steps * tol + 1e-12
    bug = solve_tucker(F, Y0, (0, 1), h=0.1, method="bug", substep="exact", save_at="steps")
    assert max(abs(y.norm() - 1.0) for y in bug.y) > 100 * sol.n_steps * tol


def test_parallel_bug_step_rejection():
    """Rejected steps are redone in the augmented bases: fewer dropped blocks, smaller norm drift."""
    shape = (10, 12, 14)
    F = schrodinger(shape, couple=(0, 1))
    Y0 = _normalized(random_tucker(shape=shape, ranks=(2, 2, 2), complex_=True, seed=3))
    runs = {
        rejection: solve_tucker(
            F,
            Y0,
            (0, 1),
            h=0.1,
            method="parallel_bug",
            substep="exact",
            tol=1e-6,
            rejection=rejection,
        )
        for rejection in (False, True)
    }
    assert runs[False].n_rejected == 0 and runs[True].n_rejected > 0
    drift = {k: abs(sol.y[-1].norm() - 1.0) for k, sol in runs.items()}
    assert drift[True] < 0.1 * drift[False]


@pytest.mark.parametrize(("method", "variant"), VARIANTS, ids=lambda x: str(x))
def test_large_linear_field_never_forms_the_full_tensor(method, variant):
    """200³ complex entries (128 MB dense) with ranks (10, 10, 10): a step allocates a few MB."""
    n = 200
    D = laplacian(n, sparse=True)
    P = sp.diags(1 - np.cos(2 * np.pi * np.arange(n) / n))
    F = dlra.LinearField(
        [(D, None, None), (None, D, None), (None, None, D), (P, P, None)], [-1j] * 4
    )
    Y0 = random_tucker(shape=(n, n, n), ranks=(10, 10, 10), complex_=True)
    options = dict(variant)
    if method in ("adaptive_bug", "parallel_bug"):
        options.update(tol=1e-8, max_rank=12)
    tracemalloc.start()
    try:
        sol = solve_tucker(F, Y0, (0, 0.01), h=0.01, method=method, **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sol.success
    assert peak < 16e6  # the dense tensor alone would take 128e6 bytes
