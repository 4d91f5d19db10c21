"""The optimised evaluation paths give the results of the plain formulas (issue 6).

* ``LinearField`` accumulates its terms in place and skips unit coefficients: the values equal the
  plain expression ``Σₖ (Aₖ X Bₖ-part) · cₖ`` bit for bit, and the state passed in is never
  modified (identity terms, LinearOperators that return their input).
* Projected operators are shared between the substeps of one step: fewer operator applications,
  identical steps.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import dlra
from dlra.integrators.base import Counters, StepContext
from dlra.substeps import as_substep


def laplacian(n: int) -> sp.csr_matrix:
    e = np.ones(n)
    return sp.diags([e[:-1], -2 * e, e[:-1]], [-1, 0, 1], format="csr")


def state(n: int, r: int, complex_: bool = False, seed: int = 0) -> dlra.LowRankMatrix:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n, r)))
    S = np.diag(2.0 ** -np.arange(r))
    Y = dlra.LowRankMatrix(U, S, V)
    return Y.astype(np.complex128) if complex_ else Y


def test_k_flow_equals_plain_formula_bitwise():
    n, r = 300, 6
    D, V_ = laplacian(n), sp.diags(np.cos(np.arange(n)), format="csr")
    Y = state(n, r, complex_=True)
    coeffs = [-1j, -0.5j, 2.0]
    F = dlra.LinearField([(D, None), (None, D), (V_, V_)], coeffs)
    K = Y.U @ Y.S
    Vb = Y.V
    got = F.k_flow(Vb).rhs(0.0, K)
    Dc, Vc = D.astype(complex), V_.astype(complex)
    s1 = Vb.conj().T @ (Dc.conj().T @ Vb.conj()).conj()  # Vᴴ Dᵀ V
    s2 = Vb.conj().T @ (Vc.conj().T @ Vb.conj()).conj()
    want = (Dc @ K) * coeffs[0] + (K @ s1) * coeffs[1] + (Vc @ (K @ s2)) * coeffs[2]
    assert np.array_equal(got, want)


def test_right_and_left_equal_plain_formula_bitwise():
    n, r = 200, 5
    L = laplacian(n)
    F = dlra.LinearField([(L, None), (None, L)], [1.0, 3.0])
    Y = state(n, r)
    A, B = Y.U @ Y.S, Y.V
    W = np.random.default_rng(1).standard_normal((n, 3))
    want_right = (L @ (A @ (B.T @ W))) * 1.0 + (A @ (B.T @ (L.T @ W))) * 3.0
    assert np.array_equal(F.right(0.0, A, B, W), want_right)
    want_left = (B @ (A.T @ (L.T @ W))) * 1.0 + (L @ (B @ (A.T @ W))) * 3.0
    assert np.array_equal(F.left(0.0, A, B, W), want_left)


def test_state_is_never_modified_in_place():
    """Identity terms and LinearOperators returning their input must not alias the result."""
    n, r = 100, 4
    ident = spla.LinearOperator(
        (n, n),
        matvec=lambda x: x,
        rmatvec=lambda x: x,
        matmat=lambda X: X,
        rmatmat=lambda X: X,
        dtype=float,
    )
    F = dlra.LinearField([(None, None), (ident, None), (None, laplacian(n))], [1.0, 2.0, 1.0])
    Y = state(n, r)
    K = Y.U @ Y.S
    K_copy = K.copy()
    out = F.k_flow(Y.V).rhs(0.0, K)
    assert np.array_equal(K, K_copy)
    assert out is not K
    assert np.allclose(out, 3.0 * K + K @ (Y.V.T @ (laplacian(n).T @ Y.V)), atol=1e-14)
    L_in = Y.V @ Y.S.T
    L_copy = L_in.copy()
    F.l_flow(Y.U).rhs(0.0, L_in)
    assert np.array_equal(L_in, L_copy)


def test_torch_autograd_through_the_field():
    """Tensors that track gradients take the out-of-place path (autograd still works)."""
    torch = pytest.importorskip("torch")
    n, r = 50, 3
    L = torch.as_tensor(laplacian(n).toarray())
    F = dlra.LinearField([(L, None), (None, L)], [1.0, 0.5])
    Y = state(n, r)
    K = torch.as_tensor(Y.U @ Y.S).requires_grad_(True)
    Vb = torch.as_tensor(Y.V)
    out = F.k_flow(Vb).rhs(0.0, K)
    out.sum().backward()
    ones = torch.ones(n, r, dtype=torch.float64)
    want = (L.T @ ones) + ones @ (0.5 * (Vb.T @ L.T @ Vb)).T
    assert torch.allclose(K.grad, want, atol=1e-12)


class CountingOperator(spla.LinearOperator):
    """A symmetric sparse operator that counts its applications to blocks."""

    def __init__(self, A: sp.csr_matrix) -> None:
        super().__init__(dtype=A.dtype, shape=A.shape)
        self.A = A
        self.calls = 0

    def _matmat(self, X):
        self.calls += 1
        return self.A @ X

    def _rmatmat(self, X):
        self.calls += 1
        return self.A.T @ X

    _matvec = _matmat
    _rmatvec = _rmatmat


@pytest.mark.parametrize("method,saved", [("ksl", 2), ("strang", 4), ("bug", 0)])
def test_projected_operators_shared_within_a_step(method, saved):
    """KSL reuses Vᴴ B V (K→S) and Uᴴ A U (S→L); Strang four of its seven projections."""
    n, r = 120, 4
    Y = state(n, r)
    integ = dlra.get_integrator(method)
    results, calls = {}, {}
    for cached in (True, False):
        A = CountingOperator(laplacian(n))
        F = dlra.LinearField([(A, None), (None, A)])
        ctx = StepContext(F, as_substep("rk4"), Counters())
        if not cached:
            ctx.projections = None
        results[cached] = integ._step(ctx, Y, 0.0, 0.01)
        calls[cached] = A.calls
    assert calls[False] - calls[True] == saved
    a, b = results[True], results[False]
    for x, y in ((a.U, b.U), (a.S, b.S), (a.V, b.V)):
        assert np.array_equal(x, y)


def test_projection_cache_is_keyed_by_the_basis_object():
    n, r = 80, 3
    F = dlra.LinearField([(laplacian(n), None), (None, laplacian(n))])
    Y = state(n, r)
    cache: dict = {}
    first = F.projected("left", 0, Y.U, cache)
    assert F.projected("left", 0, Y.U, cache) is first
    other = Y.U.copy()  # equal values, another object: computed afresh
    assert F.projected("left", 0, other, cache) is not first
    assert F.projected("left", 1, Y.U, cache) is None  # identity
    assert np.array_equal(first, (laplacian(n).T @ Y.U).T @ Y.U)
