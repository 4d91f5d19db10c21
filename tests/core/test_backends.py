"""The same code on numpy and torch: float64 agreement, complex problems, float32 runs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import dlra

from .integrator_table import BY_NAME, NAMES
from .problems import RotatingData, schrodinger, schrodinger_initial

torch = pytest.importorskip("torch")


def _lowrank(xp, A, rank):
    return dlra.LowRankMatrix.from_dense(xp.asarray(A), rank=rank)


@pytest.mark.parametrize("method", NAMES)
def test_torch_float64_reproduces_numpy(method, xp):
    """Linear field (dense operators) with RK4 substeps: all backends agree with numpy to 1e-10."""
    p = RotatingData(n=32, m=24, rank=4, scale=1.5)
    opts = BY_NAME[method].options
    Y0 = dlra.LowRankMatrix.from_dense(p.D + 1e-3 * np.ones_like(p.D), rank=4)
    ref = (
        dlra.solve(
            dlra.LinearField([(p.B1, None), (None, p.B2)]),
            Y0,
            (0, 0.5),
            h=0.05,
            method=method,
            **opts,
        )
        .y[-1]
        .to_dense()
    )
    field = dlra.LinearField([(xp.asarray(p.B1), None), (None, xp.asarray(p.B2))])
    Yx = _lowrank(xp, p.D + 1e-3 * np.ones_like(p.D), 4)
    out = dlra.solve(field, Yx, (0, 0.5), h=0.05, method=method, **opts).y[-1]
    assert out.backend.name == ("numpy" if xp.name == "numpy" else "torch")
    assert np.linalg.norm(xp.to_numpy(out.to_dense()) - ref) <= 1e-10 * np.linalg.norm(ref)


@pytest.mark.parametrize("method", ["ksl", "bug", "adaptive_bug", "parallel_bug2"])
def test_complex_schrodinger_on_every_backend(method, xp):
    """T4 with complex coefficients and sparse operators (scipy / torch sparse) on every backend."""
    N = 30
    terms, coeffs, _ = schrodinger(N)
    A0 = schrodinger_initial(N).astype(complex)
    opts = BY_NAME[method].options
    ref = (
        dlra.solve(
            dlra.LinearField(terms, coeffs),
            dlra.LowRankMatrix.from_dense(A0, rank=5),
            (0, 0.3),
            h=0.05,
            method=method,
            **opts,
        )
        .y[-1]
        .to_dense()
    )
    if xp.name == "numpy":
        sparse_terms = [tuple(None if a is None else sp.csr_matrix(a) for a in t) for t in terms]
    else:
        device = "cuda" if xp.name == "torch-cuda" else "cpu"
        sparse_terms = [
            tuple(None if a is None else torch.as_tensor(a, device=device).to_sparse() for a in t)
            for t in terms
        ]
    sol = dlra.solve(
        dlra.LinearField(sparse_terms, coeffs),
        _lowrank(xp, A0, 5),
        (0, 0.3),
        h=0.05,
        method=method,
        **opts,
    )
    out = xp.to_numpy(sol.y[-1].to_dense())
    assert np.iscomplexobj(out)
    assert np.linalg.norm(out - ref) <= 1e-10 * np.linalg.norm(ref)


@pytest.mark.parametrize("method", NAMES)
def test_float32_runs_at_single_precision_accuracy(method, xp):
    """float32 states stay float32 (no silent promotion) and are accurate to ~1e-5 relative."""
    p = RotatingData(n=32, m=24, rank=4)
    opts = dict(BY_NAME[method].options)
    if "tol" in opts:
        opts["tol"] = 1e-5
    Y0 = dlra.LowRankMatrix.from_dense(p.D, rank=4)
    ref = (
        dlra.solve(
            dlra.LinearField([(p.B1, None), (None, p.B2)]),
            Y0,
            (0, 0.5),
            h=0.05,
            method=method,
            **opts,
        )
        .y[-1]
        .to_dense()
    )
    f32 = np.float32
    field = dlra.LinearField(
        [(xp.asarray(p.B1.astype(f32)), None), (None, xp.asarray(p.B2.astype(f32)))]
    )
    Yx = _lowrank(xp, p.D.astype(f32), 4)
    out = dlra.solve(field, Yx, (0, 0.5), h=0.05, method=method, **opts).y[-1]
    assert "float32" in str(out.dtype)
    dense = xp.to_numpy(out.to_dense()).astype(float)
    assert np.linalg.norm(dense - ref) <= 1e-4 * np.linalg.norm(ref)


def test_callable_field_on_torch(xp):
    """A plain callable written with operators of the backend works on every backend."""
    p = RotatingData(n=20, m=16, rank=3)
    B1, B2 = xp.asarray(p.B1), xp.asarray(p.B2)

    def F(t, Y):
        return B1 @ Y + Y @ B2.T

    sol = dlra.solve(F, _lowrank(xp, p.D, 3), (0, 1), h=0.1, method="ksl", substep=dlra.RK4(4))
    import scipy.linalg as sl

    exact = sl.expm(p.B1) @ p.D @ sl.expm(p.B2).T
    # RK4(4) substeps: local error ~ (τ‖B‖)⁵/120 with τ = 0.025, ‖B‖ ≈ 1.5, over 30 substeps
    assert np.linalg.norm(xp.to_numpy(sol.y[-1].to_dense()) - exact) <= 1e-7


def test_mixed_precision_factors_are_checked_in_their_own_precision(xp):
    """float32 (complex64) U, V with a float64 (complex128) S: the factors are orthonormal to
    their own round-off — accepted, and promoted to the wider dtype."""
    from dlra.tucker import TuckerTensor

    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((12, 3)))
    V, _ = np.linalg.qr(rng.standard_normal((9, 3)))
    for low, high in ((np.float32, np.float64), (np.complex64, np.complex128)):
        Y = dlra.LowRankMatrix(
            xp.asarray(U.astype(low)),
            xp.asarray(np.diag([3.0, 2.0, 1.0]).astype(high)),
            xp.asarray(V.astype(low)),
        )
        assert np.dtype(str(Y.dtype).replace("torch.", "")) == high
        factors = [
            xp.asarray(np.linalg.qr(rng.standard_normal((n, 2)))[0].astype(low)) for n in (5, 6)
        ]
        T = TuckerTensor(xp.asarray(np.ones((2, 2)).astype(high)), factors)
        assert np.dtype(str(T.dtype).replace("torch.", "")) == high
    with pytest.raises(ValueError, match="U must have orthonormal columns"):
        dlra.LowRankMatrix(
            xp.asarray(2 * U.astype(np.float32)), xp.asarray(np.eye(3)), xp.asarray(V)
        )


def test_mixed_backends_are_rejected():
    p = RotatingData(n=10, m=8, rank=2)
    field = dlra.LinearField([(torch.as_tensor(p.B1), None), (None, torch.as_tensor(p.B2))])
    with pytest.raises(
        TypeError, match=r"terms\[0\]\[0\] is a torch operator but the state is a numpy"
    ):
        dlra.solve(field, dlra.LowRankMatrix.from_dense(p.D, rank=2), (0, 1), h=0.1, method="bug")
    U = torch.eye(10, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match="mixed array backends"):
        dlra.LowRankMatrix(U, np.eye(2), np.eye(8, 2))


@pytest.mark.parametrize("method", NAMES)
def test_complex_torch_results_have_no_lazy_conjugate_views(method):
    """Results convert with ``.numpy()`` (a conjugate-bit view would refuse)."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(10, 8, dtype=torch.complex128, generator=g)
    Y0 = dlra.LowRankMatrix.from_dense(A, rank=3)
    opts = dict(BY_NAME[method].options)
    sol = dlra.solve(lambda t, Y: -1j * Y, Y0, (0, 1), h=0.5, method=method, **opts)
    for factor in sol.y[-1]:
        assert not factor.is_conj()
        assert factor.numpy().shape == tuple(factor.shape)
