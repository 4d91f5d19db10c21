"""Tucker fields: projected products against the dense definition, flows, exact substeps, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import dlra
from dlra.tucker import TuckerTensor, mode_factor, mode_product, multi_mode_product
from dlra.tucker.fields import TuckerField, as_tucker_field

from .problems import RANKS, SHAPE, RotatingTucker, laplacian, orthonormal, random_tucker


def _operators(rng, complex_=False):
    n1, n2, n3 = SHAPE
    A1 = rng.standard_normal((n1, n1))
    A2 = sp.random(n2, n2, density=0.3, random_state=1, format="csr")
    A3 = laplacian(n3, sparse=True)
    if complex_:
        A1 = A1 + 1j * rng.standard_normal((n1, n1))
    return A1, A2, A3


def _linear_and_dense(complex_=False, with_source=False):
    rng = np.random.default_rng(0)
    A1, A2, A3 = _operators(rng, complex_)
    G = random_tucker(seed=7, ranks=(1, 2, 2), complex_=complex_)
    terms = [(A1, None, None), (None, A2, A3), (A1, A2, A3)]
    coeffs = [1.5, lambda t: np.cos(t), -0.5j if complex_ else -0.5]
    source = (lambda t: G) if with_source else None
    F = dlra.LinearField(terms, coeffs, source=source)

    def dense(t, Y):
        out = 0
        for (a, b, c), coef in zip(terms, coeffs):
            c_ = coef(t) if callable(coef) else coef
            x = Y
            for i, op in enumerate((a, b, c)):
                if op is not None:
                    x = mode_product(x, op.toarray() if sp.issparse(op) else op, i)
            out = out + c_ * x
        return out + (G.to_dense() * np.exp(0) if with_source else 0)

    return F, dense


@pytest.mark.parametrize("complex_", [False, True])
def test_linear_field_products_match_dense_definition(complex_):
    F, dense = _linear_and_dense(complex_, with_source=True)
    Y = random_tucker(complex_=True)
    tf, ref = as_tucker_field(F), as_tucker_field(dense)
    rng = np.random.default_rng(1)
    bases = [orthonormal(rng, n, r + 1, True) for n, r in zip(SHAPE, RANKS)]
    t = 0.3
    full = ref.project(t, Y.core, Y.factors, [None] * 3)
    np.testing.assert_allclose(full, dense(t, Y.to_dense()), atol=1e-12)
    for i in range(3):
        bs = [None if j == i else bases[j] for j in range(3)]
        np.testing.assert_allclose(
            tf.project(t, Y.core, Y.factors, bs), ref.project(t, Y.core, Y.factors, bs), atol=1e-11
        )
    np.testing.assert_allclose(
        tf.project(t, Y.core, Y.factors, bases),
        ref.project(t, Y.core, Y.factors, bases),
        atol=1e-11,
    )


def test_flows_match_between_linear_and_dense_paths():
    """K-step, projected S-step and C-step right-hand sides agree with the dense definition."""
    F, dense = _linear_and_dense(True, with_source=True)
    tf, ref = as_tucker_field(F), as_tucker_field(dense)
    Y = random_tucker(complex_=True)
    rng = np.random.default_rng(2)
    t = 0.7
    for i in range(3):
        S, G = mode_factor(Y.core, i)
        K = rng.standard_normal((SHAPE[i], RANKS[i])) + 0j
        np.testing.assert_allclose(
            tf.mode_flow(i, G, Y.factors).rhs(t, K),
            ref.mode_flow(i, G, Y.factors).rhs(t, K),
            atol=1e-11,
        )
        Ui = Y.factors[i]
        np.testing.assert_allclose(
            tf.mode_flow(i, G, Y.factors, Ui).rhs(t, S),
            ref.mode_flow(i, G, Y.factors, Ui).rhs(t, S),
            atol=1e-11,
        )
        # the K-step right-hand side is the matrix K-step of the unfolding: Matᵢ(F) Vᵢ
        Vi = np.conj(np.kron(*[U for j, U in enumerate(Y.factors) if j != i])) @ (
            np.moveaxis(G, i, 0).reshape(RANKS[i], -1).conj().T
        )
        Yk = mode_product(
            multi_mode_product(G, [None if j == i else U for j, U in enumerate(Y.factors)]), K, i
        )
        Fk = np.moveaxis(dense(t, Yk), i, 0).reshape(SHAPE[i], -1)
        np.testing.assert_allclose(tf.mode_flow(i, G, Y.factors).rhs(t, K), Fk @ Vi, atol=1e-11)
    np.testing.assert_allclose(
        tf.core_flow(Y.factors).rhs(t, Y.core), ref.core_flow(Y.factors).rhs(t, Y.core), atol=1e-11
    )


def test_exact_linear_flows_match_fine_rk4():
    rng = np.random.default_rng(3)
    A1, A2, A3 = _operators(rng, True)
    F = dlra.LinearField([(A1, None, None), (None, A2, A3), (A1, A2, A3)], [-1j, 0.5, 0.2])
    tf = as_tucker_field(F)
    Y = random_tucker(complex_=True)
    S, G = mode_factor(Y.core, 1)
    fine = dlra.RK4(steps=400)
    for flow, x0 in (
        (tf.mode_flow(1, G, Y.factors), Y.factors[1] @ S),
        (tf.mode_flow(1, G, Y.factors, Y.factors[1]), S),
        (tf.core_flow(Y.factors), Y.core),
    ):
        for sign in (1.0, -1.0):
            exact = flow.exact(x0, 0.0, 0.2, sign)
            np.testing.assert_allclose(exact, fine.solve(flow, x0, 0.0, 0.2, sign), atol=1e-11)


def test_data_field_exact_increments():
    p = RotatingTucker()
    tf = as_tucker_field(p.field())
    Y = TuckerTensor.from_dense(p.A(0.0), ranks=RANKS)
    C1 = tf.core_flow(Y.factors).exact(Y.core, 0.0, 0.3, 1.0)
    np.testing.assert_allclose(
        C1, Y.core + multi_mode_product(p.A(0.3) - p.A(0.0), Y.factors, adjoint=True), atol=1e-13
    )
    S, G = mode_factor(Y.core, 2)
    K1 = tf.mode_flow(2, G, Y.factors).exact(Y.factors[2] @ S, 0.0, 0.3, -1.0)
    assert K1.shape == (SHAPE[2], RANKS[2])


def test_torch_operators_match_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    A1, A2, A3 = _operators(rng)
    Y = random_tucker()
    Fn = dlra.LinearField([(A1, None, A3.toarray()), (None, A2.toarray(), None)], [1.0, 2.0])
    A3t = torch.as_tensor(A3.toarray()).to_sparse()
    Ft = dlra.LinearField(
        [(torch.as_tensor(A1), None, A3t), (None, torch.as_tensor(A2.toarray()), None)], [1.0, 2.0]
    )
    Yt = TuckerTensor(torch.as_tensor(Y.core), [torch.as_tensor(U) for U in Y.factors])
    out_n = as_tucker_field(Fn).project(0.0, Y.core, Y.factors, [None, *Y.factors[1:]])
    out_t = as_tucker_field(Ft).project(0.0, Yt.core, Yt.factors, [None, *Yt.factors[1:]])
    np.testing.assert_allclose(out_t.numpy(), out_n, atol=1e-12)


class Diagonal(TuckerField):
    """A user field through the protocol: F(Y) = Y ×₁ D (D diagonal), never dense."""

    def __init__(self, d):
        self.D = np.diag(d)

    def project(self, t, core, factors, bases):
        mats = [self.D @ factors[0], *factors[1:]]
        mats = [m if b is None else b.conj().T @ m for m, b in zip(mats, bases)]
        return multi_mode_product(core, mats)


def test_user_field_protocol_drives_the_integrators():
    Y = random_tucker()
    d = np.linspace(-1, 1, SHAPE[0])
    F = Diagonal(d)
    integ = dlra.get_integrator("bug", kind="tucker")
    Y1 = integ.step(F, Y, 0.0, 0.01)
    same = integ.step(dlra.LinearField([(np.diag(d), None, None)]), Y, 0.0, 0.01)
    assert Y1.distance(same) <= 1e-13 * Y.norm()
    ref = mode_product(Y.to_dense(), np.diag(np.exp(0.01 * d)), 0)
    assert np.linalg.norm(Y1.to_dense() - ref) <= 0.01**2 * Y.norm()  # one BUG step: O(h²)


# -- bad input ----------------------------------------------------------------------------------
def test_linear_field_validation_messages():
    Y = random_tucker()
    A = np.eye(SHAPE[0])
    with pytest.raises(ValueError, match="terms have 2 operators each but Y0 has 3 modes"):
        as_tucker_field(dlra.LinearField([(A, None)])).validate(0.0, Y)
    with pytest.raises(
        ValueError, match=r"terms\[0\]\[1\] has shape \(12, 12\) but Y0 has size 15"
    ):
        as_tucker_field(dlra.LinearField([(None, A, None)])).validate(0.0, Y)
    with pytest.raises(TypeError, match=r"coeffs\[0\] is complex .* but Y0 is real"):
        as_tucker_field(dlra.LinearField([(A, None, None)], [1j])).validate(0.0, Y)
    lr = dlra.LowRankMatrix.from_dense(np.eye(4), rank=2)
    with pytest.raises(TypeError, match="source\\(t\\) must return a TuckerTensor"):
        as_tucker_field(dlra.LinearField([(A, None, None)], source=lambda t: lr)).validate(0.0, Y)


def test_data_and_callable_field_validation_messages():
    Y = random_tucker()
    with pytest.raises(
        ValueError, match=r"A\(t\) returned shape \(3, 3\), expected \(12, 15, 18\)"
    ):
        as_tucker_field(dlra.DataField(lambda t: np.zeros((3, 3)))).validate(0.0, Y)
    with pytest.raises(ValueError, match=r"F returned shape \(2,\), expected the shape of Y"):
        as_tucker_field(lambda t, Y: np.zeros(2)).validate(0.0, Y)
    with pytest.raises(TypeError, match="F returned complex values for a real state"):
        as_tucker_field(lambda t, Y: 1j * Y).validate(0.0, Y)
    with pytest.raises(TypeError, match="implements the matrix protocol"):
        as_tucker_field(dlra.Field())
    with pytest.raises(TypeError, match="F must be a callable"):
        as_tucker_field(3.0)


def test_two_mode_tucker_states_take_a_tucker_source():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((8, 8)) / 4
    Y0 = dlra.TuckerTensor.from_dense(rng.standard_normal((8, 8)), ranks=(2, 2))
    G = dlra.TuckerTensor.from_dense(rng.standard_normal((8, 8)), ranks=(1, 1))
    field = dlra.LinearField([(A, None), (None, A)], source=lambda t: G)
    sol = dlra.solve(field, Y0, (0, 0.2), h=0.1, method="bug")
    assert sol.success and sol.ranks[-1] == (2, 2)


def test_fixed_rank_tucker_methods_take_per_mode_default_min_ranks():
    Y0 = dlra.TuckerTensor.from_dense(np.random.default_rng(1).standard_normal((5, 5, 5)), ranks=2)
    sol = dlra.solve(lambda t, Y: -Y, Y0, (0, 0.2), h=0.1, method="ksl", min_rank=(1, 1, 1))
    assert sol.ranks[-1] == (2, 2, 2)
    with pytest.raises(ValueError, match="min_rank and max_rank do not apply"):
        dlra.solve(lambda t, Y: -Y, Y0, (0, 0.2), h=0.1, method="ksl", min_rank=(1, 2, 1))
