"""The problem library: exact/reference solutions satisfy their ODEs, the dlra fields agree with the
dense right-hand sides, closed forms agree with their numerical counterparts."""

from __future__ import annotations

import numpy as np
import pytest

import dlra
from validation.problems import (
    PROBLEMS,
    MatrixProblem,
    SymmetricRiccati,
    finite_difference_rhs,
    make,
)
from validation.problems.tucker import TuckerRotating

#: small instances of every problem (the library defaults are the validation sizes)
SMALL = {
    "rotating": {"n": 30, "core_rank": 4},
    "prescribed": {"n": 30},
    "prescribed-ode": {"n": 30},
    "prescribed-exact": {"n": 30, "exact_rank": 4},
    "prescribed-exact-ode": {"n": 30, "exact_rank": 4},
    "prescribed-cubic": {"n": 20, "exact_rank": 4},
    "prescribed-source": {"n": 30, "exact_rank": 4},
    "heat": {"n": 24},
    "heat-source": {"n": 24},
    "schrodinger": {"n": 20},
    "schrodinger-periodic": {"n": 20},
    "symmetric": {"n": 20, "rank": 3},
    "tucker-rotating": {"n": 8, "core_rank": 3},
    "tucker-rotating-ode": {"n": 8, "core_rank": 3},
    "tucker-schrodinger": {"n": 8},
}


def test_every_problem_has_a_small_instance() -> None:
    assert set(SMALL) == set(PROBLEMS)


@pytest.fixture(params=sorted(SMALL), scope="module")
def problem(request: pytest.FixtureRequest) -> MatrixProblem:
    return make(request.param, **SMALL[request.param])


def test_solution_satisfies_the_ode(problem: MatrixProblem) -> None:
    # 4th-order central difference with step δ: error ~ δ⁴‖A⁽⁵⁾‖; reference solves are accurate to
    # ~1e-12 relative, amplified by 1/δ.  δ = 1e-3·T keeps both well below the 1e-6 tolerance.
    t = 0.37 * problem.T
    delta = 1e-3 * problem.T
    fd = finite_difference_rhs(problem.solution, t, delta)
    f = problem.rhs(t, problem.solution(t))
    assert np.linalg.norm(fd - f) <= 1e-6 * np.linalg.norm(f)


def test_solution_starts_at_the_initial_value(problem: MatrixProblem) -> None:
    a0 = problem.initial()
    assert np.linalg.norm(problem.solution(problem.t0) - a0) <= 1e-14 * np.linalg.norm(a0)


def test_dlra_field_is_the_dense_right_hand_side(problem: MatrixProblem) -> None:
    """The ``dlra`` field built by the problem evaluates the same F as ``rhs`` (sign, transpose and
    coefficient conventions of ``F = Σ c A Y Bᵀ``)."""
    t = 0.3 * problem.T
    A = problem.solution(t)
    F = problem.field()
    if A.ndim == 3:
        eye = [np.eye(k, dtype=A.dtype) for k in A.shape]
        got = F.project(t, A, eye, eye)
    else:
        got = dlra.fields.base.as_field(F).right(t, A, np.eye(A.shape[1]), np.eye(A.shape[1]))
    want = problem.rhs(t, A)
    assert np.linalg.norm(got - want) <= 1e-12 * np.linalg.norm(want)


def test_y0_is_the_rank_r_start(problem: MatrixProblem) -> None:
    Y0 = problem.y0(3)
    a0 = problem.initial()
    # the start is the best (HOSVD for tensors) rank-3 approximation of A(t0)
    err = np.linalg.norm(np.asarray(Y0.to_dense()) - a0)
    assert err <= 1.0001 * problem.best_error(3, problem.t0) + 1e-14


def test_prescribed_best_error_closed_form() -> None:
    p = make("prescribed", n=30)
    s = np.linalg.svd(p.solution(0.7), compute_uv=False)
    for r in (2, 8):
        assert p.best_error(r, 0.7) == pytest.approx(np.sqrt(np.sum(s[r:] ** 2)), rel=1e-10)
    # the published value for n = 100, r = 8, t = 1 (integrators.md §5 T2)
    assert make("prescribed").best_error(8) == pytest.approx(6.130e-3, rel=1e-3)


def test_exact_rank_problems_have_their_rank() -> None:
    for name, r in (("prescribed-exact", 4), ("prescribed-exact-ode", 4), ("heat", 2)):
        p = make(name, **SMALL[name])
        s = np.linalg.svd(p.solution(p.T), compute_uv=False)
        assert p.known_rank == r
        assert s[r] <= 1e-12 * s[0] < s[r - 1]


def test_schrodinger_energy_factored_equals_dense() -> None:
    p = make("schrodinger-periodic", n=20)
    rng = np.random.default_rng(3)
    Y = p.y0(4)
    Y = dlra.LowRankMatrix(Y.U, Y.S + 0.2j * rng.standard_normal((4, 4)), Y.V)
    assert p.energy(Y) == pytest.approx(p.energy(np.asarray(Y.to_dense())), rel=1e-12)


def test_schrodinger_exact_flow_conserves_norm_and_energy() -> None:
    p = make("schrodinger", n=20)
    a0, a1 = p.initial(), p.solution(p.T)
    assert np.linalg.norm(a1) == pytest.approx(np.linalg.norm(a0), rel=1e-12)
    assert p.energy(a1) == pytest.approx(p.energy(a0), rel=1e-10)


def test_asymmetry_measure() -> None:
    Y = make("symmetric", n=20, rank=3).y0(3)
    assert SymmetricRiccati.asymmetry(Y) <= 1e-14
    U, S, V = Y
    S2 = S.copy()
    S2[0, 1] += 1e-3
    assert SymmetricRiccati.asymmetry(dlra.LowRankMatrix(U, S2, V)) > 1e-5


def test_torch_fields_match_numpy() -> None:
    torch = pytest.importorskip("torch")
    p = make("schrodinger", n=12)
    Yn = p.y0(3)
    Yt = p.y0(3, backend="torch")
    sn = dlra.solve(p.field(), Yn, (0, 0.2), h=0.1, method="bug", substep="exact")
    st = dlra.solve(p.field("torch"), Yt, (0, 0.2), h=0.1, method="bug", substep="exact")
    assert isinstance(st.y[-1].S, torch.Tensor)
    assert sn.y[-1].distance(np.asarray(st.y[-1].to_dense())) <= 1e-12


def test_with_eps_shares_data_but_changes_the_perturbation() -> None:
    p = make("rotating", n=20, core_rank=3, eps=0.0)
    q = p.with_eps(1e-2)
    assert p.known_rank == 3 and q.known_rank is None
    diff = q.solution(0.5) - p.solution(0.5)
    assert np.linalg.norm(diff) == pytest.approx(
        1e-2 * np.exp(0.5) * np.linalg.norm(q.A2), rel=1e-10
    )


def test_tucker_rotating_forms_agree() -> None:
    a = TuckerRotating(8, core_rank=3, form="explicit")
    b = TuckerRotating(8, core_rank=3, form="ode")
    assert np.linalg.norm(a.solution(0.6) - b.solution(0.6)) == 0.0


def test_unknown_problem_name() -> None:
    with pytest.raises(ValueError, match="unknown problem 'nope'"):
        make("nope")


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("schrodinger", {"n": 11}),
        ("schrodinger-periodic", {"n": 11}),
        ("tucker-schrodinger", {"n": 5}),
    ],
)
def test_odd_grid_sizes(name: str, params: dict) -> None:
    # the grid j = −⌊N/2⌋, …, N − ⌊N/2⌋ − 1 has N points for odd N too
    problem = make(name, **params)
    assert problem.v.shape == (params["n"],)
    t, delta = 0.37 * problem.T, 1e-3 * problem.T
    fd = finite_difference_rhs(problem.solution, t, delta)
    f = problem.rhs(t, problem.solution(t))
    assert np.linalg.norm(fd - f) <= 1e-6 * np.linalg.norm(f)
