"""Every orthonormalisation path keeps ‖QᴴQ − I‖ ≤ 1e-12 (issue 6), including the fast ones.

Paths: Householder, Cholesky-QR2 by triangular inverses, its fallback to Householder for
ill-conditioned blocks, and ``augment_basis`` (the fast path: projection and Cholesky factor
twice, written into ``u_hat``; the general path it falls back to: Gram–Schmidt twice, QR of the
residual, the rotation skipped when nothing is dropped, the leak re-projection).  Blocks are tall enough
(n ≥ 2048, n ≥ 4k) for the ``"auto"`` choice to take Cholesky-QR2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import dlra
from dlra import linalg
from dlra.linalg import augment_basis, orthonormalize

GOAL = 1e-12  # issue 6: orthonormality to round-off, whatever the path


def defect(Q) -> float:
    Q = np.asarray(Q)
    return float(np.linalg.norm(Q.conj().T @ Q - np.eye(Q.shape[1])))


def block(n: int, k: int, cond: float, *, complex_: bool = False, seed: int = 0) -> np.ndarray:
    """n × k block with singular values from 1 down to 1/cond."""
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n, k)) + (1j * rng.standard_normal((n, k)) if complex_ else 0)
    P, _ = np.linalg.qr(P)
    W, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return (P * np.logspace(0, -math.log10(cond), k)) @ W


class CountQR:
    """Counts the Householder fallbacks of the backend (to know which path ran)."""

    def __init__(self, monkeypatch, be) -> None:
        self.calls = 0
        original = be.qr

        def counted(x):
            self.calls += 1
            return original(x)

        monkeypatch.setattr(be, "qr", counted)


@pytest.mark.parametrize("method", ["auto", "householder", "cholqr2"])
@pytest.mark.parametrize("cond", [1.0, 1e4, 1e7])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_orthonormalize_paths(method, cond, complex_, xp):
    X = block(4096, 24, cond, complex_=complex_)
    Q, R = orthonormalize(xp.asarray(X), method=method)
    Q, R = xp.to_numpy(Q), xp.to_numpy(R)
    assert defect(Q) <= GOAL
    # the factorization is backward stable: residual at round-off relative to ‖X‖
    assert np.linalg.norm(Q @ R - X) <= 100 * np.finfo(float).eps * np.linalg.norm(X)
    assert np.allclose(np.tril(R, -1), 0)


def test_cholqr2_runs_without_householder_when_well_conditioned(monkeypatch):
    be = linalg.backend_of(np.zeros(1))
    count = CountQR(monkeypatch, be)
    Q, _ = orthonormalize(block(4096, 16, 1e3))
    assert count.calls == 0
    assert defect(Q) <= GOAL


@pytest.mark.parametrize("cond", [1e10, 1e14])
def test_cholqr2_falls_back_to_householder_when_ill_conditioned(monkeypatch, cond):
    """Cholesky of the Gram matrix squares the condition number: beyond ~1e8 the first pass
    loses orthogonality (or Cholesky fails) and the checks hand the block to Householder."""
    be = linalg.backend_of(np.zeros(1))
    count = CountQR(monkeypatch, be)
    X = block(4096, 16, cond)
    Q, R = orthonormalize(X)
    assert count.calls == 1
    assert defect(Q) <= GOAL
    assert np.linalg.norm(Q @ R - X) <= 100 * np.finfo(float).eps * np.linalg.norm(X)


def test_non_finite_block_is_not_hidden():
    """NaN shows up in the small Gram matrices: no exception, NaN out (as Householder gives)."""
    X = block(4096, 8, 1.0)
    X[5, 3] = np.nan
    Q, _ = orthonormalize(X)
    assert not np.isfinite(Q).all()


def test_float32_cholqr2_at_single_precision_round_off(xp):
    X = block(4096, 16, 10.0).astype(np.float32)
    Q = xp.to_numpy(orthonormalize(xp.asarray(X))[0])
    assert Q.dtype == np.float32
    eps = float(np.finfo(np.float32).eps)
    assert defect(Q.astype(float)) <= 16 * math.sqrt(16) * eps


@pytest.mark.parametrize("case", ["generic", "nearly_inside", "rank_deficient", "complex"])
def test_augment_basis_paths(case, xp):
    """Orthonormal [U0, Ũ] with U0 verbatim, whether directions are kept, dropped or leak."""
    rng = np.random.default_rng(3)
    n, r, p = 4096, 12, 12
    complex_ = case == "complex"
    U0 = block(n, r, 1.0, complex_=complex_, seed=4)
    K = rng.standard_normal((n, p)) + (1j * rng.standard_normal((n, p)) if complex_ else 0)
    if case == "nearly_inside":  # residual of relative size 1e-9: cancellation in Gram–Schmidt
        K = U0 @ rng.standard_normal((r, p)) + 1e-9 * K
    if case == "rank_deficient":  # half of K lies in range(U0), columns repeated: some dropped
        K = np.hstack([U0[:, : p // 2], K[:, : p // 4], K[:, : p // 4]])
    U_new, U_hat = augment_basis(xp.asarray(U0), xp.asarray(K))
    U_new, U_hat = xp.to_numpy(U_new), xp.to_numpy(U_hat)
    assert defect(U_hat) <= GOAL
    assert np.array_equal(U_hat[:, :r], U0)
    expected = {"generic": p, "nearly_inside": p, "rank_deficient": p // 4, "complex": p}[case]
    assert U_new.shape[1] == expected
    # range(U_hat) contains K: the projection residual is at round-off relative to ‖K‖
    resid = K - U_hat @ (U_hat.conj().T @ K)
    assert np.linalg.norm(resid) <= 1e-12 * np.linalg.norm(K)


def test_augment_basis_rotation_skipped_keeps_the_span():
    """When no direction is dropped the residual's Q is used as is: same span as the rotated one."""
    rng = np.random.default_rng(5)
    U0 = block(4096, 8, 1.0, seed=6)
    K = rng.standard_normal((4096, 8))
    U_new, _ = augment_basis(U0, K)
    W = K - U0 @ (U0.T @ K)
    Q_ref, _ = np.linalg.qr(W)
    # same projector onto the new directions
    assert np.linalg.norm(U_new @ U_new.T @ Q_ref - Q_ref) <= 1e-12


class CountOrthonormalize:
    """Counts the calls of the general path's QR of the residual (the fast path makes none)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        original = linalg._orthonormalize

        def counted(x, **kw):
            self.calls += 1
            return original(x, **kw)

        monkeypatch.setattr(linalg, "_orthonormalize", counted)


@pytest.mark.parametrize("case", ["generic", "nearly_inside", "graded", "complex", "float32"])
def test_augment_basis_fast_path(case, monkeypatch):
    """Well-conditioned residuals take the fast path (no QR of the residual) and still give an
    orthonormal [U0, Ũ] that contains K, with Ũ the trailing columns of Û."""
    count = CountOrthonormalize(monkeypatch)
    rng = np.random.default_rng(7)
    n, r, p = 4096, 10, 14
    complex_ = case == "complex"
    U0 = block(n, r, 1.0, complex_=complex_, seed=8)
    K = block(n, p, 1e5 if case == "graded" else 1.0, complex_=complex_, seed=9)
    K = U0 @ rng.standard_normal((r, p)) + (1e-9 if case == "nearly_inside" else 1.0) * K
    dtype = np.float32 if case == "float32" else K.dtype
    U0, K = U0.astype(dtype), K.astype(dtype)
    eps = float(np.finfo(dtype).eps)
    U_new, U_hat = augment_basis(U0, K)
    assert count.calls == 0
    assert U_new.shape[1] == p
    assert np.array_equal(U_hat[:, :r], U0)
    assert np.array_equal(U_hat[:, r:], U_new)
    assert defect(U_hat) <= (GOAL if dtype != np.float32 else 100 * eps)
    resid = K - U_hat @ (U_hat.conj().T @ K)
    assert np.linalg.norm(resid) <= 100 * eps * np.linalg.norm(K)


@pytest.mark.parametrize("case", ["generic", "graded", "complex", "float32"])
def test_augment_basis_skips_the_svd_only_when_nothing_can_be_dropped(case, monkeypatch):
    """The fast path skips the SVD of R2 R1 when a lower bound of its smallest singular value
    clears the noise level: the result is then bit for bit the one the SVD gives (all directions
    kept, no rotation).  With a drop level that some directions fall below, the SVD runs and
    drops them."""
    n, r, p = 4096, 6, 10
    complex_ = case == "complex"
    dtype = np.float32 if case == "float32" else (np.complex128 if complex_ else np.float64)
    U0 = block(n, r, 1.0, complex_=complex_, seed=12).astype(dtype)
    K = block(n, p, 1e4 if case == "graded" else 1.0, complex_=complex_, seed=13).astype(dtype)
    svds = []
    numpy_backend = type(dlra._backend.NUMPY)
    original_svd = numpy_backend.svd
    monkeypatch.setattr(
        numpy_backend, "svd", lambda self, x: svds.append(x.shape) or original_svd(self, x)
    )
    skipped = augment_basis(U0, K)
    assert svds == [] and skipped[0].shape[1] == p
    monkeypatch.setattr(linalg, "_all_directions_kept", lambda *args: False)
    with_svd = augment_basis(U0, K)
    assert svds == [(p, p)]
    assert np.array_equal(skipped[1], with_svd[1])
    monkeypatch.undo()
    # K's singular values are 10^(-4j/(p-1)) (graded) or 1: a drop level of 1e-2 removes some
    # graded directions, and the SVD decides which
    dropped_new, dropped_hat = augment_basis(U0, K, drop_below=1e-2)
    sigma = np.linalg.svd(K, compute_uv=False)
    assert dropped_new.shape[1] == int((sigma > 1e-2 * np.linalg.norm(K)).sum())
    assert defect(dropped_hat.astype(complex)) <= 100 * float(np.finfo(dtype).eps)


@pytest.mark.parametrize("route", ["svd", "householder"])
@pytest.mark.parametrize("overwrite_k", [False, True])
def test_augment_basis_falls_back_from_the_fast_path(monkeypatch, overwrite_k, route):
    """Repeated columns make the residual singular: the fast path's checks fail and the general
    path finishes from where it stopped — also when it worked in K's own buffer — by the SVD of
    the residual's R factor (no Householder QR of the tall block) or, when that route's final
    check fails, by Householder."""
    be = linalg.backend_of(np.zeros(1))
    count = CountQR(monkeypatch, be)
    if route == "householder":
        monkeypatch.setattr(linalg, "_augment_by_svd", lambda *args: None)
    rng = np.random.default_rng(10)
    n, r = 4096, 8
    U0 = block(n, r, 1.0, seed=11)
    D = rng.standard_normal((n, 3))
    K = np.hstack([D, D, U0[:, :2] + 1e-3 * D[:, :2]])
    K_in = K.copy()
    U_new, U_hat = augment_basis(U0, K_in, overwrite_k=overwrite_k)
    assert count.calls == (1 if route == "householder" else 0)
    assert U_new.shape[1] == 3
    assert defect(U_hat) <= GOAL
    assert np.array_equal(U_hat[:, :r], U0)
    resid = K - U_hat @ (U_hat.T @ K)
    assert np.linalg.norm(resid) <= 1e-12 * np.linalg.norm(K)
    if not overwrite_k:
        assert np.array_equal(K_in, K)


def graded_residual(n: int, r: int, kept: list[float], dropped: int, *, complex_: bool, seed: int):
    """``U0`` (n × r) and ``K = U0 C + D`` whose residual outside ``range(U0)`` has the singular
    values ``kept`` and ``dropped`` more directions that repeat kept ones (a singular residual)."""
    rng = np.random.default_rng(seed)
    U0 = block(n, r, 1.0, complex_=complex_, seed=seed + 1)
    p = len(kept)
    P = block(n, p, 1.0, complex_=complex_, seed=seed + 2)
    P = P - U0 @ (U0.conj().T @ P)
    P, _ = np.linalg.qr(P)
    W, _ = np.linalg.qr(rng.standard_normal((p, p)))
    D = (P * np.asarray(kept)) @ W
    D = np.hstack([D, D[:, :dropped]])
    C = rng.standard_normal((r, p + dropped))
    return U0, U0 @ C + D


@pytest.mark.parametrize("case", ["graded", "deep", "complex", "float32", "drop_below"])
def test_augment_basis_svd_route_matches_householder(case, xp, monkeypatch):
    """The general path's SVD route (R factor by TSQR, kept directions ``X W_k Σ_k⁻¹``, one more
    projection and Cholesky pass) keeps and spans what the Householder route keeps: same number
    of directions, the same subspace up to the accuracy of its smallest kept direction
    (``eps ‖K‖ / σ_min``), orthonormal and orthogonal to ``U0`` to round-off."""
    complex_ = case == "complex"
    kept = {
        "graded": list(np.logspace(0, -6, 10)),
        "deep": list(np.logspace(0, -9, 10)),  # beyond what a Gram matrix resolves
        "float32": list(np.logspace(0, -2, 10)),
    }.get(case, list(np.logspace(0, -3, 10)))
    U0, K = graded_residual(4096, 8, kept, 4, complex_=complex_, seed=20)
    dtype = np.float32 if case == "float32" else K.dtype
    U0, K = U0.astype(dtype), K.astype(dtype)
    eps = float(np.finfo(dtype).eps)
    # drop_below is relative to ‖K‖: drop the directions of σ < 5e-3 (3 of 10)
    drop_rel = 5e-3 / np.linalg.norm(K) if case == "drop_below" else None
    routes = {}
    for route in ("svd", "householder"):
        be = linalg.backend_of(xp.asarray(U0))
        count = CountQR(monkeypatch, be)
        used = []
        original = linalg._augment_by_svd

        def spy(*args, _orig=original, _used=used):
            out = _orig(*args)
            _used.append(out is not None)
            return out

        monkeypatch.setattr(
            linalg, "_augment_by_svd", spy if route == "svd" else (lambda *args: None)
        )
        got = augment_basis(xp.asarray(U0), xp.asarray(K), drop_below=drop_rel)
        routes[route] = tuple(xp.to_numpy(a) for a in got)
        if route == "svd":
            assert used == [True] and count.calls == 0
        monkeypatch.undo()
    (new_svd, hat_svd), (new_hh, _) = routes["svd"], routes["householder"]
    expected = 7 if case == "drop_below" else len(kept)  # else σ/‖K‖ ≥ 1e-4: none dropped
    assert new_svd.shape[1] == new_hh.shape[1] == expected
    tol = 1e3 * eps * np.linalg.norm(K) / kept[expected - 1] / np.linalg.norm(kept)
    assert np.linalg.norm(new_svd @ (new_svd.conj().T @ new_hh) - new_hh) <= max(tol, 100 * eps)
    assert defect(hat_svd.astype(complex)) <= (GOAL if dtype != np.float32 else 100 * eps)
    assert np.array_equal(hat_svd[:, :8], U0)


@pytest.mark.parametrize("shape", [(4096, 16), (5000, 12), (1500, 8), (300, 40), (100, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_qr_r_is_the_triangular_factor(shape, dtype, xp):
    """``Backend.qr_r`` (TSQR on numpy from two row blocks of 1024; a row remainder; blocks
    narrower than 4p rows) returns the R of a thin QR: upper triangular, ``RᴴR = XᴴX`` and the
    singular values of X, to round-off — also for a block of condition 1e12."""
    n, p = shape
    X = block(n, p, 1e12, complex_=dtype == np.complex128, seed=30).astype(dtype)
    be = linalg.backend_of(xp.asarray(X))
    R = xp.to_numpy(be.qr_r(xp.asarray(X)))
    eps = float(np.finfo(dtype).eps)
    assert R.shape == (p, p) and R.dtype == X.dtype
    assert np.allclose(np.tril(R, -1), 0, atol=0)
    Xd = X.astype(np.complex128)
    _, R_ref = np.linalg.qr(Xd)
    # R is unique up to a unitary diagonal: compare |R|, row by row, relative to ‖X‖
    assert np.abs(np.abs(R) - np.abs(R_ref)).max() <= 100 * eps * np.linalg.norm(Xd)
    sigma = np.linalg.svd(R.astype(np.complex128), compute_uv=False)
    ref = np.linalg.svd(Xd, compute_uv=False)
    assert np.abs(sigma - ref).max() <= 100 * eps * ref[0]


def test_augment_by_svd_with_a_factor_already_divided_out():
    """After a successful first Cholesky pass the general path holds ``w = X R1⁻¹``: the SVD
    route then works on the factor ``R(w) R1`` and gives the directions of X itself."""
    U0, K = graded_residual(4096, 6, list(np.logspace(0, -5, 8)), 3, complex_=False, seed=40)
    be = linalg.backend_of(U0)
    X = K - U0 @ (U0.T @ K)
    X = X - U0 @ (U0.T @ X)
    rng = np.random.default_rng(41)
    R1 = np.triu(rng.standard_normal((11, 11))) + 4 * np.eye(11)
    w = X @ np.linalg.inv(R1)
    found = linalg._augment_by_svd(be, U0, w, R1, float(np.linalg.norm(K)), None)
    assert found is not None
    U_new, U_hat = found
    assert U_new.shape[1] == 8
    assert defect(U_hat) <= GOAL
    Q_ref = np.linalg.svd(X, full_matrices=False)[0][:, :8]
    assert np.linalg.norm(U_new @ (U_new.T @ Q_ref) - Q_ref) <= 1e-9


@pytest.mark.parametrize("shape", [(4096, 16), (5000, 12), (1500, 8), (300, 40)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_qr_by_row_blocks_is_a_thin_qr(shape, dtype, xp):
    """``Backend.qr`` (TSQR on numpy for tall blocks, with a row remainder) of a block of
    condition 1e12: orthonormal Q, upper-triangular R, ``QR = X`` to round-off (the Householder
    fallback of :func:`orthonormalize`, which must reach the goal whatever the conditioning)."""
    n, p = shape
    X = block(n, p, 1e12, complex_=dtype == np.complex128, seed=31).astype(dtype)
    be = linalg.backend_of(xp.asarray(X))
    Q, R = (xp.to_numpy(a) for a in be.qr(xp.asarray(X)))
    eps = float(np.finfo(dtype).eps)
    assert Q.shape == (n, p) and R.shape == (p, p) and Q.dtype == X.dtype
    assert np.allclose(np.tril(R, -1), 0, atol=0)
    assert defect(Q.astype(np.complex128)) <= (GOAL if dtype != np.float32 else 100 * eps)
    assert np.linalg.norm(Q @ R - X) <= 100 * eps * np.linalg.norm(X)


def _coefficient_case(case: str) -> tuple[np.ndarray, np.ndarray, float | None]:
    """``(U0, K, drop_below)`` that send :func:`augment_basis` down one path each."""
    rng = np.random.default_rng(50)
    complex_ = case == "complex"
    if case in ("svd_route", "householder"):  # repeated columns: a singular residual
        U0 = block(4096, 8, 1.0, seed=51)
        D = rng.standard_normal((4096, 3))
        return U0, np.hstack([D, D, U0[:, :2] + 1e-3 * D[:, :2]]), None
    if case == "inside":  # K in range(U0): nothing new
        U0 = block(4096, 8, 1.0, seed=52)
        return U0, U0 @ rng.standard_normal((8, 5)), None
    n = 200 if case == "short" else 4096  # short: fewer rows than the tall path needs
    U0 = block(n, 10, 1.0, complex_=complex_, seed=53)
    K = U0 @ rng.standard_normal((10, 12)) + block(n, 12, 1e4, complex_=complex_, seed=54)
    # "dropped": a drop level that some of the residual's graded directions fall below
    return U0, K, (1e-2 if case == "dropped" else None)


@pytest.mark.parametrize(
    "case", ["fast", "dropped", "complex", "float32", "svd_route", "householder", "short", "inside"]
)
@pytest.mark.parametrize("overwrite_k", [False, True])
def test_augment_basis_coefficients(case, overwrite_k, xp, monkeypatch):
    """``return_coefficients=True`` adds ``c = ŨᴴK`` — from the small factors on the fast path
    (``R2 R1``, or ``Σ_k W_kᴴ`` after dropping directions), as a product with the residual on
    the others — equal to the product with the original K to round-off relative to ‖K‖, with
    the same ``Ũ``, ``Û`` as without it, also when K is handed over."""
    if case == "householder":
        monkeypatch.setattr(linalg, "_augment_by_svd", lambda *args: None)
    U0, K, drop = _coefficient_case(case)
    dtype = np.float32 if case == "float32" else K.dtype
    U0, K = U0.astype(dtype), K.astype(dtype)
    eps = float(np.finfo(dtype).eps)
    plain = augment_basis(xp.asarray(U0), xp.asarray(K), drop_below=drop)
    K_in = xp.asarray(K.copy())
    got = augment_basis(
        xp.asarray(U0), K_in, drop_below=drop, overwrite_k=overwrite_k, return_coefficients=True
    )
    assert len(got) == 3
    U_new, U_hat, c = (xp.to_numpy(a) for a in got)
    assert np.allclose(U_hat, xp.to_numpy(plain[1]), rtol=0, atol=10 * eps)
    expected_new = {"svd_route": 3, "householder": 3, "inside": 0}.get(case)
    if expected_new is not None:
        assert U_new.shape[1] == expected_new
    if case == "dropped":
        assert 0 < U_new.shape[1] < K.shape[1]
    assert c.shape == (U_new.shape[1], K.shape[1]) and c.dtype == K.dtype
    exact = U_new.conj().T @ K
    assert np.linalg.norm(c - exact) <= 100 * eps * np.linalg.norm(K)
    if not overwrite_k:
        assert np.array_equal(xp.to_numpy(K_in), K)
