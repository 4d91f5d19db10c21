"""Exactness, convergence order, robustness and time dependence of every matrix integrator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl

import dlra

from .integrator_table import BY_NAME, NAMES, ORDER_BAND, SPECS
from .problems import RotatingData

EXACT = [s.name for s in SPECS if s.exact]
NOT_EXACT = [s.name for s in SPECS if not s.exact]


def fitted_order(hs, errors) -> float:
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


@pytest.mark.parametrize("method", EXACT)
def test_exact_for_explicit_rank_r_data(method):
    """KSL, Strang, BUG and the augmented BUGs reproduce explicit rank-r data (rectangular)."""
    p = RotatingData(n=40, m=27, rank=4, scale=2.0)
    sol = dlra.solve(
        dlra.DataField(p.A, p.dA),
        dlra.LowRankMatrix.from_dense(p.A(0.0), rank=4),
        (0.0, 1.0),
        h=0.1,
        method=method,
        substep="exact",
        **BY_NAME[method].options,
    )
    A1 = p.A(1.0)
    assert sol.success
    assert sol.y[-1].distance(A1) <= 1e-12 * np.linalg.norm(A1)


@pytest.mark.parametrize("method", NOT_EXACT)
def test_not_exact_where_theory_says_so(method):
    """Parallel and second-order BUG schemes are not exact: error well above round-off, shrinking with h."""
    p = RotatingData(n=40, m=27, rank=4, scale=2.0)
    errors = []
    for h in (0.1, 0.05):
        sol = dlra.solve(
            dlra.DataField(p.A, p.dA),
            dlra.LowRankMatrix.from_dense(p.A(0.0), rank=4),
            (0.0, 1.0),
            h=h,
            method=method,
            substep="exact" if method == "parallel_bug" else dlra.RK4(4),
            **BY_NAME[method].options,
        )
        errors.append(sol.y[-1].distance(p.A(1.0)))
    assert errors[0] > 1e-8 * np.linalg.norm(p.A(1.0))
    assert errors[1] < errors[0]


@pytest.mark.parametrize("sides", ["both", "left", "right"])
@pytest.mark.parametrize("method", [n for n in NAMES if n not in ("ksl", "strang")])
def test_convergence_order(method, sides):
    """Fitted slope of error vs h on the tangent Sylvester problem (ε = 0) with exact substeps,
    also with the operator on one side only (``Ẏ = B₁Y`` or ``YB₂ᵀ``: the augmented bases then
    grow on one side only, so the two sides' widths differ).

    KSL and Strang are exact for this problem (error at round-off), so their order is measured on
    a nonlinear field in test_order_projector_splitting.
    """
    spec = BY_NAME[method]
    p = RotatingData(n=50, m=40, rank=6)
    left, right = (p.B1 if sides != "right" else None), (p.B2 if sides != "left" else None)
    terms = [(left, None), (None, right)]
    field = dlra.LinearField([t for t in terms if t[0] is not None or t[1] is not None])
    exact = p.D
    if left is not None:
        exact = sl.expm(left) @ exact
    if right is not None:
        exact = exact @ sl.expm(right).T
    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=6)
    hs = [0.1, 0.05, 0.025]
    errors = [
        dlra.solve(field, Y0, (0, 1), h=h, method=method, substep="exact", **spec.options)
        .y[-1]
        .distance(exact)
        for h in hs
    ]
    slope = fitted_order(hs, errors)
    if spec.order_is_lower_bound:
        assert slope >= spec.order - ORDER_BAND, errors
    else:
        assert abs(slope - spec.order) <= ORDER_BAND, errors


@pytest.mark.parametrize("method", ["ksl", "strang", "bug"])
def test_order_with_normal_component(method):
    """KSL order 1, Strang order 2, BUG order 1 on a field with a normal component.

    ``F(t, Y) = B₁Y + YB₂ᵀ + 0.02 cos(t) C`` with a full-rank C: the DLRA solution differs from
    the full one, so each integrator is compared with its own fine-step (h = 1/512) limit and only
    the time-discretisation error is measured.  RK4(2) substeps keep the substep error O(h⁵).
    """
    p = RotatingData(n=30, m=30, rank=5)
    C = np.random.default_rng(0).standard_normal((30, 30))

    def F(t, Y):
        return p.B1 @ Y + Y @ p.B2.T + 0.02 * np.cos(t) * C

    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=5)
    ref = dlra.solve(F, Y0, (0, 1), h=1 / 512, method=method, substep=dlra.RK4(2)).y[-1]
    hs = [0.1, 0.05, 0.025]
    errors = [
        dlra.solve(F, Y0, (0, 1), h=h, method=method, substep=dlra.RK4(2)).y[-1].distance(ref)
        for h in hs
    ]
    assert abs(fitted_order(hs, errors) - BY_NAME[method].order) <= ORDER_BAND, errors


@pytest.mark.parametrize("method", NAMES)
def test_robust_to_tiny_singular_values(method):
    """Rank 12 on data whose singular values fall to 1e-12: no blow-up, error at the plateau."""
    sigma = np.logspace(0, -12, 12)
    p = RotatingData(n=40, m=35, sigma=sigma)
    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=12)
    field = dlra.LinearField([(p.B1, None), (None, p.B2)])
    opts = dict(BY_NAME[method].options)
    if BY_NAME[method].adaptive:
        opts.update(tol=1e-14, min_rank=12, max_rank=12)
    sol = dlra.solve(field, Y0, (0, 1), h=0.05, method=method, substep="rk4", **opts)
    exact = sl.expm(p.B1) @ p.D @ sl.expm(p.B2).T
    assert sol.success
    assert np.all(np.isfinite(sol.y[-1].to_dense()))
    # first-order schemes: error ≲ C h with ‖F‖ ~ 2 e; never the 1/σ_r ~ 1e12 growth of factor ODEs
    assert sol.y[-1].distance(exact) <= 0.2 * np.linalg.norm(exact)


def test_rank_over_approximation_padding():
    """``rank`` above the rank of Y0 pads with zero-weight directions and stays accurate."""
    p = RotatingData(n=30, m=25, rank=3)
    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=3)
    field = dlra.LinearField([(p.B1, None), (None, p.B2)])
    sol = dlra.solve(field, Y0, (0, 1), h=0.01, method="ksl", rank=8, substep="exact")
    exact = sl.expm(p.B1) @ p.D @ sl.expm(p.B2).T
    assert sol.ranks[-1] == 8
    assert sol.y[-1].distance(exact) <= 1e-10 * np.linalg.norm(exact)


@pytest.mark.parametrize("through", ["rank", "integrator"])
def test_padding_draws_again_when_its_draw_lies_in_the_bases(through):
    """Padding draws from a generator seeded with 0: a Y0 built from that same seed contains
    the first draw in range(U), and the padding must draw again rather than come back short."""
    rng = np.random.default_rng(0)
    Y0 = dlra.LowRankMatrix.from_dense(rng.standard_normal((30, 3)) @ rng.standard_normal((3, 30)))
    if through == "rank":
        sol = dlra.solve(lambda t, Y: -Y, Y0, (0.0, 1.0), h=0.25, method="bug", rank=6)
    else:
        method = dlra.get_integrator("ksl", rank=6)
        sol = dlra.solve(lambda t, Y: -Y, Y0, (0.0, 1.0), h=0.25, method=method)
    Y = sol.y[0]
    assert sol.ranks == [6, 6]
    for basis in (Y.U, Y.V):
        assert np.linalg.norm(basis.T @ basis - np.eye(6)) <= 1e-13
    assert Y.distance(Y0) <= 1e-12 * Y0.norm()
    assert sol.y[-1].distance(np.exp(-1.0) * Y0.to_dense()) <= 1e-3 * Y0.norm()


def test_pad_basis_refuses_more_columns_than_rows():
    U, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 2)))
    with pytest.raises(ValueError, match="cannot pad a basis of 5 rows to 6 columns"):
        dlra.linalg.pad_basis(U, 6, np.random.default_rng(0))
    full = dlra.linalg.pad_basis(U, 5, np.random.default_rng(0))
    assert np.linalg.norm(full.T @ full - np.eye(5)) <= 1e-14 and np.array_equal(full[:, :2], U)


@pytest.mark.parametrize("method", NAMES)
def test_time_dependent_field(method):
    """Non-autonomous F(t, Y) = c(t)(B₁Y + YB₂ᵀ): exact solution e^{C(t)B₁} Y₀ e^{C(t)B₂ᵀ}, C = ∫c.

    With one RK4 step per substep, wrong stage times (e.g. nodes [0, 0, ½, 1]) would show as an
    O(h) error even for the exact-in-time projector splitting; we require the declared order's
    accuracy at h = 0.05.
    """
    p = RotatingData(n=30, m=24, rank=4)

    def c(t):
        return 1.0 + np.cos(3 * t)

    C = 1.0 + np.sin(3.0) / 3.0  # ∫₀¹ c
    field = dlra.LinearField([(p.B1, None), (None, p.B2)], coeffs=[c, c])
    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=4)
    exact = sl.expm(C * p.B1) @ p.D @ sl.expm(C * p.B2).T
    opts = BY_NAME[method].options
    errors = [
        dlra.solve(field, Y0, (0, 1), h=h, method=method, **opts).y[-1].distance(exact)
        for h in (0.05, 0.025)
    ]
    if method in ("ksl", "strang"):
        # tangent field: projector splitting is exact up to the RK4 substep error O(h⁴)
        assert errors[1] <= 1e-5 * np.linalg.norm(exact)
    else:
        # tangent problem: the second-order and augmented schemes may converge faster than their
        # order; none may converge slower
        assert np.log2(errors[0] / errors[1]) >= BY_NAME[method].order - 0.35, errors


def test_source_term_against_dense_reference():
    """``LinearField`` with a time-dependent low-rank source vs a dense reference solve."""
    from scipy.integrate import solve_ivp

    p = RotatingData(n=20, m=16, rank=3)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((20, 1)), rng.standard_normal((16, 1))
    g = dlra.LowRankMatrix.from_dense(a @ b.T, rank=1)

    def source(t):
        return dlra.LowRankMatrix(g.U, g.S * np.cos(t), g.V)

    field = dlra.LinearField([(p.B1, None), (None, p.B2)], source=source)

    def rhs(t, y):
        Y = y.reshape(20, 16)
        return (p.B1 @ Y + Y @ p.B2.T + np.cos(t) * (a @ b.T)).ravel()

    ref = solve_ivp(rhs, (0, 1), p.D.ravel(), rtol=1e-12, atol=1e-12, method="DOP853")
    A1 = ref.y[:, -1].reshape(20, 16)
    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=3)
    sol = dlra.solve(field, Y0, (0, 1), h=0.01, method="adaptive_bug", tol=1e-10)
    # rank grows to represent the source; error O(h) small
    assert sol.ranks[-1] > 3
    assert sol.y[-1].distance(A1) <= 1e-3 * np.linalg.norm(A1)


@pytest.mark.parametrize("method", ["bug", "adaptive_bug"])
def test_symmetry_preserved_by_bug(method):
    """F(Y) = BY + YBᵀ + 0.1 Y² maps symmetric to symmetric; BUG schemes keep Y symmetric."""
    rng = np.random.default_rng(5)
    n = 30
    B = rng.standard_normal((n, n)) / np.sqrt(n)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A0 = (Q[:, :5] * 2.0 ** -np.arange(5)) @ Q[:, :5].T

    def F(t, Y):
        return B @ Y + Y @ B.T + 0.1 * Y @ Y

    opts = {"tol": 1e-10} if method == "adaptive_bug" else {}
    sol = dlra.solve(
        F, dlra.LowRankMatrix.from_dense(A0, rank=5), (0, 1), h=0.05, method=method, **opts
    )
    Y = sol.y[-1].to_dense()
    assert np.linalg.norm(Y - Y.T) <= 1e-13 * np.linalg.norm(Y)


def test_ksl_does_not_preserve_symmetry():
    rng = np.random.default_rng(5)
    n = 30
    B = rng.standard_normal((n, n)) / np.sqrt(n)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A0 = (Q[:, :5] * 2.0 ** -np.arange(5)) @ Q[:, :5].T

    def F(t, Y):
        return B @ Y + Y @ B.T + 0.1 * Y @ Y

    sol = dlra.solve(F, dlra.LowRankMatrix.from_dense(A0, rank=5), (0, 1), h=0.05, method="ksl")
    Y = sol.y[-1].to_dense()
    assert np.linalg.norm(Y - Y.T) > 1e-10 * np.linalg.norm(Y)


@pytest.mark.parametrize("kind", ["constant", "callable"])
@pytest.mark.parametrize("scalar", [np.complex64, np.complex128])
def test_numpy_complex_coefficients_act_like_python_complex(scalar, kind):
    """``coeffs`` of numpy's complex types give the Python-complex answer (the L-flows conjugate
    them): Schrödinger-type ``Ẏ = −½i(DY + YDᵀ)``, exact ``e^{−½iD} Y₀ e^{−½iDᵀ}``."""
    N = 16
    D = 2 * np.eye(N) - np.eye(N, k=1) - np.eye(N, k=-1)
    A0 = np.random.default_rng(0).standard_normal((N, N)).astype(complex)
    Y0 = dlra.LowRankMatrix.from_dense(A0, rank=N)
    E = sl.expm(-0.5j * D)
    exact = E @ A0 @ E.T

    def field(c):
        return dlra.LinearField(
            [(D, None), (None, D)], coeffs=[c, c] if kind == "constant" else [lambda t: c] * 2
        )

    substep = "exact" if kind == "constant" else "rk4"
    numpy_coeff = field(scalar(-0.5j))  # −0.5j is exact in complex64 too
    assert numpy_coeff.is_complex == (kind == "constant")  # a callable is known when called
    sol = dlra.solve(numpy_coeff, Y0, (0, 1), h=0.05, method="ksl", substep=substep)
    ref = dlra.solve(field(-0.5j), Y0, (0, 1), h=0.05, method="ksl", substep=substep)
    assert sol.y[-1].distance(ref.y[-1].to_dense()) <= 1e-13 * np.linalg.norm(exact)
    if kind == "constant":  # full rank and exact substeps: KSL is exact
        assert sol.y[-1].distance(exact) <= 1e-12 * np.linalg.norm(exact)
