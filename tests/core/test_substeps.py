"""Substep solvers: the low-storage RK4, the in-place RK4 path and the in-place field products."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

import dlra
from dlra import substeps
from dlra.fields.base import Flow
from dlra.fields.operators import as_operator
from dlra.tucker.fields import as_tucker_field

# several row chunks (dlra._backend.row_chunks splits blocks of more than 2048 rows)
TALL = 5000


def laplacian(n: int) -> sp.csr_matrix:
    return sp.diags([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr") * (
        n / 4
    )


def state(n: int, r: int, *, complex_: bool = False, seed: int = 0) -> dlra.LowRankMatrix:
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((n, r)))[0]
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    S = np.diag(10.0 ** (-np.arange(r) / 2))
    if complex_:
        U, S, V = (x.astype(complex) for x in (U, S, V))
    return dlra.LowRankMatrix(U, S, V)


def heat(n: int) -> dlra.LinearField:
    L = laplacian(n)
    return dlra.LinearField([(L, None), (None, L)])


def test_carpenter_kennedy_coefficients_satisfy_the_order_4_conditions():
    """Rebuild the Butcher tableau of the 2N-storage scheme and check all eight conditions."""
    A, B = substeps._CK_A, substeps._CK_B
    s = len(A)
    D = np.zeros((s, s))  # dq_i = Σ_j D_ij k_j
    for i in range(s):
        if i:
            D[i] = A[i] * D[i - 1]
        D[i, i] = 1.0
    a = np.zeros((s, s))
    for i in range(s):
        for j in range(i):
            a[i] += B[j] * D[j]
    b = sum(B[j] * D[j] for j in range(s))
    c = a.sum(axis=1)
    np.testing.assert_allclose(c, substeps._CK_C, atol=1e-15)
    conditions = [
        (b.sum(), 1.0),
        (b @ c, 1 / 2),
        (b @ c**2, 1 / 3),
        (b @ (a @ c), 1 / 6),
        (b @ c**3, 1 / 4),
        (b @ (c * (a @ c)), 1 / 8),
        (b @ (a @ c**2), 1 / 12),
        (b @ (a @ (a @ c)), 1 / 24),
    ]
    for value, expected in conditions:
        assert abs(value - expected) < 1e-14


@pytest.mark.parametrize("solver", [dlra.RK4, dlra.LowStorageRK4])
def test_fourth_order_on_a_nonautonomous_linear_ode(solver):
    """ẋ = (A + t I) x has the solution exp(A (t1 − t0) + (t1² − t0²)/2) x0 (A commutes with I):
    halving the step divides the error by about 2⁴ = 16."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 6)) / 2
    x0 = rng.standard_normal((6, 3))
    flow = Flow(lambda t, x: A @ x + t * x)
    t0, t1 = 0.2, 1.0
    exact = scipy.linalg.expm(A * (t1 - t0) + np.eye(6) * (t1**2 - t0**2) / 2) @ x0
    errors = [np.linalg.norm(solver(steps=k).solve(flow, x0, t0, t1) - exact) for k in (4, 8, 16)]
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    assert all(12 < q < 20 for q in ratios), ratios


@pytest.mark.parametrize("solver", [dlra.RK4(steps=2), dlra.LowStorageRK4(steps=2)])
@pytest.mark.parametrize("complex_", [False, True])
def test_in_place_path_equals_the_allocating_path(solver, complex_):
    """The same flow with and without ``rhs_into``: results agree to round-off, the start block is
    left alone unless handed over, and a handed-over start block holds the result."""
    n, r = TALL, 4
    Y = state(n, r, complex_=complex_)
    L = laplacian(n)
    coeffs = [-1j, -1j] if complex_ else [1.0, 1.0]
    field = dlra.LinearField([(L, None), (None, L)], coeffs)
    flow = field.k_flow(Y.V)
    plain = Flow(flow.rhs)
    K0 = Y.U @ Y.S
    keep = K0.copy()
    reference = solver.solve(plain, K0, 0.0, 0.01)
    result = solver.solve(flow, K0, 0.0, 0.01)
    np.testing.assert_array_equal(K0, keep)
    scale = np.linalg.norm(reference)
    assert np.linalg.norm(result - reference) <= 1e-13 * scale
    owned = solver.solve(flow, K0, 0.0, 0.01, overwrite_x0=True)
    assert np.linalg.norm(owned - reference) <= 1e-13 * scale


def test_rk4_takes_its_horner_form_only_for_autonomous_linear_flows():
    """``Flow.linear`` (which sends RK4 to the Horner form of its step polynomial) is set for
    K-, L- and S-flows of a LinearField with constant coefficients and no source, and only
    there: with a time-dependent coefficient or a source the Horner form would be wrong."""
    n, r = 64, 3
    Y = state(n, r)
    L = laplacian(n)
    constant = dlra.LinearField([(L, None), (None, L)], [1.0, 0.5])
    flows = (constant.k_flow(Y.V), constant.l_flow(Y.U), constant.s_flow(Y.U, Y.V))
    assert all(flow.linear for flow in flows)
    varying = dlra.LinearField([(L, None), (None, L)], [1.0, lambda t: 1.0 + t])
    sourced = dlra.LinearField([(L, None)], source=lambda t: Y)
    for field in (varying, sourced):
        flows = (field.k_flow(Y.V), field.l_flow(Y.U), field.s_flow(Y.U, Y.V))
        assert not any(flow.linear for flow in flows)
    # Tucker: the mode and core flows of 3-mode terms
    rng = np.random.default_rng(0)
    G = rng.standard_normal((r, r, r))
    factors = [np.linalg.qr(rng.standard_normal((n, r)))[0] for _ in range(3)]
    for coeffs, linear in (([1.0, 0.5], True), ([1.0, lambda t: 1.0 + t], False)):
        field = as_tucker_field(dlra.LinearField([(L, None, None), (None, L, None)], coeffs))
        flows = [field.mode_flow(i, G, factors) for i in range(3)] + [field.core_flow(factors)]
        assert all(flow.linear == linear for flow in flows)


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("into", [True, False])
def test_rk4_horner_form_equals_the_stage_form(steps, complex_, into):
    """On an autonomous linear flow the Horner form and the four stages are the same map: the
    results agree to round-off, with and without in-place accumulation, for one and several
    steps; the start block is left alone unless handed over."""
    n, r = TALL, 4
    Y = state(n, r, complex_=complex_)
    coeffs = [-1j, -0.5j] if complex_ else [1.0, 0.5]
    field = dlra.LinearField([(laplacian(n), None), (None, laplacian(n))], coeffs)
    flow = field.k_flow(Y.V)
    assert flow.linear
    horner = flow if into else Flow(flow.rhs, linear=True)
    stages = Flow(flow.rhs, rhs_into=flow.rhs_into if into else None)
    K0 = Y.U @ Y.S
    keep = K0.copy()
    solver = dlra.RK4(steps=steps)
    for sign in (1.0, -1.0):
        reference = solver.solve(stages, K0, 0.0, 0.01, sign)
        result = solver.solve(horner, K0, 0.0, 0.01, sign)
        np.testing.assert_array_equal(K0, keep)
        scale = np.linalg.norm(reference)
        assert np.linalg.norm(reference - K0) > 1e-3 * scale  # the step moves the state
        assert np.linalg.norm(result - reference) <= 1e-13 * scale
        if into:
            owned = solver.solve(horner, K0.copy(), 0.0, 0.01, sign, overwrite_x0=True)
            assert np.linalg.norm(owned - reference) <= 1e-13 * scale


@pytest.mark.parametrize("into", [True, False])
def test_rk4_horner_form_is_fourth_order(into):
    """ẋ = A x by the Horner form: halving the step divides the error by about 2⁴ = 16."""
    rng = np.random.default_rng(2)
    A = rng.standard_normal((6, 6)) / 2
    x0 = rng.standard_normal((6, 3))

    def rhs_into(t, x, out, alpha):
        out += alpha * (A @ x)

    flow = Flow(lambda t, x: A @ x, rhs_into=rhs_into if into else None, linear=True)
    exact = scipy.linalg.expm(A * 0.8) @ x0
    errors = [
        np.linalg.norm(dlra.RK4(steps=k).solve(flow, x0, 0.2, 1.0) - exact) for k in (4, 8, 16)
    ]
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    assert all(14 < q < 18 for q in ratios), ratios


def test_lsrk4_by_name_and_in_every_integrator():
    """``substep="lsrk4"`` is a fourth-order substep in every integrator: with τ‖A‖ ≈ 0.08 its
    step agrees with the exact-substep step (and with the RK4 one) to the substep error
    (τ‖A‖)⁵/120 ≈ 3e-8 relative, far below the rank-4 projection error of the step."""
    assert isinstance(substeps.as_substep("lsrk4"), dlra.LowStorageRK4)
    n, r = 200, 4
    Y = state(n, r)
    L = laplacian(n) / 50  # ‖L‖ ≈ 4, two terms: ‖A‖ ≈ 8 on the K/L blocks
    F = dlra.LinearField([(L, None), (None, L)])

    def rel(a, b):
        return np.linalg.norm(a.to_dense() - b.to_dense()) / np.linalg.norm(b.to_dense())

    for method in dlra.INTEGRATORS:
        opts = {"rtol": 1e-10} if method == "adaptive_bug" else {}
        steps = {
            sub: dlra.get_integrator(method, substep=sub, **opts).step(F, Y, 0.0, 0.01)
            for sub in ("rk4", "lsrk4", "exact")
        }
        assert rel(steps["lsrk4"], steps["exact"]) < 3e-8, method
        assert rel(steps["lsrk4"], steps["rk4"]) < 3e-8, method


@pytest.mark.parametrize("kind", ["identity", "dense", "sparse", "operator", "complex"])
@pytest.mark.parametrize("conj", [False, True])
def test_operator_accumulate(kind, conj):
    n, k = TALL, 3
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, k))
    out = rng.standard_normal((n, k)) + 0j
    M = laplacian(n)
    if kind == "complex":
        M = M + 1j * sp.diags(rng.standard_normal(n), format="csr")
    raw = {
        "identity": None,
        "dense": None,
        "sparse": M,
        "operator": sp.linalg.aslinearoperator(M),
        "complex": M,
    }[kind]
    if kind == "dense":  # a dense operator of modest size
        n, x, out = 300, x[:300], out[:300]
        raw = rng.standard_normal((n, n))
        M = raw
    op = as_operator(raw, "A")
    dense = np.eye(n) if kind == "identity" else (M.toarray() if sp.issparse(M) else M)
    if conj:
        dense = dense.conj()
    c = 0.3 - 0.2j
    expected = out + c * (dense @ x)
    op.accumulate(x.astype(complex), out, c, conj=conj)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("layout", ["contiguous", "strided", "one column"])
def test_sparse_operator_products_equal_scipys(dtype, layout):
    """``apply`` / ``apply_adjoint`` / ``small`` of a CSR operator (scipy's kernel called
    directly) give exactly scipy's ``csr @ dense``, for contiguous and strided blocks."""
    rng = np.random.default_rng(21)
    n = 50
    M = laplacian(n) + sp.diags(rng.standard_normal(n - 2), 2, format="csr")
    if np.issubdtype(dtype, np.complexfloating):
        M = M + 1j * sp.diags(rng.standard_normal(n), format="csr")
    block = rng.standard_normal((n, 6)).astype(dtype)
    x = {"contiguous": block[:, :3].copy(), "strided": block[:, ::2], "one column": block[:, :1]}[
        layout
    ]
    op = as_operator(M, "A")
    a = M.astype(dtype)
    np.testing.assert_array_equal(op.apply(x), a @ x)
    np.testing.assert_array_equal(op.apply_adjoint(x), a.conj().T.tocsr() @ x)
    assert op.apply(x).dtype == dtype
    y = np.ascontiguousarray(x[::-1])
    np.testing.assert_allclose(op.small(y, x), y.conj().T @ (a @ x), rtol=1e-5, atol=1e-5)


def test_backend_in_place_updates(xp):
    rng = np.random.default_rng(3)
    y = rng.standard_normal((TALL, 3))
    x = rng.standard_normal((TALL, 3))
    m = rng.standard_normal((3, 3))
    Y, X, M = xp.asarray(y.copy()), xp.asarray(x), xp.asarray(m)
    be = dlra._backend.backend_of(Y)
    be.add_scaled_(Y, X, 0.5)
    be.add_product_(Y, X, M, -2.0)
    np.testing.assert_allclose(xp.to_numpy(Y), y + 0.5 * x - 2.0 * x @ m, rtol=1e-13, atol=1e-13)


_UPDATE_CASES = [
    (dtype, a)
    for dtype in (np.float32, np.float64, np.complex64, np.complex128)
    for a in (0.5, -2, np.float64(0.25), 0.5 - 1j)
    if np.issubdtype(dtype, np.complexfloating) or not isinstance(a, complex)
] + [(np.int64, 3)]


@pytest.mark.parametrize("dtype,a", _UPDATE_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "strided", "overlapping"])
def test_numpy_in_place_updates_through_blas_and_their_fallbacks(dtype, a, layout):
    """``add_scaled_`` / ``add_product_`` go to BLAS ``axpy`` / ``gemm`` for contiguous blocks
    of one BLAS dtype and fall back to numpy's chunked updates otherwise (strided blocks, an
    input overlapping ``y``, integer dtypes, scalars that would promote): the values are those of
    the plain formula whichever path runs, and ``y`` itself is updated."""
    be = dlra._backend.NUMPY
    rng = np.random.default_rng(7)
    y = (10 * rng.standard_normal((TALL, 6))).astype(dtype)
    x = (10 * rng.standard_normal((TALL, 6))).astype(dtype)
    m = (10 * rng.standard_normal((3, 3))).astype(dtype)
    if layout == "strided":
        Y, X = y[:, ::2], x[:, 1::2]
    elif layout == "overlapping":  # x is y itself
        Y = y[:, :3]
        X = Y
    else:
        Y, X = y[:, :3].copy(), x[:, :3].copy()
    want_scaled = Y + a * X
    want_product = want_scaled + a * (X @ m)
    view = Y
    be.add_scaled_(Y, X, a)
    eps = 0 if np.issubdtype(dtype, np.integer) else np.finfo(dtype).eps
    assert Y is view
    np.testing.assert_allclose(
        Y, want_scaled.astype(dtype), rtol=0, atol=50 * eps * np.abs(want_scaled).max()
    )
    if layout == "overlapping":  # x is y, updated above
        X = Y
        want_product = Y + a * (Y @ m)
    be.add_product_(Y, X, m, a)
    np.testing.assert_allclose(
        Y, want_product.astype(dtype), rtol=0, atol=50 * eps * np.abs(want_product).max()
    )


@pytest.mark.parametrize("dtype,a", _UPDATE_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "strided", "overlapping"])
def test_numpy_scaled_adder_checks_once_and_falls_back(dtype, a, layout):
    """``scaled_adder(*blocks)`` (the RK4 stage sums): BLAS ``axpy`` without per-call checks for
    contiguous, non-overlapping blocks of one BLAS dtype, ``add_scaled_`` for anything else; the
    values are those of ``y + a·x`` either way and ``y`` itself is updated."""
    be = dlra._backend.NUMPY
    rng = np.random.default_rng(11)
    y = (10 * rng.standard_normal((TALL, 6))).astype(dtype)
    x = (10 * rng.standard_normal((TALL, 6))).astype(dtype)
    if layout == "strided":
        Y, X = y[:, ::2], x[:, 1::2]
    elif layout == "overlapping":
        Y, X = y[:, :3], y[:, 1:4]
    else:
        Y, X = y[:, :3].copy(), x[:, :3].copy()
    add = be.scaled_adder(Y, X)
    blas = layout == "contiguous" and not np.issubdtype(dtype, np.integer)
    assert (add != be.add_scaled_) == blas  # bound methods compare equal, not identical
    want = Y + a * X
    view = Y
    add(Y, X, a)
    assert Y is view
    eps = 0 if np.issubdtype(dtype, np.integer) else np.finfo(dtype).eps
    np.testing.assert_allclose(Y, want.astype(dtype), rtol=0, atol=50 * eps * np.abs(want).max())


def test_numpy_small_factorizations_through_lapack():
    """``cholesky_upper`` / ``svd`` call LAPACK directly: ``RᴴR = g`` with R upper triangular
    (None for a matrix that is not positive definite), ``P diag(s) Qh = x`` with orthonormal
    factors, for real and complex, single and double precision, and the empty case."""
    be = dlra._backend.NUMPY
    rng = np.random.default_rng(12)
    for dtype in (np.float32, np.float64, np.complex64, np.complex128):
        x = rng.standard_normal((7, 5)).astype(dtype)
        if np.issubdtype(dtype, np.complexfloating):
            x = x + 1j * rng.standard_normal((7, 5)).astype(dtype)
        tol = 100 * np.finfo(dtype).eps
        g = x.conj().T @ x
        r = be.cholesky_upper(g)
        assert r.dtype == dtype
        np.testing.assert_array_equal(r, np.triu(r))
        np.testing.assert_allclose(r.conj().T @ r, g, rtol=0, atol=tol * np.abs(g).max())
        assert be.cholesky_upper(-g) is None
        p, s, qh = be.svd(x)
        assert p.shape == (7, 5) and s.shape == (5,) and qh.shape == (5, 5)
        np.testing.assert_allclose((p * s) @ qh, x, rtol=0, atol=tol * np.abs(x).max())
        np.testing.assert_allclose(p.conj().T @ p, np.eye(5), rtol=0, atol=tol)
    assert be.svd(np.zeros((0, 3)))[1].shape == (0,)


@pytest.mark.parametrize("shape", [(1024, 8), (300, 24), (4096, 16), (50, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_gram_matrix(xp, shape, dtype):
    """``Backend.gram(x) = xᴴx`` to round-off, through BLAS ``gemm`` (small real numpy blocks),
    numpy's product or torch's, for contiguous and strided blocks."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal(shape).astype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    want = x.conj().T @ x
    tol = 50 * shape[0] * np.finfo(dtype).eps * np.abs(want).max()
    for block in (x, x[:, ::2]):
        X = xp.asarray(block.copy() if block is x else block)
        g = xp.to_numpy(dlra._backend.backend_of(X).gram(X))
        sub = want if block is x else want[::2, ::2]
        assert g.shape == sub.shape and g.dtype == dtype
        np.testing.assert_allclose(g, sub, rtol=0, atol=tol)


@pytest.mark.parametrize("chunking", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("widths", [(16, 16), (32, 17), (3, 5), (40, 40)])
def test_inner_products_and_products_in_small_kernel_chunks(dtype, widths, chunking, monkeypatch):
    """``inner`` (``aᴴb``), ``gram``, ``add_product_`` and ``set_product_`` of tall real blocks
    work in row chunks sized for OpenBLAS's small-matrix kernels (here several chunks, not a
    whole number of them); the values are the plain products' to round-off for every dtype and
    width (complex and wide blocks take the plain products), and strided blocks fall back.
    Without OpenBLAS (``chunking=False``) nothing is chunked, with the same values."""
    monkeypatch.setattr(dlra._backend, "_chunking_pays", lambda: chunking)
    be = dlra._backend.NUMPY
    rng = np.random.default_rng(15)
    p, q = widths
    n = 5000  # 16·16 columns: chunks of 1024 rows, the last one partial
    a = rng.standard_normal((n, p)).astype(dtype)
    b = rng.standard_normal((n, q)).astype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        a = a + 1j * rng.standard_normal((n, p))
        b = b + 1j * rng.standard_normal((n, q))
    eps = np.finfo(dtype).eps
    tol = 4 * eps * n * np.sqrt(n)  # a dot product of n terms of size ~1; a lost chunk is ~30
    np.testing.assert_allclose(be.inner(a, b), a.conj().T @ b, rtol=0, atol=tol)
    np.testing.assert_allclose(be.gram(b), b.conj().T @ b, rtol=0, atol=tol)
    np.testing.assert_allclose(be.inner(a[:, ::2], b), a[:, ::2].conj().T @ b, rtol=0, atol=tol)
    # column slices of one wider block (rows contiguous, the blocks not): chunked in place
    wide = np.concatenate([b, a], axis=1)
    np.testing.assert_allclose(be.inner(wide[:, q:], wide[:, :q]), a.conj().T @ b, rtol=0, atol=tol)
    np.testing.assert_allclose(be.inner(wide[:, q:], b), a.conj().T @ b, rtol=0, atol=tol)
    m = rng.standard_normal((p, q)).astype(dtype)
    y = b.copy()
    be.add_product_(y, a, m, -0.5)
    np.testing.assert_allclose(y, b - 0.5 * (a @ m), rtol=0, atol=20 * p * eps * 10)
    out = np.zeros((n, q + 2), dtype=dtype)
    be.set_product_(out[:, 2:], a, m)
    np.testing.assert_allclose(out[:, 2:], a @ m, rtol=0, atol=20 * p * eps * 10)
    assert not out[:, :2].any()


def test_numpy_set_product_of_one_chunk_into_columns():
    """``set_product_`` of a single row chunk writes straight into a strided target (the trailing
    columns of an augmented basis) and leaves the other columns alone."""
    be = dlra._backend.NUMPY
    rng = np.random.default_rng(13)
    n = 40
    assert len(dlra._backend.row_chunks(n)) == 1
    out = rng.standard_normal((n, 5))
    lead = out[:, :2].copy()
    left, small = rng.standard_normal((n, 3)), rng.standard_normal((3, 3))
    be.set_product_(out[:, 2:], left, small)
    np.testing.assert_allclose(out[:, 2:], left @ small, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(out[:, :2], lead)


@pytest.mark.parametrize(
    "y_shape,left_shape,small_shape",
    [((50, 0), (50, 3), (3, 0)), ((50, 3), (50, 0), (0, 3)), ((0, 3), (0, 2), (2, 3))],
)
def test_numpy_in_place_updates_of_empty_blocks(y_shape, left_shape, small_shape):
    be = dlra._backend.NUMPY
    y, left, small = np.ones(y_shape), np.ones(left_shape), np.ones(small_shape)
    be.add_product_(y, left, small, 0.5)
    np.testing.assert_array_equal(y, np.ones(y_shape) + 0.5 * (left @ small))
    be.add_scaled_(y, np.ones(y_shape), 0.5)
    np.testing.assert_array_equal(y, np.ones(y_shape) + 0.5 * (left @ small) + 0.5)


def test_backend_set_product_may_write_into_its_own_input(xp):
    """``y ← left @ small`` where ``y`` is columns of ``left``, across several row chunks: every
    chunk's product is taken from the input before it is overwritten."""
    rng = np.random.default_rng(5)
    buf = rng.standard_normal((TALL, 5))
    m = rng.standard_normal((5, 2))
    B, M = xp.asarray(buf.copy()), xp.asarray(m)
    be = dlra._backend.backend_of(B)
    assert len(dlra._backend.row_chunks(TALL)) > 1
    be.set_product_(B[:, 3:], B, M)
    out = xp.to_numpy(B)
    np.testing.assert_allclose(out[:, 3:], buf @ m, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(out[:, :3], buf[:, :3])


def test_orthonormalize_leaves_its_input_alone_and_is_accurate():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((TALL, 8)) @ np.diag(10.0 ** -np.arange(8))
    keep = x.copy()
    Q, R = dlra.orthonormalize(x)
    np.testing.assert_array_equal(x, keep)
    assert np.linalg.norm(Q.T @ Q - np.eye(8)) < 1e-14
    assert np.linalg.norm(Q @ R - x) < 1e-14 * np.linalg.norm(x)


def _peak_blocks(fn, block_bytes: int) -> float:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / block_bytes


@pytest.mark.parametrize(
    ("method", "substep", "blocks"),
    [
        ("ksl", "lsrk4", 3.5),
        ("bug", "lsrk4", 3.5),
        ("strang", "lsrk4", 3.5),
        ("bug", "rk4", 4.5),
        ("ksl", "rk4", 4.5),
        ("augmented_bug", "lsrk4", 6.5),
        ("parallel_bug", "lsrk4", 6.5),
        ("augmented_bug", "rk4", 6.5),
    ],
)
def test_working_memory_of_a_step(method, substep, blocks):
    """Peak memory of one heat step beyond its input, in n × r blocks, measured without the
    workspace (which would hand out the blocks of the warm-up step and hide them from
    tracemalloc): the low-storage substep keeps the K-/L-step to two blocks, so a step holds
    about three (the new basis, the two registers and chunk-sized temporaries); RK4, which the
    heat field's constant coefficients send to its Horner form, about four (the start block and
    two working blocks); the augmented and parallel BUG six (two 2r-wide bases and the
    truncated factors)."""
    n, r = 8192, 16
    Y = state(n, r)
    F = heat(n)
    integ = dlra.get_integrator(method, substep=substep, workspace=False)
    integ.step(F, Y, 0.0, 1e-3)  # warm the operator caches
    peak = _peak_blocks(lambda: integ.step(F, Y, 0.0, 1e-3), n * r * 8)
    assert peak <= blocks, peak


@pytest.mark.parametrize("complex_", [False, True])
def test_augment_in_place_equals_the_copying_augmentation(complex_):
    rng = np.random.default_rng(5)
    n, r, p = TALL, 4, 3
    dtype = complex if complex_ else float
    u0 = np.linalg.qr(rng.standard_normal((n, r)))[0].astype(dtype)
    k = (rng.standard_normal((n, p)) + u0 @ rng.standard_normal((r, p))).astype(dtype)
    keep = k.copy()
    q, u_hat = dlra.augment_basis(u0, k)
    np.testing.assert_array_equal(k, keep)  # not handed over: untouched
    q2, u_hat2 = dlra.augment_basis(u0, k, overwrite_k=True)
    np.testing.assert_array_equal(q, q2)
    np.testing.assert_array_equal(u_hat, u_hat2)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_operator_sandwich(kind):
    rng = np.random.default_rng(6)
    n = TALL if kind == "sparse" else 300
    M = laplacian(n) if kind == "sparse" else rng.standard_normal((n, n))
    x = rng.standard_normal((n, 5))
    dense = M.toarray() if sp.issparse(M) else M
    value = as_operator(M, "A").sandwich(x)
    expected = x.T @ dense @ x
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("layout", ["dense", "csr", "coo"])
@pytest.mark.parametrize("complex_op", [False, True])
@pytest.mark.parametrize("conj", [False, True])
def test_torch_operator_accumulate_and_apply(layout, complex_op, conj):
    """torch operators accumulate in place (``addmm_``) and apply through it on the CPU: the same
    numbers as the dense products, for real and complex operators and coefficients."""
    torch = pytest.importorskip("torch")
    n, k = 200, 3
    rng = np.random.default_rng(3)
    M = laplacian(n).toarray()
    if complex_op:
        M = M + 1j * np.diag(rng.standard_normal(n))
    Mt = torch.as_tensor(M)  # float64 for a real operator
    raw = {"dense": Mt, "csr": Mt.to_sparse_csr(), "coo": Mt.to_sparse()}[layout]
    op = as_operator(raw, "A")
    x = torch.as_tensor(rng.standard_normal((n, k)) + 1j * rng.standard_normal((n, k)))
    out = torch.as_tensor(rng.standard_normal((n, k)) + 0j)
    dense = M.conj() if conj else M
    for c in (1.0, 0.3, 0.3 - 0.2j):
        expected = out.numpy() + c * (dense.astype(complex) @ x.numpy())
        op.accumulate(x, out, c, conj=conj)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.apply(x).numpy(), M @ x.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        op.apply_adjoint(x).numpy(), M.conj().T @ x.numpy(), rtol=1e-12, atol=1e-12
    )
    # a lazily conjugated block (torch's conj view): COO's addmm_ would ignore the view's flag
    lazy, target = x.conj(), torch.zeros_like(x)
    op.accumulate(lazy, target, 1.0)
    np.testing.assert_allclose(target.numpy(), M @ x.numpy().conj(), rtol=1e-12, atol=1e-12)
    if not complex_op:  # a real state: real coefficients accumulate in place, in float64
        xr, outr = x.real.contiguous(), out.real.contiguous()
        expected = outr.numpy() + 0.5 * (M.real @ xr.numpy())
        op.accumulate(xr, outr, 0.5, conj=conj)
        assert outr.dtype == torch.float64
        np.testing.assert_allclose(outr.numpy(), expected, rtol=1e-12, atol=1e-12)
