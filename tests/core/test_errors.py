"""Bad input: a clear ValueError/TypeError naming the argument, never a deep traceback."""

from __future__ import annotations

import numpy as np
import pytest

import dlra
from dlra.tucker import TuckerTensor

from .integrator_table import NAMES

rng = np.random.default_rng(0)
n, m, r = 12, 9, 3
U, _ = np.linalg.qr(rng.standard_normal((n, r)))
V, _ = np.linalg.qr(rng.standard_normal((m, r)))
S = np.diag([3.0, 2.0, 1.0])
Y0 = dlra.LowRankMatrix(U, S, V)
B1 = rng.standard_normal((n, n))
B2 = rng.standard_normal((m, m))
GOOD = dlra.LinearField([(B1, None), (None, B2)])


def ok_F(t, Y):
    return 0.1 * Y


def _operator_without_adjoint():
    import scipy.sparse.linalg as spla

    return spla.LinearOperator((n, n), matvec=lambda x: B1 @ x)


def _np_matrix(a):
    """``numpy.matrix(a)`` without its PendingDeprecationWarning (users still pass them)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(a)


def solve(**kw):
    args = {"F": GOOD, "Y0": Y0, "t_span": (0.0, 1.0), "h": 0.1, "method": "bug"}
    args.update(kw)
    F, y0, span = args.pop("F"), args.pop("Y0"), args.pop("t_span")
    return dlra.solve(F, y0, span, **args)


BAD_FACTORS = [
    # (callable, exception, message regex)
    (
        lambda: dlra.LowRankMatrix(U, S, V[:, :2]),
        ValueError,
        r"factor shapes disagree.*V is \(9, 2\)",
    ),
    (lambda: dlra.LowRankMatrix(U, S[:2], V), ValueError, r"S must be square"),
    (lambda: dlra.LowRankMatrix(2 * U, S, V), ValueError, r"U must have orthonormal columns"),
    (lambda: dlra.LowRankMatrix(U, S, V + 1), ValueError, r"V must have orthonormal columns"),
    (lambda: dlra.LowRankMatrix(U[0], S, V), ValueError, r"U must be a 2-D array"),
    (lambda: dlra.LowRankMatrix(U.astype(int), S, V), TypeError, r"U must have a floating"),
    (lambda: dlra.LowRankMatrix([[1.0]], S, V), TypeError, r"U must be a numpy array"),
    # array types whose arithmetic is not a plain array's
    (
        lambda: dlra.LowRankMatrix.from_dense(_np_matrix(Y0.to_dense()), rank=2),
        TypeError,
        r"A must be a plain numpy array, got matrix",
    ),
    (
        lambda: dlra.LowRankMatrix.from_dense(np.ma.masked_array(Y0.to_dense()), rank=2),
        TypeError,
        r"A must be a plain numpy array, got MaskedArray",
    ),
    (
        lambda: solve(F=lambda t, Y: np.ma.masked_array(Y)),
        TypeError,
        r"the value F returned must be a plain numpy array",
    ),
    (
        lambda: solve(F=dlra.LinearField([(B1, None)], coeffs=[lambda t: np.ones(2)])),
        TypeError,
        r"coeffs\[0\] returned array\(\[1., 1.\]\) at t = 0; expected a number",
    ),
    (lambda: solve(check_finite="no"), TypeError, r"check_finite must be True or False"),
    (lambda: dlra.LowRankMatrix(U, S * np.nan, V), ValueError, r"S contains NaN or Inf"),
    (
        lambda: dlra.LowRankMatrix(np.eye(3, 4), np.eye(4), np.eye(5, 4)),
        ValueError,
        r"rank 4 exceeds min\(n, m\) = 3",
    ),
    (lambda: dlra.LowRankMatrix.from_dense(np.ones((4, 3)), rank=5), ValueError, r"rank 5 exceeds"),
    (
        lambda: dlra.LowRankMatrix.from_dense(np.ones((4, 3)), rank=0),
        ValueError,
        r"rank must be a positive",
    ),
    (
        lambda: dlra.LowRankMatrix.from_dense(np.ones((4, 3)), tol=-1.0),
        ValueError,
        r"tol must be a finite number ≥ 0",
    ),
    (
        lambda: dlra.LowRankMatrix.from_dense(np.full((4, 3), np.inf)),
        ValueError,
        r"A contains NaN or Inf",
    ),
]

BAD_SOLVE = [
    ({"h": 0.0}, ValueError, r"h must be > 0"),
    ({"h": -0.1}, ValueError, r"h must be > 0"),
    ({"h": 2.0}, ValueError, r"h = 2.0 is larger than the time span"),
    ({"h": "x"}, TypeError, r"h must be a real number"),
    ({"t_span": (1.0, 0.0)}, ValueError, r"t_span is reversed"),
    ({"t_span": (1.0, 1.0)}, ValueError, r"t_span is empty"),
    ({"t_span": (0.0,)}, ValueError, r"t_span must be a pair"),
    ({"t_span": (0.0, np.inf)}, ValueError, r"t_span must be finite"),
    ({"method": "bugg"}, ValueError, r"unknown method 'bugg'; did you mean 'bug'\?"),
    ({"method": "adaptive_bug", "tol": -1e-3}, ValueError, r"tol must be a finite number ≥ 0"),
    (
        {"method": "adaptive_bug", "rtol": float("nan")},
        ValueError,
        r"rtol must be a finite number ≥ 0",
    ),
    ({"method": "adaptive_bug"}, ValueError, r"'adaptive_bug' needs tol or rtol"),
    ({"method": "ksl", "tol": 1e-3}, ValueError, r"'ksl' keeps the rank fixed"),
    (
        {"method": "adaptive_bug", "tol": 1e-3, "min_rank": 5, "max_rank": 2},
        ValueError,
        r"min_rank \(5\) must not exceed max_rank \(2\)",
    ),
    ({"rank": 20}, ValueError, r"rank 20 exceeds min\(n, m\) = 9"),
    ({"rank": 0}, ValueError, r"rank must be a positive integer"),
    ({"tolerance": 1e-3}, TypeError, r"unknown option 'tolerance'; did you mean 'tol'\?"),
    ({"substeps": "rk4"}, TypeError, r"unknown option 'substeps'; did you mean 'substep'\?"),
    ({"substep": "rk5"}, ValueError, r"unknown substep solver 'rk5'; did you mean 'rk4'\?"),
    ({"substep": 3}, TypeError, r"substep must be 'rk4'"),
    ({"method": "midpoint_bug", "variant": "5r"}, ValueError, r"variant must be one of '4r', '3r'"),
    ({"save_at": [0.5, 2.0]}, ValueError, r"save_at contains 2.0 outside the time span"),
    ({"save_at": "every"}, ValueError, r"save_at must be None, 'steps'"),
    ({"Y0": U @ S @ V.T}, TypeError, r"Y0 must be a dlra.LowRankMatrix"),
    ({"F": 3.0}, TypeError, r"F must be a callable"),
    (
        {"F": ok_F, "substep": "exact"},
        ValueError,
        r"substep='exact' is not available: F is a plain function",
    ),
    (
        {"F": dlra.DataField(lambda t: U @ S @ V.T)},
        ValueError,
        r"this DataField has no derivative: pass dA",
    ),
    (
        {"F": lambda t, Y: Y[:, :-1]},
        ValueError,
        r"F returned shape \(12, 8\), expected the shape of Y \(12, 9\)",
    ),
    ({"F": lambda t, Y: Y * np.nan}, ValueError, r"F returned NaN or Inf at the initial time"),
    ({"F": lambda t, Y: list(Y)}, TypeError, r"F returned list, expected a numpy array"),
    ({"F": lambda t, Y: 1j * Y}, TypeError, r"F returned complex values for a real state"),
    (
        {"F": dlra.LinearField([(np.eye(5), None)])},
        ValueError,
        r"terms\[0\]\[0\] has shape \(5, 5\) but Y0 has 12 rows",
    ),
    (
        {"F": dlra.LinearField([(B1, None)], coeffs=[lambda t: 1j])},
        TypeError,
        r"coeffs\[0\] is complex .* but Y0 is real",
    ),
    (
        {"F": dlra.LinearField([(B1, None)], coeffs=[lambda t: 1.0]), "substep": "exact"},
        ValueError,
        r"exact substeps need constant",
    ),
    # a coefficient that turns complex after t0 is caught when it does, naming it and the time
    (
        {"F": dlra.LinearField([(B1, None)], coeffs=[lambda t: np.exp(1j * t)])},
        TypeError,
        r"coeffs\[0\] is complex \(.* at t = 0.05\) but Y0 is real",
    ),
    (
        {"F": dlra.LinearField([(B1, None)], source=lambda t: np.ones((n, m)))},
        TypeError,
        r"source\(t\) must return a LowRankMatrix, got ndarray",
    ),
    (
        {"F": dlra.LinearField([(B1, None)], source=lambda t: dlra.LowRankMatrix(U, 1j * S, V))},
        TypeError,
        r"source\(t\) is complex but Y0 is real",
    ),
    (
        {"F": dlra.DataField(lambda t: np.ones((n, m)), lambda t: np.zeros((3, 3)))},
        ValueError,
        r"dA\(t\) returned shape \(3, 3\), expected \(12, 9\)",
    ),
    (
        {"F": dlra.DataField(lambda t: np.ones((n, m)), lambda t: 1j * np.ones((n, m)))},
        TypeError,
        r"dA\(t\) is complex but Y0 is real",
    ),
    (
        {"F": dlra.DataField(lambda t: np.ones((n, m)), lambda t: 0.0)},
        TypeError,
        r"dA\(t\) must return a dense numpy array like Y0, got float",
    ),
]


@pytest.mark.parametrize(("make", "exc", "match"), BAD_FACTORS)
def test_bad_factors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize(("kwargs", "exc", "match"), BAD_SOLVE)
def test_bad_solve_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        solve(**kwargs)


BAD_FIELDS = [
    (lambda: dlra.LinearField([]), TypeError, r"terms must be a non-empty sequence"),
    (
        lambda: dlra.LinearField([(B1, None), (B1,)]),
        ValueError,
        r"same number \(≥ 2\) of operators",
    ),
    (
        lambda: dlra.LinearField([(B1, None), (np.eye(3), None)]),
        ValueError,
        r"terms\[1\]\[0\] has size 3",
    ),
    (
        lambda: dlra.LinearField([(B1, None)], coeffs=[1, 2]),
        ValueError,
        r"coeffs has 2 entries but there are 1 terms",
    ),
    (
        lambda: dlra.LinearField([(B1, None)], coeffs=["a"]),
        TypeError,
        r"coeffs\[0\] must be a number",
    ),
    (
        lambda: dlra.LinearField([("A", None)]),
        TypeError,
        r"terms\[0\]\[0\] must be None, a numpy array",
    ),
    (
        lambda: dlra.LinearField([(np.ones((3, 4)), None)]),
        ValueError,
        r"terms\[0\]\[0\] must be a square",
    ),
    (
        lambda: dlra.LinearField([(B1, None)], source=3),
        TypeError,
        r"source must be None or a callable",
    ),
    (lambda: dlra.DataField(3), TypeError, r"A must be a callable"),
    (
        lambda: dlra.LinearField([(_operator_without_adjoint(), None)]),
        TypeError,
        r"terms\[0\]\[0\] is a LinearOperator that cannot apply its adjoint: give it rmatvec",
    ),
    (lambda: dlra.RK4(0), ValueError, r"steps must be a positive integer"),
    (
        lambda: dlra.get_integrator("parallel_bug", rejection_facter=2),
        TypeError,
        r"did you mean 'rejection_factor'",
    ),
    # step rejection acts on the tolerance: without one it would be silently inactive
    (
        lambda: dlra.get_integrator("parallel_bug", rejection=True),
        ValueError,
        r"'parallel_bug': rejection=True needs tol or rtol",
    ),
    (
        lambda: dlra.get_integrator("parallel_bug", kind="tucker", rejection=True, rank=2),
        ValueError,
        r"'parallel_bug': rejection=True needs tol or rtol",
    ),
]


@pytest.mark.parametrize(("make", "exc", "match"), BAD_FIELDS)
def test_bad_fields_and_options(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("kind", ["matrix", "tucker"])
@pytest.mark.parametrize("method", NAMES)
def test_nonfinite_mid_run_stops_and_keeps_solution(method, kind, xp):
    """A field that turns NaN at t > 0.45 stops the run with a message naming step and time,
    whichever method — also those whose augmentations and truncations factor the NaN blocks
    (their SVDs give NaN factors rather than LAPACK's exceptions) — and on every backend."""
    nan = float("nan")

    def F(t, Y):
        return 0.1 * Y if t < 0.45 else Y * nan

    if kind == "matrix":
        Y = dlra.LowRankMatrix(xp.asarray(U), xp.asarray(S), xp.asarray(V))
    else:
        rng = np.random.default_rng(7)
        factors = [np.linalg.qr(rng.standard_normal((n, 2)))[0] for n in (6, 7, 8)]
        Y = TuckerTensor(
            xp.asarray(rng.standard_normal((2, 2, 2))), [xp.asarray(f) for f in factors]
        )
    options = {"tol": 1e-3} if method in ("adaptive_bug", "parallel_bug") else {}
    sol = dlra.solve(F, Y, (0, 1), h=0.1, method=method, save_at="steps", **options)
    assert sol.status == 1 and not sol.success
    assert "step 5" in sol.message and "t = 0.4" in sol.message
    assert sol.t[-1] == pytest.approx(0.4)
    assert len(sol.y) == 5 and np.all(np.isfinite(xp.to_numpy(sol.y[-1].to_dense())))
    assert sol.n_steps == 4


def test_nonfinite_svd_gives_nan_factors(xp):
    x = np.ones((4, 3))
    x[1, 2] = np.nan
    be = dlra._backend.backend_of(xp.asarray(x))
    p, s, qh = (xp.to_numpy(a) for a in be.svd(xp.asarray(x)))
    assert p.shape == (4, 3) and s.shape == (3,) and qh.shape == (3, 3)
    assert np.isnan(p).all() and np.isnan(s).all() and np.isnan(qh).all()


def test_nonfinite_mid_run_through_a_data_field():
    A0 = Y0.to_dense()
    field = dlra.DataField(
        lambda t: A0 * (1 + t) if t < 0.45 else A0 * np.nan,
        lambda t: A0 if t < 0.45 else A0 * np.nan,
    )
    for method in ("augmented_bug", "midpoint_bug"):
        sol = dlra.solve(field, Y0, (0, 1), h=0.1, method=method, substep="exact")
        assert sol.status == 1 and sol.t[-1] == pytest.approx(0.4)


def test_exception_mid_run_keeps_solution():
    def F(t, Y):
        if t > 0.25:
            raise RuntimeError("solver blew up")
        return 0.1 * Y

    with pytest.raises(dlra.IntegrationError, match="solver blew up") as info:
        dlra.solve(F, Y0, (0, 1), h=0.1, method="ksl")
    partial = info.value.solution
    assert partial.t[-1] == pytest.approx(0.2)
    assert partial.y[-1].rank == r


@pytest.mark.parametrize("error", [np.linalg.LinAlgError, TypeError])
def test_value_or_type_error_mid_run_keeps_type_and_solution(error):
    """A LinAlgError (a ValueError) or TypeError of F in a later step is re-raised as itself,
    carrying the states computed before it."""

    def F(t, Y):
        if t > 0.25:
            raise error("singular matrix in the user's field")
        return 0.1 * Y

    with pytest.raises(error, match="singular matrix") as info:
        dlra.solve(F, Y0, (0, 1), h=0.1, method="bug")
    partial = info.value.solution
    # step 3 (from t = 0.2) evaluates F at t = 0.3 in its RK4 stages
    assert partial.status == 1 and "step 3 from t = 0.2" in partial.message
    assert partial.t == [0.0, pytest.approx(0.2)] and partial.n_steps == 2
    exact = np.exp(0.1 * 0.2) * Y0.to_dense()  # Ẏ = 0.1 Y until then (tangent: bug is exact)
    assert partial.y[-1].distance(exact) <= 1e-10 * np.linalg.norm(exact)


def test_keyboard_interrupt_returns_the_partial_solution():
    def F(t, Y):
        if t > 0.65:
            raise KeyboardInterrupt
        return 0.1 * Y

    sol = dlra.solve(F, Y0, (0, 1), h=0.1, method="bug")
    # step 7 (from t = 0.6) evaluates F at t = 0.7 in its RK4 stages
    assert sol.status == 2 and "interrupted during step 7 at t = 0.6" in sol.message
    assert sol.n_steps == 6 and sol.t[-1] == pytest.approx(0.6)
    assert sol.y_final is sol.y[-1] and sol.y_final is not Y0


BAD_CALLS = [
    # integrators used on the wrong kind of state, or given bad steps
    (
        lambda: dlra.solve(
            ok_F,
            dlra.TuckerTensor.from_dense(np.ones((4, 5, 6)), ranks=2),
            (0, 1),
            h=0.5,
            method=dlra.get_integrator("bug"),
        ),
        TypeError,
        r"method is a BUG, which does not integrate TuckerTensor states",
    ),
    (lambda: dlra.get_integrator("bug", kind="tensor"), ValueError, r"unknown kind 'tensor'"),
    (lambda: dlra.get_integrator("bug").step(ok_F, Y0, 0.0, float("nan")), ValueError, r"h must"),
    (lambda: dlra.get_integrator("bug").step(ok_F, Y0, 0.0, -1.0), ValueError, r"h must be > 0"),
    (lambda: dlra.get_integrator("bug").step(ok_F, Y0, "a", 0.1), TypeError, r"t must be a real"),
    (
        lambda: dlra.get_integrator("bug").step(ok_F, Y0.to_dense(), 0.0, 0.1),
        TypeError,
        r"Y must be a LowRankMatrix, got ndarray",
    ),
    # a hand-written loop's step checks the field against the state as solve does
    (
        lambda: dlra.get_integrator("bug").step(dlra.LinearField([(np.eye(5), None)]), Y0, 0, 0.1),
        ValueError,
        r"terms\[0\]\[0\] has shape \(5, 5\) but Y0 has 12 rows",
    ),
    (
        lambda: dlra.get_integrator("bug").step(
            dlra.LinearField([(B1, None)], coeffs=[1j]), Y0, 0, 0.1
        ),
        TypeError,
        r"coeffs\[0\] is complex",
    ),
    (
        lambda: dlra.get_integrator("bug").step(ok_F, Y0, 0.0, 0.1, counters={}),
        TypeError,
        r"counters must be a dlra Counters or None, got dict",
    ),
    (lambda: solve(save_at=[]), ValueError, r"save_at is empty"),
    # the public linear algebra checks its arguments (the integrators call unchecked versions)
    (lambda: dlra.augment_basis(2 * U, U), ValueError, r"u0 must have orthonormal columns"),
    (lambda: dlra.augment_basis(U, U[:5]), ValueError, r"k has 5 rows but u0 has 12"),
    (lambda: dlra.augment_basis(U, [[1.0]]), TypeError, r"k must be a numpy array"),
    (
        lambda: dlra.augment_basis(U, U, drop_below=-1.0),
        ValueError,
        r"drop_below must be ≥ 0",
    ),
    (lambda: dlra.orthonormalize(U[0]), ValueError, r"x must be a 2-D array"),
    (lambda: dlra.truncate(U, S, V, 3), TypeError, r"control must be a dlra.RankControl"),
    (
        lambda: dlra.truncate(U, S[:2, :2], V, dlra.RankControl(rank=1)),
        ValueError,
        r"shapes disagree: u is \(12, 3\), s is \(2, 2\)",
    ),
    (
        lambda: dlra.truncation_rank(np.ones(3), None),
        TypeError,
        r"control must be a dlra.RankControl, got NoneType",
    ),
    (lambda: Y0.astype(int), TypeError, r"the target dtype must have a floating or complex"),
    (lambda: Y0.astype(np.float16), TypeError, r"the target dtype has dtype float16"),
    (lambda: solve(h=1e-300), ValueError, r"more than 10,000,000"),
    # numbers given as text are refused, not parsed
    (lambda: solve(h="0.1"), TypeError, r"h must be a real number, got '0.1'"),
    (lambda: solve(h=np.complex64(0.1)), TypeError, r"h must be a real number"),
    (lambda: solve(method="adaptive_bug", tol="1e-3"), TypeError, r"tol must be a real number"),
    (lambda: dlra.RankControl(rtol=1j), TypeError, r"rtol must be a real number"),
    (lambda: solve(t_span=(1e10, 1e10 + 1), h=1e-7), ValueError, r"below the resolution"),
    # method options of the kind their defaults are
    (
        lambda: dlra.get_integrator("parallel_bug", tol=1e-3, max_rejections=-1),
        ValueError,
        r"max_rejections must be ≥ 0",
    ),
    (
        lambda: dlra.get_integrator("parallel_bug", tol=1e-3, max_rejections="x"),
        TypeError,
        r"max_rejections must be an integer",
    ),
    (
        lambda: dlra.get_integrator("parallel_bug", tol=1e-3, rejection="no"),
        TypeError,
        r"rejection must be True or False",
    ),
    (
        lambda: dlra.get_integrator("parallel_bug", tol=1e-3, rejection_factor="x"),
        TypeError,
        r"rejection_factor must be a real number",
    ),
    (
        lambda: dlra.get_integrator("parallel_bug", tol=1e-3, rejection_factor=0.0),
        ValueError,
        r"rejection_factor must be a finite number > 0",
    ),
    # distances never broadcast
    (lambda: Y0.distance(np.zeros((n, 1))), ValueError, r"other has shape \(12, 1\), expected"),
    (lambda: Y0.distance(0.0), TypeError, r"other must be a dense array"),
    (
        lambda: Y0.distance(dlra.LowRankMatrix.from_dense(np.ones((n, n)), rank=1)),
        ValueError,
        r"other has shape \(12, 12\), expected \(12, 9\)",
    ),
    (
        lambda: dlra.TuckerTensor.from_dense(np.ones((4, 5, 6)), ranks=2).distance(
            np.zeros((4, 1, 1))
        ),
        ValueError,
        r"other has shape \(4, 1, 1\), expected \(4, 5, 6\)",
    ),
]


def test_distance_between_backends_is_a_type_error():
    torch = pytest.importorskip("torch")
    Yt = dlra.LowRankMatrix(*(torch.as_tensor(x) for x in (U, S, V)))
    with pytest.raises(TypeError, match="other is a torch array but this object is numpy"):
        Y0.distance(Yt.to_dense())
    with pytest.raises(TypeError, match="mixed array backends"):
        Y0.distance(Yt)


BAD_CONSTRUCTIONS = [
    (lambda: dlra.LowRankMatrix.from_dense(np.ones((0, 4))), ValueError, r"at least one row"),
    (
        lambda: dlra.LowRankMatrix.from_dense(np.ones((4, 3), dtype=np.float16)),
        TypeError,
        r"A has dtype float16, which the linear algebra does not support",
    ),
    (
        lambda: dlra.TuckerTensor.from_dense(np.ones((3, 3, 3), dtype=np.float16), ranks=1),
        TypeError,
        r"A has dtype float16",
    ),
    (
        lambda: dlra.TuckerTensor.from_dense(np.ones((0, 3, 3)), ranks=1),
        ValueError,
        r"at least one entry along every mode",
    ),
    (
        lambda: dlra.TuckerTensor(np.ones((2, 2, 2)), [np.ones((3, 2))] * 3),
        ValueError,
        r"factors\[0\] must have orthonormal columns.*TuckerTensor.from_dense",
    ),
]


@pytest.mark.parametrize(("call", "exc", "match"), BAD_CALLS + BAD_CONSTRUCTIONS)
def test_bad_calls_and_constructions(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_grid_below_the_resolution_of_t_and_overflowing_step_counts():
    Y = dlra.LowRankMatrix.from_dense(np.ones((4, 4)), rank=1)
    t0, h = 1e9, 0.7e-7  # ulp(1e9) / 2 < h < ulp(1e9): t0 + k·h repeats grid points
    with pytest.raises(ValueError, match="below the resolution"):
        dlra.solve(ok_F, Y, (t0, t0 + 20 * h), h=h, method="bug")
    with pytest.raises(ValueError, match="more than 10,000,000"):
        dlra.solve(ok_F, Y, (0.0, 1e10), h=1e-300, method="bug")


def test_subclasses_of_integrators_are_accepted_by_solve():
    class MyBUG(type(dlra.get_integrator("bug"))):
        pass

    sol = dlra.solve(ok_F, Y0, (0, 0.2), h=0.1, method=MyBUG())
    assert sol.ranks == [r, r]


def test_an_exception_that_takes_no_attributes_still_propagates():
    class Frozen(ValueError):
        def __setattr__(self, name, value):
            raise AttributeError(name)

    def F(t, Y):
        if t > 0.15:
            raise Frozen("no attributes here")
        return 0.1 * Y

    with pytest.raises(Frozen, match="no attributes here"):
        dlra.solve(F, Y0, (0, 1), h=0.1, method="bug")


def test_tolerances_of_any_real_number_type():
    """Decimal, Fraction, numpy scalars: tolerances are stored as floats (they take part in
    float arithmetic in every truncation)."""
    from decimal import Decimal
    from fractions import Fraction

    for value in (Decimal("0.5"), Fraction(1, 2), np.float32(0.5)):
        control = dlra.RankControl(tol=value)
        assert type(control.tol) is float and control.tol == 0.5
    A = rng.standard_normal((10, 8))
    assert dlra.LowRankMatrix.from_dense(A, tol=Decimal("1")).rank == (
        dlra.LowRankMatrix.from_dense(A, tol=1.0).rank
    )


@pytest.mark.parametrize(
    ("later", "exc", "match"),
    [
        (lambda A: 1j * A, TypeError, r"A\(t\) is complex but Y0 is real \(at t = 0.4\)"),
        (lambda A: 3.0, TypeError, r"A\(t\) must return a dense numpy array like Y0, got float"),
        (lambda A: A[:5], ValueError, r"A\(t\) returned shape \(5, 9\), expected \(12, 9\)"),
        (np.ma.masked_array, TypeError, r"A\(t\) must be a plain numpy array, got MaskedArray"),
    ],
)
def test_data_field_values_are_checked_whenever_computed(later, exc, match):
    """Not only at t0: a value that turns complex (its imaginary part would be dropped), a
    scalar or another shape later in the run is named, and the states so far are kept."""
    A0 = Y0.to_dense()
    field = dlra.DataField(lambda t: A0 * (1 + t) if t < 0.35 else later(A0))
    with pytest.raises(exc, match=match) as info:
        dlra.solve(field, Y0, (0, 1), h=0.1, method="bug", substep="exact")
    assert info.value.solution.t[-1] == pytest.approx(0.3)


def test_source_values_are_checked_whenever_computed():
    """A LinearField source that changes shape later in the run is named, states kept."""
    G0 = dlra.LowRankMatrix(U[:, :1], np.eye(1), V[:, :1])
    other = np.linalg.qr(rng.standard_normal((10, 1)))[0]
    G_bad = dlra.LowRankMatrix(other, np.eye(1), V[:, :1])
    field = dlra.LinearField([(0.1 * np.eye(n), None)], source=lambda t: G0 if t < 0.35 else G_bad)
    with pytest.raises(
        ValueError, match=r"source\(t\) has shape \(10, 9\), expected \(12, 9\)"
    ) as info:
        dlra.solve(field, Y0, (0, 1), h=0.1, method="bug")
    assert info.value.solution.t[-1] == pytest.approx(0.3)


def test_nan_only_in_the_k_step_stages_reaches_the_result():
    """NaN in the K-block alone (F is NaN only off range(U0), where only the K-step's stages go)
    must not vanish in an augmentation that keeps no direction of it: status=1, not a finite
    wrong state."""
    A = rng.standard_normal((30, 20))
    Y = dlra.LowRankMatrix.from_dense(A, rank=3)
    U0, G = Y.U, rng.standard_normal((30, 20))

    def F(t, Z):
        out = -Z + G
        if np.linalg.norm(Z - U0 @ (U0.T @ Z)) > 1e-8 * np.linalg.norm(Z):
            out = out * np.nan
        return out

    for method, options in (("parallel_bug", {"rtol": 1e-3}), ("augmented_bug", {})):
        sol = dlra.solve(F, Y, (0, 0.3), h=0.1, method=method, **options)
        assert sol.status == 1, method
    K = np.ones((12, 2))
    K[3, 1] = np.nan
    U_new, U_hat, c = dlra.augment_basis(U, K, return_coefficients=True)
    assert U_new.shape == (12, 2) and np.isnan(U_new).all() and np.isnan(c).all()
    assert np.array_equal(U_hat[:, :3], U)


def test_tucker_overflow_stops_with_status_1():
    from dlra import TuckerTensor

    Y = TuckerTensor.from_dense(rng.standard_normal((6, 7, 8)), ranks=(2, 2, 2))
    sol = dlra.solve(
        lambda t, Z: Z * 1e200 if t > 0.25 else -Z,
        Y,
        (0, 1),
        h=0.1,
        method="parallel_bug",
        rtol=1e-3,
        substep="euler",
    )
    assert sol.status == 1 and sol.t[-1] == pytest.approx(0.3)


def test_step_validates_each_new_field_and_holds_none():
    """Hand-written loops: a new field object is validated (also one that reuses a freed
    field's id), a plain function is not evaluated more than the step counts, and the
    integrator keeps no reference to a field."""
    import gc
    import weakref

    integrator = dlra.get_integrator("bug")
    A0 = Y0.to_dense()
    for _ in range(3):
        good = dlra.DataField(lambda t: A0 * (1 + t), lambda t: A0)
        integrator.step(good, Y0, 0.0, 0.1)
        ref = weakref.ref(good)
        del good
        gc.collect()
        assert ref() is None
        bad = dlra.DataField(lambda t: A0[:5], lambda t: A0[:5])
        with pytest.raises(ValueError, match=r"A\(t\) returned shape \(5, 9\)"):
            integrator.step(bad, Y0, 0.0, 0.1)
        del bad
    calls = []

    def F(t, Y):
        calls.append(t)
        return -Y

    counters = dlra.integrators.base.Counters()
    Y = Y0
    for _ in range(3):
        Y = integrator.step(F, Y, 0.0, 0.1, counters=counters)
    assert len(calls) == counters.nfev
