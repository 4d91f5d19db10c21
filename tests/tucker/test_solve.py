"""dlra.solve with Tucker states: d = 2 agreement with the matrix integrators, backends, the
Solution object and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import dlra
from dlra.tucker import TuckerTensor
from dlra.tucker.fields import as_tucker_field

from .integrator_table import BY_NAME, NAMES
from .problems import RANKS, RotatingTucker, Sylvester, random_tucker, solve_tucker

VARIANTS = [(name, {}) for name in NAMES] + [
    ("midpoint_bug", {"variant": "3r"}),
    ("parallel_bug2", {"variant": "3r"}),
    ("parallel_bug", {"rejection": True, "tol": 1e-4}),
]
TRUNCATION = {"adaptive_bug": {"tol": 1e-4}, "parallel_bug": {"tol": 1e-4}}


def _nonlinear_2d():
    rng = np.random.default_rng(5)
    n, m, r = 20, 16, 4
    B1 = rng.standard_normal((n, n)) / np.sqrt(n)
    B2 = rng.standard_normal((m, m)) / np.sqrt(m)
    C = 0.1 * rng.standard_normal((n, m))

    def F(t, Y):
        return B1 @ Y + Y @ B2.T + 0.3 * np.cos(t) * Y * Y + C

    A0 = rng.standard_normal((n, r)) @ np.diag(2.0 ** -np.arange(r)) @ rng.standard_normal((r, m))
    A0 += 1e-3 * rng.standard_normal((n, m))
    return F, dlra.LowRankMatrix.from_dense(A0, rank=r)


@pytest.mark.parametrize(("method", "options"), VARIANTS, ids=lambda x: str(x))
def test_d2_agrees_with_matrix_integrators(method, options):
    """For d = 2 every Tucker integrator is its matrix counterpart: same states to round-off
    (a nonlinear, non-autonomous field with a source; RK4 substeps; rank-adaptive runs included)."""
    F, Y0 = _nonlinear_2d()
    options = {**TRUNCATION.get(method, {}), **options}
    mat = dlra.solve(F, Y0, (0.0, 0.5), h=0.05, method=method, save_at="steps", **options)
    tuck = solve_tucker(
        F, TuckerTensor.from_lowrank(Y0), (0.0, 0.5), h=0.05, method=method, save_at="steps",
        **options,
    )  # fmt: skip
    assert [r for r, _ in tuck.step_ranks] == mat.step_ranks
    for a, b in zip(mat.y, tuck.y):
        assert np.linalg.norm(a.to_dense() - b.to_dense()) <= 1e-12 * a.norm()
    assert tuck.n_rejected == mat.n_rejected


@pytest.mark.parametrize("method", NAMES)
def test_d2_agrees_with_matrix_integrators_complex_linear_field(method):
    """The same LinearField object (pairs of operators) drives both; complex, exact substeps."""
    rng = np.random.default_rng(6)
    n, m = 14, 11
    D1 = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    D1 = D1 + D1.conj().T
    D2 = rng.standard_normal((m, m))
    D2 = D2 + D2.T
    F = dlra.LinearField([(D1, None), (None, D2), (D1, D2)], [-1j, -1j, -0.1j])
    A0 = rng.standard_normal((n, m)) + 1j * rng.standard_normal((n, m))
    Y0 = dlra.LowRankMatrix.from_dense(A0, rank=3)
    options = TRUNCATION.get(method, {})
    mat = dlra.solve(F, Y0, (0.0, 0.3), h=0.1, method=method, substep="exact", **options)
    tuck = solve_tucker(
        F, TuckerTensor.from_lowrank(Y0), (0.0, 0.3), h=0.1, method=method, substep="exact",
        **options,
    )  # fmt: skip
    a, b = mat.y[-1].to_dense(), tuck.y[-1].to_dense()
    assert np.linalg.norm(a - b) <= 1e-12 * np.linalg.norm(a)


@pytest.mark.parametrize(("method", "options"), VARIANTS, ids=lambda x: str(x))
def test_torch_float64_matches_numpy(method, options):
    torch = pytest.importorskip("torch")
    p = Sylvester(coupling=0.3)
    Fn = p.field()
    terms_t = [
        tuple(None if op.identity else torch.as_tensor(op.raw) for op in t) for t in Fn.terms
    ]
    Ft = dlra.LinearField(terms_t, Fn.coeffs)
    Y0 = random_tucker(seed=4)
    Y0t = TuckerTensor(torch.as_tensor(Y0.core), [torch.as_tensor(U) for U in Y0.factors])
    options = {**TRUNCATION.get(method, {}), **options}
    out_n = solve_tucker(Fn, Y0, (0, 0.3), h=0.1, method=method, **options)
    out_t = solve_tucker(Ft, Y0t, (0, 0.3), h=0.1, method=method, **options)
    a = out_n.y[-1].to_dense()
    b = out_t.y[-1].to_dense().numpy()
    assert out_t.ranks == out_n.ranks
    assert np.linalg.norm(a - b) <= 1e-10 * np.linalg.norm(a)


def test_torch_float32_runs(xp):
    """float32 stays float32 (no silent promotion) and is accurate to single precision."""
    p = RotatingTucker()
    Y0 = TuckerTensor.from_dense(p.A(0.0), ranks=RANKS)

    def cast(x):
        return xp.asarray(x.astype(np.float32))

    Y32 = TuckerTensor(cast(Y0.core), [cast(U) for U in Y0.factors])
    F = dlra.DataField(lambda t: cast(p.A(t)), lambda t: cast(p.dA(t)))
    sol = solve_tucker(F, Y32, (0, 0.5), h=0.1, method="bug", substep="exact")
    assert str(sol.y[-1].dtype).endswith("float32")
    err = np.linalg.norm(xp.to_numpy(sol.y[-1].to_dense()) - p.A(0.5))
    assert err <= 1e-5 * np.linalg.norm(p.A(0.5))


def test_solution_object():
    p = RotatingTucker()
    Y0 = TuckerTensor.from_dense(p.A(0.0), ranks=RANKS)
    sol = solve_tucker(
        p.field(), Y0, (0.0, 0.3), h=0.1, method="adaptive_bug", tol=1e-10, substep="exact",
        save_at=[0.15, 0.3],
    )  # fmt: skip
    assert sol.success and sol.status == 0 and sol.method == "adaptive_bug"
    assert sol.t == pytest.approx([0.15, 0.3])
    assert all(isinstance(r, tuple) and len(r) == 3 for r in sol.ranks)
    assert sol.step_times == pytest.approx([0.0, 0.1, 0.15, 0.2, 0.3])  # save times join the grid
    assert len(sol.step_ranks) == 5
    assert sol.nfev > 0 and sol.n_qr > 0 and sol.n_svd > 0 and sol.n_rejected == 0
    assert isinstance(sol.y[-1], TuckerTensor)


def test_rank_option_pads_and_truncates_the_initial_state():
    Y0 = random_tucker()
    F = Sylvester().field()
    sol = solve_tucker(F, Y0, (0, 0.1), h=0.1, method="bug", rank=(3, 3, 3), save_at="steps")
    assert sol.ranks[0] == (3, 3, 3)
    best = TuckerTensor.from_dense(
        Y0.to_dense(), ranks=(2, 3, 3)
    )  # mode 3 truncated, mode 1 padded
    assert sol.y[0].distance(best) <= 1e-12 * Y0.norm()
    with pytest.raises(ValueError, match=r"rank\[0\] = 13 exceeds the size 12"):
        solve_tucker(F, Y0, (0, 0.1), h=0.1, method="bug", rank=(13, 3, 3))
    with pytest.raises(ValueError, match=r"inadmissible rank \(9, 2, 2\)"):
        solve_tucker(F, Y0, (0, 0.1), h=0.1, method="bug", rank=(9, 2, 2))
    with pytest.raises(ValueError, match=r"rank must have one entry per mode \(3\)"):
        solve_tucker(F, Y0, (0, 0.1), h=0.1, method="bug", rank=(3, 3))


def test_padding_draws_again_when_its_draw_lies_in_the_bases():
    """As for matrices: factors built from the padding's own seed (0) still get the asked ranks."""
    rng = np.random.default_rng(0)
    factors = [np.linalg.qr(rng.standard_normal((n, 2)))[0] for n in (8, 9, 10)]
    rng = np.random.default_rng(0)
    drawn = rng.standard_normal((8, 2))  # the padding's first draw for mode 0
    factors[0] = np.linalg.qr(drawn)[0]
    Y0 = TuckerTensor(np.random.default_rng(3).standard_normal((2, 2, 2)), factors)
    field = Sylvester(shape=(8, 9, 10)).field()
    sol = solve_tucker(field, Y0, (0, 0.1), h=0.1, method="bug", rank=(4, 4, 4))
    assert sol.ranks[0] == (4, 4, 4)
    for U in sol.y[0].factors:
        assert np.linalg.norm(U.T @ U - np.eye(4)) <= 1e-13
    assert sol.y[0].distance(Y0) <= 1e-12 * Y0.norm()


def test_complex_field_promotes_a_real_state():
    Y0 = random_tucker(shape=(6, 7, 8), ranks=(2, 2, 2))
    F = dlra.LinearField([(np.eye(6), None, None)], [-1j])
    sol = solve_tucker(F, Y0, (0, 0.1), h=0.1, method="ksl", substep="exact")
    assert np.iscomplexobj(sol.y[-1].core)
    expected = np.exp(-0.1j) * Y0.to_dense()
    assert np.linalg.norm(sol.y[-1].to_dense() - expected) <= 1e-12 * Y0.norm()


def test_bad_options_name_the_argument():
    Y0 = random_tucker()
    F = Sylvester().field()
    with pytest.raises(ValueError, match="unknown method 'bugg'; did you mean 'bug'"):
        solve_tucker(F, Y0, (0, 1), h=0.1, method="bugg")
    with pytest.raises(TypeError, match="unknown option 'rejectoin'"):
        solve_tucker(F, Y0, (0, 1), h=0.1, method="parallel_bug", rejectoin=True)
    with pytest.raises(ValueError, match="'adaptive_bug' needs tol or rtol"):
        solve_tucker(F, Y0, (0, 1), h=0.1, method="adaptive_bug")
    with pytest.raises(ValueError, match="'ksl' keeps the ranks fixed"):
        solve_tucker(F, Y0, (0, 1), h=0.1, method="ksl", tol=1e-3)
    with pytest.raises(ValueError, match="variant must be one of '4r', '3r'"):
        solve_tucker(F, Y0, (0, 1), h=0.1, method="midpoint_bug", variant="5r")
    with pytest.raises(ValueError, match=r"max_rank\[1\] must be a positive integer"):
        solve_tucker(F, Y0, (0, 1), h=0.1, method="adaptive_bug", tol=1e-3, max_rank=(3, 0, 3))
    with pytest.raises(ValueError, match="substep='exact' is not available: F is a plain function"):
        solve_tucker(lambda t, Y: Y, Y0, (0, 1), h=0.1, method="bug", substep="exact")
    with pytest.raises(ValueError, match="needs tol or rtol"):
        dlra.get_integrator("adaptive_bug", kind="tucker")
    with pytest.raises(TypeError, match="Y must be a TuckerTensor"):
        dlra.get_integrator("bug", kind="tucker").step(F, Y0.to_dense(), 0.0, 0.1)


def test_bad_fields_name_the_argument():
    Y0 = random_tucker()
    with pytest.raises(
        ValueError, match=r"terms\[0\]\[2\] has shape \(12, 12\) but Y0 has size 18"
    ):
        solve_tucker(dlra.LinearField([(None, None, np.eye(12))]), Y0, (0, 1), h=0.1, method="bug")
    with pytest.raises(ValueError, match=r"A\(t\) returned shape"):
        solve_tucker(dlra.DataField(lambda t: np.zeros((2, 2))), Y0, (0, 1), h=0.1, method="bug")


@pytest.mark.parametrize("kind", ["callable", "data", "linear"])
def test_solve_accepts_raw_fields(kind):
    p = RotatingTucker()
    Y0 = TuckerTensor.from_dense(p.A(0.0), ranks=RANKS)
    F = {
        "callable": lambda t, Y: p.dA(t),
        "data": p.field(),
        "linear": Sylvester().field(),
    }[kind]
    sol = dlra.solve(F, Y0, (0, 0.2), h=0.1, method="bug")
    assert sol.success
    again = solve_tucker(F, Y0, (0, 0.2), h=0.1, method="bug").y[-1]
    assert sol.y[-1].distance(again) <= 1e-13 * again.norm()


def test_as_tucker_field_is_idempotent():
    F = Sylvester().field()
    tf = as_tucker_field(F)
    assert as_tucker_field(tf) is tf
    assert BY_NAME["bug"].exact
