"""Projected operators of augmented bases from their blocks, the factored F½ evaluation and the
direct CSR kernel give the values of the plain formulas (issue 6).

* ``Xᴴ A X`` for ``X = [X₀, X̃]`` made by an augmentation reuses ``X₀ᴴ A X₀`` and computes only the
  blocks with the new columns (the adjoint of one of them for Hermitian ``A``);
* ``LinearField.right_left_at(t, U, S, V)`` equals ``right_left(t, U S, V, V, U)``;
* ``Operator.accumulate`` on scipy CSR operators accumulates straight into ``out`` with scipy's
  kernel and equals ``out + c · (A @ x)``; where the kernel does not apply it takes the public
  product.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import dlra
from dlra.fields import projections
from dlra.fields.operators import Operator
from dlra.integrators.base import Counters, StepContext
from dlra.linalg import augment_basis
from dlra.substeps import as_substep

N, R, P = 150, 4, 3


def operators(kind: str, complex_: bool, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Two sparse operators: Hermitian ones (``kind="hermitian"``) or general ones."""
    rng = np.random.default_rng(seed)
    ops = []
    for _ in range(2):
        a = sp.random(N, N, density=0.05, random_state=rng, format="csr")
        if complex_:
            a = a + 1j * sp.random(N, N, density=0.05, random_state=rng, format="csr")
        a = a + sp.eye(N)
        if kind == "hermitian":
            a = (a + a.conj().T) / 2
        ops.append(sp.csr_matrix(a))
    return ops[0], ops[1]


def orthonormal(n: int, r: int, complex_: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, r))
    if complex_:
        x = x + 1j * rng.standard_normal((n, r))
    return np.linalg.qr(x)[0]


def to_backend(xp, a):
    """Arrays and scipy operators as the backend under test (torch sparse CSR for torch)."""
    if xp.name == "numpy":
        return a
    import torch

    if sp.issparse(a):
        c = sp.csr_matrix(a)
        return torch.sparse_csr_tensor(
            torch.as_tensor(c.indptr, dtype=torch.int64),
            torch.as_tensor(c.indices, dtype=torch.int64),
            torch.as_tensor(c.data),
            size=c.shape,
            device="cuda" if xp.name == "torch-cuda" else "cpu",
        )
    return xp.asarray(a)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("kind", ["hermitian", "general"])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_projected_operator_of_an_augmented_basis_from_its_blocks(xp, side, kind, complex_):
    A, B = operators(kind, complex_)
    F = dlra.LinearField([(to_backend(xp, A), None), (None, to_backend(xp, B))])
    k = 0 if side == "left" else 1
    op = F.terms[k][k]
    assert op.is_hermitian == (kind == "hermitian")
    U0 = xp.asarray(orthonormal(N, R, complex_, 1))
    K = xp.asarray(orthonormal(N, P, complex_, 2))
    _, U_hat = augment_basis(U0, K)
    assert U_hat.shape[1] == R + P
    cache: dict = {}
    lead = F.projected(side, k, U0, cache)
    projections.note_augmented(cache, U0, U_hat, R)
    # the operator is applied to the new columns only, never to the whole augmented basis
    # (M = A: apply, Mᴴ: apply_adjoint; M = Bᵀ: apply_transpose, Mᴴ = conj(B): apply_conj)
    names = ("apply", "apply_adjoint") if side == "left" else ("apply_transpose", "apply_conj")
    widths = []
    for name in (*names, "sandwich"):
        setattr(op, name, _recording(getattr(op, name), widths))
    got = xp.to_numpy(F.projected(side, k, U_hat, cache))
    for name in (*names, "sandwich"):
        delattr(op, name)
    assert widths and max(widths) == P
    assert len(widths) == (1 if kind == "hermitian" else 2)
    M = A if side == "left" else B.T
    Uh = xp.to_numpy(U_hat)
    want = Uh.conj().T @ (M @ Uh)
    norm = np.abs(M).sum(axis=1).max()
    assert np.abs(got - want).max() <= 50 * N * np.finfo(float).eps * norm
    # the leading block is U₀'s projected operator itself, not a recomputation
    assert np.array_equal(got[:R, :R], xp.to_numpy(lead))


def _recording(method, widths):
    def recorded(x, *args, **kwargs):
        widths.append(x.shape[1])
        return method(x, *args, **kwargs)

    return recorded


def test_released_lead_keeps_its_projected_operators():
    A, _ = operators("general", False)
    F = dlra.LinearField([(A, None)])
    U0 = orthonormal(N, R, False, 3)
    _, U_hat = augment_basis(U0, orthonormal(N, P, False, 4))
    cache: dict = {}
    projections.note_augmented(cache, U0, U_hat, R)
    lead = F.projected("left", 0, U0, cache)
    projections.release(cache, U0)
    assert not any(value[0] is U0 for value in cache.values())  # U₀ no longer kept alive
    record = projections.augmented_from(cache, U_hat)
    assert record.lead is None
    assert record.lead_projection(cache, id(F), "left", 0) is lead
    got = F.projected("left", 0, U_hat, cache)
    assert np.allclose(got, U_hat.T @ (A @ U_hat), rtol=0, atol=1e-12)
    projections.release(cache, U_hat)
    assert cache == {}


def test_a_basis_not_made_by_augmentation_is_projected_in_full():
    A, _ = operators("hermitian", False)
    F = dlra.LinearField([(A, None)])
    X = orthonormal(N, R + P, False, 5)
    cache: dict = {}
    F.projected("left", 0, X[:, :R], cache)
    assert projections.augmented_from(cache, X) is None
    assert np.allclose(F.projected("left", 0, X, cache), X.T @ (A @ X), rtol=0, atol=1e-12)


def test_step_context_records_augmented_bases():
    A, _ = operators("hermitian", False)
    ctx = StepContext(dlra.LinearField([(A, None), (None, A)]), as_substep("rk4"), Counters())
    U0 = orthonormal(N, R, False, 6)
    _, U_hat = ctx.augment(U0, orthonormal(N, P, False, 7))
    record = projections.augmented_from(ctx.projections, U_hat)
    assert record is not None and record.lead is U0 and record.width == R
    ctx.release(U0)
    assert record.lead is None


@pytest.mark.parametrize("with_cache", [False, True])
def test_right_left_at_equals_right_left(xp, with_cache):
    A, B = operators("general", True)
    D, _ = operators("hermitian", True, seed=9)
    rng = np.random.default_rng(10)
    G = dlra.LowRankMatrix(
        xp.asarray(orthonormal(N, 2, True, 11)),
        xp.asarray(np.diag([1.0, 0.5]).astype(complex)),
        xp.asarray(orthonormal(N, 2, True, 12)),
    )
    F = dlra.LinearField(
        [
            (to_backend(xp, A), None),
            (None, to_backend(xp, B)),
            (to_backend(xp, D), to_backend(xp, D)),
        ],
        [-1j, lambda t: 2.0 + t, 0.5],
        source=lambda t: G,
    )
    U = xp.asarray(orthonormal(N, R, True, 13))
    V = xp.asarray(orthonormal(N, R, True, 14))
    S = xp.asarray(rng.standard_normal((R, R)) + 1j * rng.standard_normal((R, R)))
    cache = {} if with_cache else None
    got = F.right_left_at(0.3, U, S, V, cache=cache)
    want = F.right_left(0.3, U @ S, V, V, U)
    for g, w in zip(got, want):
        g, w = xp.to_numpy(g), xp.to_numpy(w)
        assert np.abs(g - w).max() <= 1e-12 * np.abs(w).max()
    if with_cache:  # the projected operators are left for the rest of the step
        assert F.projected("left", 0, U, cache) is cache[(id(F), "left", 0, id(U))][1]


def test_hermitian_check_of_operators():
    L = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(6, 6), format="csr")
    C = sp.csr_matrix(L * (1 + 1j))  # complex symmetric, not Hermitian
    H = sp.csr_matrix(L + 1j * sp.diags([1.0, -1.0], [1, -1], shape=(6, 6)))
    assert Operator(L, "L").is_hermitian
    assert not Operator(C, "C").is_hermitian
    assert Operator(H, "H").is_hermitian
    assert not Operator(sp.triu(L), "U").is_hermitian
    assert Operator(L.toarray(), "dense").is_hermitian
    assert not Operator(sp.triu(L).toarray(), "dense").is_hermitian
    assert not Operator(sp.linalg.aslinearoperator(L), "op").is_hermitian  # entries unknown
    torch = pytest.importorskip("torch")
    assert Operator(torch.as_tensor(H.toarray()), "t").is_hermitian
    assert Operator(torch.as_tensor(H.toarray()).to_sparse_csr(), "ts").is_hermitian
    assert not Operator(torch.as_tensor(C.toarray()).to_sparse_coo(), "tc").is_hermitian


@pytest.mark.parametrize(
    "dtype,c",
    [(np.float64, 1.0), (np.float64, -0.25), (np.float32, 0.5), (np.complex128, 0.5 - 2j)],
)
@pytest.mark.parametrize("n", [100, 5000])  # one row chunk, several row chunks
@pytest.mark.parametrize("conj", [False, True])
def test_csr_accumulate_equals_the_public_product(dtype, c, n, conj):
    rng = np.random.default_rng(15)
    a = sp.random(n, n, density=5 / n, random_state=rng, format="csr") + sp.eye(n)
    if np.issubdtype(dtype, np.complexfloating):
        a = a + 1j * sp.random(n, n, density=5 / n, random_state=rng, format="csr")
    op = Operator(a, "A")
    x = rng.standard_normal((n, 3)).astype(dtype)
    out = rng.standard_normal((n, 3)).astype(dtype)
    m = (a.conj() if conj else a).astype(dtype)
    want = out + np.asarray(m @ x) * dtype(c)
    op.accumulate(x, out, c, conj=conj)
    tol = 50 * np.finfo(dtype).eps * (1 + np.abs(want).max())
    assert out.dtype == dtype
    assert np.abs(out - want).max() <= tol


def test_csr_accumulate_takes_the_public_product_where_the_kernel_does_not_apply():
    n = 3000
    a = sp.csr_matrix(sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n)))
    op = Operator(a, "A")
    rng = np.random.default_rng(16)
    block = rng.standard_normal((n, 6))
    x = block[:, ::2]  # not contiguous
    out = np.ones((n, 3))
    op.accumulate(x, out, 2.0)
    assert np.allclose(out, 1 + 2 * (a @ x), rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError):  # a shape mismatch is never handed to the kernel
        op.accumulate(np.ones((n - 1, 3)), np.ones((n, 3)))
