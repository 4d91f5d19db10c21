"""Linear-algebra building blocks shared by every integrator, the Tucker code and the torch bridge.

* :func:`orthonormalize` — thin QR of a tall block.  Tall-skinny blocks use Cholesky-QR2 (two Gram
  products and two triangular solves, the speed of a matrix product) and fall back to Householder QR
  when the block is too ill-conditioned for it; either way ``‖QᴴQ − I‖`` stays at round-off.
* :func:`augment_basis` — orthonormal directions of ``K`` outside ``range(U0)``, with ``U0`` kept
  verbatim as the leading block of the augmented basis (``integrators.md`` §1).
* :func:`truncation_rank` and :func:`truncate` — the rank rules of every rank-adaptive scheme: fixed
  rank, or the smallest rank whose discarded Frobenius (ℓ2) tail is at most ``tol + rtol·‖S‖``,
  clamped to ``[min_rank, max_rank]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backend import Backend, _blas_function, backend_of, lapack_function
from ._checks import (
    is_integer,
    is_real,
    require_bool,
    require_matrix,
    require_orthonormal,
    require_positive_number,
)
from ._workspace import copy_scratch, empty_scratch, product_scratch

__all__ = [
    "RankControl",
    "augment_basis",
    "orthonormalize",
    "truncate",
    "truncation_rank",
]

# Below this many rows Householder QR is as fast as Cholesky-QR2 and always safe.
_HOUSEHOLDER_ROWS = 256
# From this many rows the in-place triangular product beats the general one (below it the
# general product's lower call overhead wins: 4 µs against 9 µs at 1024 × 8).
_TRMM_ROWS = 4096


def _triangular_inverse(be: Backend, r: Any) -> Any:
    """``R⁻¹`` of a small upper-triangular ``R`` (k × k)."""
    if be.name == "torch":
        return be.torch.linalg.solve_triangular(r, be.eye(r.shape[0], like=r), upper=True)
    inv, info = lapack_function("trtri", r.dtype)(r, lower=0)
    if info != 0:  # pragma: no cover - a Cholesky factor has a positive diagonal
        import scipy.linalg

        return scipy.linalg.solve_triangular(r, be.eye(r.shape[0], like=r), check_finite=False)
    return inv


def inplace_ok(be: Backend, target: Any, other: Any) -> bool:
    """True when ``target`` may be updated in place with ``other`` (same dtype; on torch, neither
    tracks gradients, so autograd never sees the in-place update).  The caller must own ``target``."""
    if target.dtype != other.dtype:
        return False
    if be.name == "torch":
        return not (target.requires_grad or other.requires_grad)
    return True


def _times_upper(be: Backend, x: Any, m: Any, *, overwrite: bool = False) -> Any:
    """``x @ m`` for a small upper-triangular ``m``.

    numpy, from 4096 rows: BLAS ``trmm`` on a C-ordered block, in the buffer of ``x`` when
    ``overwrite`` (no new block) or of a copy of it — measured faster than the general product
    for tall blocks (e.g. 18 ms against 36 ms at 2^20 × 16, 44 against 86 ms at 2^18 × 64, one
    thread).
    """
    if be.name != "numpy" or x.dtype != m.dtype or x.ndim != 2 or x.shape[0] < _TRMM_ROWS:
        return x @ m
    y = x if (overwrite and x.flags.c_contiguous) else copy_scratch(x)
    trmm = _blas_function("trmm", y.dtype)
    # y is C-ordered n × k, so yᵀ is a Fortran-ordered k × n array: yᵀ ← mᵀ yᵀ in place
    res = trmm(1.0, m, y.T, side=0, lower=0, trans_a=1, overwrite_b=1)
    return y if np.shares_memory(res, y) else res.T


def _cholesky_qr2(x: Any, be: Backend) -> tuple[Any, Any] | None:
    """Cholesky-QR2 of a tall block, or None when the block is too ill-conditioned for it.

    After the first pass the Gram matrix of ``Q1`` measures its loss of orthogonality; when that
    is below 1/2, the second pass restores orthogonality to round-off (Yamamoto et al. 2015).
    Both passes multiply by the inverse of the small triangular factor (a matrix product, several
    times faster than a triangular solve on a tall block); the first pass is guarded by the check
    on ``Q1ᴴQ1``, the second inverts a factor within ``1 ± 1/2`` of the identity, so neither loses
    accuracy.  Non-finite input or overflow shows up in the small Gram matrices (never in a pass
    over the tall block): they fail the checks and the caller falls back to Householder.
    """
    first = _cholesky_pass(be, x)
    if first is None:
        return None
    q1, r1, _ = first
    r2 = _near_identity_factor(be, q1)
    if r2 is None:
        return None
    # q1 is this function's own block: the second pass overwrites it
    return _times_upper(be, q1, _triangular_inverse(be, r2), overwrite=True), r2 @ r1


def _cholesky_pass(be: Backend, x: Any, *, overwrite: bool = False) -> tuple[Any, Any, Any] | None:
    """``(x R⁻¹, R, R⁻¹)`` with ``RᴴR = xᴴx`` (in the buffer of ``x`` when ``overwrite``), or
    None when the Gram matrix is not numerically positive definite."""
    r = be.cholesky_upper(be.gram(x))
    if r is None:
        return None
    r_inv = _triangular_inverse(be, r)
    return _times_upper(be, x, r_inv, overwrite=overwrite), r, r_inv


def _near_identity_factor(be: Backend, q: Any) -> Any | None:
    """The Cholesky factor of ``qᴴq`` when that lies within 1/2 of the identity (a factor within
    ``1 ± 1/2`` of it, safe to invert), else None."""
    g = be.gram(q)
    # `not (d <= 0.5)` also rejects NaN (from non-finite input or overflow)
    if not be.norm(g - be.eye(g.shape[0], like=g)) <= 0.5:
        return None
    return be.cholesky_upper(g)


def orthonormalize(x: Any, *, method: str = "auto") -> tuple[Any, Any]:
    """Thin QR factorization ``x = Q R`` with orthonormal columns of ``Q``.

    ``method``: ``"auto"`` (Cholesky-QR2 for tall blocks, Householder otherwise or when the block
    is ill-conditioned), ``"householder"`` or ``"cholqr2"`` (still falls back when unsafe).
    Cost: ``O(n k²)``; Cholesky-QR2 runs at matrix-product speed on large ``n``.  Non-finite
    entries give a non-finite ``Q`` (no exception).
    """
    require_matrix(x, "x")
    if method not in ("auto", "householder", "cholqr2"):
        raise ValueError(f"method must be 'auto', 'householder' or 'cholqr2', got {method!r}")
    return _orthonormalize(x, method=method)


def _orthonormalize(x: Any, *, method: str = "auto") -> tuple[Any, Any]:
    """:func:`orthonormalize` without the checks of its arguments (the integrators' path)."""
    be = backend_of(x)
    n, k = be.shape(x)
    use_chol = method == "cholqr2" or (method == "auto" and n >= _HOUSEHOLDER_ROWS and n >= 4 * k)
    if use_chol and k > 0 and n >= k:
        out = _cholesky_qr2(x, be)
        if out is not None:
            return out
    return be.qr(x)


def augment_basis(
    u0: Any,
    k: Any,
    *,
    drop_below: float | None = None,
    overwrite_k: bool = False,
    return_coefficients: bool = False,
) -> tuple[Any, Any] | tuple[Any, Any, Any]:
    """Augment the orthonormal basis ``u0`` (n × r) by the directions of ``k`` (n × p).

    Returns ``(u_new, u_hat)`` where ``u_new`` has orthonormal columns orthogonal to ``u0`` spanning
    the part of ``range(k)`` outside ``range(u0)``, and ``u_hat = [u0, u_new]``.  ``u0`` is kept
    verbatim as the leading block (only then does the augmented Galerkin step represent the old
    state exactly).  Directions whose share of ``k`` is at rounding level (singular value of the residual below
    ``max(n, p)·eps·‖k‖``) are dropped, so ``u_new`` has at most ``min(p, n − r)`` columns.
    ``drop_below`` raises that relative threshold: a direction of relative size σ is known only
    to ``eps/σ``, and schemes that give such directions full weight (the midpoint BUG's
    augmentation by ``F(Y½)V̂½``) use ``√eps/100`` to stay reproducible across backends.

    ``overwrite_k=True``: the caller hands ``k`` over (it is not used afterwards) and the
    computation works in its buffer — one n × p block less.  ``u_new`` may be a view of the
    trailing columns of ``u_hat``.

    ``return_coefficients=True`` returns ``(u_new, u_hat, c)`` with ``c = u_newᴴ k`` (the
    coefficients of ``k``'s residual in the new directions, what the parallel integrators put in
    the augmented core), taken from the small factors the orthonormalisation already has
    (``c = R₂R₁``, or ``Σ_k W_kᴴ`` after the rotation to the kept directions) instead of a
    product over the n rows of ``k`` — so the caller may also hand ``k`` over
    (``overwrite_k``).  The rarer paths below compute it as a product with the residual.

    Method.  Tall residuals (``n ≥ 4p``, the common case): project out ``u0``, orthonormalize by
    the Cholesky factor ``R1`` of the Gram matrix (in place), project again — which removes what
    ``R1⁻¹`` amplified of the rounding left in ``range(u0)`` — and orthonormalize by the second
    factor ``R2``, which lies within ``1 ± 1/2`` of the identity (checked), so the result is
    orthonormal and orthogonal to ``u0`` to round-off with no further pass.  The dropped
    directions come from the SVD of the small ``R2 R1`` (skipped when a lower bound of its
    smallest singular value shows that none can be dropped); the rotation to the kept ones is folded
    into the last product, which writes straight into ``u_hat``.  Cost ``O(n (r + p) p)``: four
    products with ``u0``, two Gram products, two triangular products.  Tall residuals whose
    checks fail take one more projection and then Cholesky-QR2 (when the first factor existed)
    or, for a residual whose Gram matrix is not positive definite (rank-deficient to round-off),
    the SVD of its triangular factor from a TSQR (:func:`_augment_by_svd`: no Householder pass
    over the tall block).  Short residuals, arrays that must not be updated in place and blocks
    that fail those checks too take the general path: two Gram–Schmidt passes, a thin QR of the
    residual (:func:`orthonormalize`), the SVD of its triangular factor, and a third projection
    when the result leaks into ``range(u0)`` by more than round-off.
    """
    be = require_matrix(u0, "u0")
    require_matrix(k, "k")
    backend_of(u0, k, names=("u0", "k"))
    if be.shape(k)[0] != be.shape(u0)[0]:
        raise ValueError(f"k has {be.shape(k)[0]} rows but u0 has {be.shape(u0)[0]}")
    require_orthonormal(u0, "u0", be, builder="dlra.orthonormalize")
    if drop_below is not None:
        require_positive_number(drop_below, "drop_below", allow_zero=True)
    require_bool(overwrite_k, "overwrite_k")
    require_bool(return_coefficients, "return_coefficients")
    return _augment_basis(
        u0,
        k,
        drop_below=drop_below,
        overwrite_k=overwrite_k,
        return_coefficients=return_coefficients,
    )


def _augment_basis(
    u0: Any,
    k: Any,
    *,
    drop_below: float | None = None,
    overwrite_k: bool = False,
    return_coefficients: bool = False,
) -> tuple[Any, ...]:
    """:func:`augment_basis` without the checks of its arguments (the integrators' path)."""
    be = backend_of(u0, k, names=("u0", "k"))
    n, r = be.shape(u0)
    p = be.shape(k)[1]
    if min(p, n - r) <= 0:
        return _nothing_new(be, u0, p, return_coefficients)
    eps = be.eps(u0.dtype)
    scale = be.norm(k)
    if not math.isfinite(scale):
        return _non_finite_directions(be, u0, k, return_coefficients)
    r_done = None  # triangular factor already divided out of w (the residual is w · r_done)
    tall = n >= _HOUSEHOLDER_ROWS and n >= 4 * p
    factored = None  # (q, rfac) with w = q · rfac
    if inplace_ok(be, k, u0):
        # in place, in k itself when handed over, else in one copy of it
        w = k if overwrite_k else copy_scratch(k)
        del k
        be.add_product_(w, u0, be.inner(u0, w), -1.0)
        if tall:
            first = _cholesky_pass(be, w, overwrite=True)
            if first is not None:
                w, r_done, r_done_inv = first
                be.add_product_(w, u0, be.inner(u0, w), -1.0)
                r2 = _near_identity_factor(be, w)
                if r2 is not None:
                    return _augment_finish(
                        be, u0, w, r2, r_done, r_done_inv, scale, drop_below, return_coefficients
                    )
        # the general path: project once more (again, after the failed fast path's second pass)
        be.add_product_(w, u0, be.inner(u0, w), -1.0)
        if tall:
            # Cholesky-QR2 of w where the first factor existed (w = x R1⁻¹ is then far better
            # conditioned than x); a residual whose Gram matrix was not positive definite is
            # rank-deficient to round-off and goes straight to the SVD of its R factor
            factored = _cholesky_qr2(w, be) if r_done is not None else None
            if factored is None:
                found = _augment_by_svd(be, u0, w, r_done, scale, drop_below)
                if found is not None:
                    return _with_coefficients(be, found, w, r_done, return_coefficients)
                factored = be.qr(w)
    else:
        w = k - u0 @ be.inner(u0, k)
        w = w - u0 @ be.inner(u0, w)
    q, rfac = factored if factored is not None else _orthonormalize(w)
    pmat, _, _, keep = _residual_svd(be, rfac, r_done, scale, n, r, p, drop_below)
    if keep == 0:
        return _nothing_new(be, u0, p, return_coefficients)
    if keep < be.shape(q)[1]:
        # rotate to the singular directions of the residual and drop the noise ones; when all
        # are kept, q already spans them and the rotation (an n × p × p product) is skipped
        q = q @ pmat[:, :keep]
    leak = be.inner(u0, q)
    if be.abs_max(leak) > 10 * eps * math.sqrt(max(r, 1)):
        q = q - u0 @ leak
        q, _ = _orthonormalize(q)
    found = q, be.concat([u0, q], axis=1)
    return _with_coefficients(be, found, w, r_done, return_coefficients)


def _nothing_new(be: Backend, u0: Any, p: int, coefficients: bool) -> tuple[Any, ...]:
    """The result of an augmentation that adds no direction (``c`` is 0 × p)."""
    n = be.shape(u0)[0]
    empty = be.zeros((n, 0), like=u0)
    return (empty, u0, be.zeros((0, p), like=u0)) if coefficients else (empty, u0)


def _non_finite_directions(be: Backend, u0: Any, k: Any, coefficients: bool) -> tuple[Any, ...]:
    """For a ``k`` with NaN or Inf: new directions (and coefficients) of NaN, as many as ``k``
    could add — the non-finite values reach the result (and ``solve``'s check), rather than
    vanishing in a basis that drops them."""
    n, r = be.shape(u0)
    p = min(be.shape(k)[1], n - r)
    nan = float("nan")
    u_new = be.zeros((n, p), like=u0) + nan
    found = u_new, be.concat([u0, u_new], axis=1)
    return (*found, be.zeros((p, be.shape(k)[1]), like=u0) + nan) if coefficients else found


def _with_coefficients(
    be: Backend, found: tuple[Any, Any], w: Any, r_done: Any, coefficients: bool
) -> tuple[Any, ...]:
    """``found = (u_new, u_hat)``, with ``c = u_newᴴ k`` appended when asked for, as a product
    with the residual ``w`` (``k``'s part outside ``range(u0)``, times ``r_done⁻¹`` when that
    factor was divided out): ``u_new`` is orthogonal to ``u0``, so ``u_newᴴ k = u_newᴴ w r_done``."""
    if not coefficients:
        return found
    c = be.inner(found[0], w)
    return (*found, c if r_done is None else c @ r_done)


def pad_basis(u: Any, width: int, rng: np.random.Generator) -> Any:
    """``[u, Ũ]`` with ``width`` orthonormal columns in all: ``Ũ`` orthogonal to ``u``, from
    Gaussian draws of ``rng`` (reproducible for a seeded ``rng``).  A draw that adds fewer
    directions than asked — it lies (partly) in ``range(u)``, as when ``u`` was itself built
    from the same seed — is followed by another draw for the rest.  Needs ``width ≤`` rows."""
    be = backend_of(u)
    n, r = be.shape(u)
    if width > n:
        raise ValueError(f"cannot pad a basis of {n} rows to {width} columns")
    for _ in range(8):
        need = width - be.shape(u)[1]
        if need <= 0:
            return u
        _, u = _augment_basis(u, be.from_numpy(rng.standard_normal((n, need)), like=u))
    # eight Gaussian draws that add nothing: not a matter of chance
    raise RuntimeError(f"could not find {width - r} directions outside a basis of {n} × {r}")


def _augment_by_svd(
    be: Backend, u0: Any, w: Any, r_done: Any, scale: float, drop_below: float | None
) -> tuple[Any, Any] | None:
    """The general path for a tall residual ``X = w · r_done`` (``w`` when ``r_done`` is None) of
    any conditioning, at matrix-product speed: ``X``'s singular values and right singular vectors
    from the SVD of its triangular factor (:meth:`Backend.qr_r` of ``w``: Householder-stable, ``Q``
    never formed), the kept directions ``X W_k Σ_k⁻¹`` (one product), projected out of ``u0`` once
    more and orthonormalised by one Cholesky pass.  Their loss of orthogonality is about
    ``eps ‖X‖ / σ_k ≤ 1 / max(n, p)`` (σ_k above the noise level), so the pass's factor lies within
    ``1 ± 1/2`` of the identity (checked: None when not, and the caller takes Householder).  Spans
    and drops what Householder QR + SVD would: 25 ms at n = 2^16 (u0 and the residual 32
    columns wide, 16 kept), where numpy's Householder QR of the residual alone takes 69 ms (one
    thread, 2026-11-24)."""
    n, r = be.shape(u0)
    p = be.shape(w)[1]
    _, sigma, qh, keep = _residual_svd(be, be.qr_r(w), r_done, scale, n, r, p, drop_below)
    if keep == 0:
        return _nothing_new(be, u0, p, False)
    coef = be.H(qh[:keep]) / sigma[:keep]
    if r_done is not None:
        coef = r_done @ coef
    q = product_scratch(w, coef)
    be.add_product_(q, u0, be.inner(u0, q), -1.0)
    r2 = _near_identity_factor(be, q)
    if r2 is None:
        return None
    return _write_augmented(be, u0, q, _triangular_inverse(be, r2))


def _residual_svd(
    be: Backend,
    rfac: Any,
    r_done: Any,
    scale: float,
    n: int,
    r: int,
    p: int,
    drop_below: float | None,
) -> tuple[Any, Any, Any, int]:
    """``(P, σ, Wᴴ, keep)``: the SVD of the residual's triangular factor ``rfac · r_done``
    (``rfac`` when ``r_done`` is None) and how many of its directions stand above the noise."""
    if r_done is not None:
        rfac = rfac @ r_done
    pmat, sigma, qh = be.svd(rfac)
    return pmat, sigma, qh, _kept_directions(be, sigma, scale, n, r, p, drop_below)


def _write_augmented(be: Backend, u0: Any, q: Any, small: Any) -> tuple[Any, Any]:
    """``(u_new, u_hat)`` with ``u_hat = [u0, q · small]`` written into one new block and
    ``u_new`` the view of its trailing columns."""
    n, r = be.shape(u0)
    u_hat = empty_scratch((n, r + be.shape(small)[1]), like=u0)  # every column is written below
    u_hat[:, :r] = u0
    be.set_product_(u_hat[:, r:], q, small)
    return u_hat[:, r:], u_hat


def _kept_directions(
    be: Backend, sigma: Any, scale: float, n: int, r: int, p: int, drop_below: float | None
) -> int:
    """How many directions of a residual with singular values ``sigma`` stand above the noise
    level (relative to ``scale = ‖k‖``) — at most ``n − r``."""
    noise = _noise_level(be, sigma.dtype, n, p, drop_below)
    sig = be.to_numpy(sigma)
    keep = int((sig > noise * scale).sum()) if scale > 0 else 0
    return min(keep, n - r)


def _all_directions_kept(be: Backend, r2_inv: Any, r1_inv: Any, noise: float) -> bool:
    """True when ``σ_min(R2 R1) ≥ 1 / (‖R2⁻¹‖_F ‖R1⁻¹‖_F)`` is at least twice ``noise``, so no
    singular value of ``R2 R1`` falls below it (False for NaN)."""
    return be.norm(r2_inv) * be.norm(r1_inv) * noise < 0.5


def _noise_level(be: Backend, dtype: Any, n: int, p: int, drop_below: float | None) -> float:
    """The relative singular value below which a residual's direction is rounding noise."""
    eps = be.eps(dtype)
    return max(n, p) * eps if drop_below is None else max(float(drop_below), max(n, p) * eps)


def _augment_finish(
    be: Backend,
    u0: Any,
    q1: Any,
    r2: Any,
    r1: Any,
    r1_inv: Any,
    scale: float,
    drop_below: float | None,
    coefficients: bool = False,
) -> tuple[Any, ...]:
    """Last step of the fast path: ``q1 R2⁻¹``, rotated to the kept directions (the singular
    directions of the residual's factor ``R2 R1`` above the noise level), written straight into
    the trailing columns of ``u_hat = [u0, ·]``; with ``coefficients``, ``c = u_newᴴ k``
    appended: ``R2 R1`` (the residual is ``u_new R2 R1`` to round-off), or ``Σ_k W_kᴴ`` for the
    kept singular directions of ``R2 R1 = P Σ Wᴴ``.

    The SVD of ``R2 R1`` is skipped when no direction can be dropped: ``σ_min(R2 R1) ≥
    1 / (‖R2⁻¹‖_F ‖R1⁻¹‖_F)`` at twice the noise level or more means every direction is kept,
    unrotated, exactly as after the SVD."""
    n, r = be.shape(u0)
    p = be.shape(q1)[1]
    final = _triangular_inverse(be, r2)
    noise = _noise_level(be, r2.dtype, n, p, drop_below) * scale
    keep = p
    c = None
    if not (scale > 0 and p <= n - r and _all_directions_kept(be, final, r1_inv, noise)):
        pmat, sigma, qh, keep = _residual_svd(be, r2, r1, scale, n, r, p, drop_below)
        if keep == 0:
            return _nothing_new(be, u0, p, coefficients)
        if keep < p:
            final = final @ pmat[:, :keep]
            c = qh[:keep] * be.astype(sigma[:keep, None], qh.dtype)
    found = _write_augmented(be, u0, q1, final)
    if not coefficients:
        return found
    return (*found, r2 @ r1 if c is None else c)


@dataclass(frozen=True)
class RankControl:
    """How a rank is chosen after a step.

    ``rank``: keep exactly this many singular values (fixed-rank schemes).  Otherwise keep the
    smallest rank whose discarded Frobenius tail ``(Σ_{j>r} σ_j²)^{1/2}`` is at most
    ``tol + rtol·‖S‖_F``; the result is clamped to ``[min_rank, max_rank]``.
    """

    rank: int | None = None
    tol: float | None = None
    rtol: float | None = None
    min_rank: int = 1
    max_rank: int | None = None

    def __post_init__(self) -> None:
        for name in ("tol", "rtol"):
            value = getattr(self, name)
            if value is None:
                continue
            if not is_real(value):
                raise TypeError(f"{name} must be a real number, got {value!r}")
            if not (float(value) >= 0 and math.isfinite(float(value))):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
            object.__setattr__(self, name, float(value))  # Decimal, numpy, 0-d tensors alike
        for name in ("rank", "max_rank"):
            value = getattr(self, name)
            if value is not None and (not is_integer(value) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not is_integer(self.min_rank) or self.min_rank < 1:
            raise ValueError(f"min_rank must be a positive integer, got {self.min_rank!r}")
        if self.max_rank is not None and self.min_rank > self.max_rank:
            raise ValueError(
                f"min_rank ({self.min_rank}) must not exceed max_rank ({self.max_rank})"
            )

    @property
    def adaptive(self) -> bool:
        """True when the rank is chosen by tolerance rather than fixed."""
        return self.rank is None and (self.tol is not None or self.rtol is not None)

    def threshold(self, frobenius_norm: float) -> float:
        """The admissible discarded tail ``tol + rtol·‖S‖``."""
        return (self.tol or 0.0) + (self.rtol or 0.0) * frobenius_norm


def truncation_rank(sigma: Any, control: RankControl) -> int:
    """The rank that ``control`` keeps for singular values ``sigma`` (descending, any backend)."""
    _require_control(control)
    be = backend_of(sigma)
    values = [float(v) for v in be.to_numpy(sigma).ravel()]
    available = len(values)
    if control.rank is not None:
        r = control.rank
    else:
        total = math.sqrt(math.fsum(v * v for v in values))
        theta = control.threshold(total)
        # smallest r with sqrt(sum_{j >= r} sigma_j^2) <= theta; tails accumulated from the end
        r = available
        tail_sq = 0.0
        for j in range(available - 1, -1, -1):
            tail_sq += values[j] * values[j]
            if math.sqrt(tail_sq) <= theta:
                r = j
            else:
                break
    r = max(r, control.min_rank)
    if control.max_rank is not None:
        r = min(r, control.max_rank)
    return max(1, min(r, available))


def truncate(u: Any, s: Any, v: Any, control: RankControl) -> tuple[Any, Any, Any, float]:
    """Truncate ``u s vᴴ`` (orthonormal ``u``, ``v``; general ``s``) by the rule ``control``.

    Returns ``(u1, s1, v1, tail)`` with diagonal ``s1`` (singular values, same dtype as ``s``) and
    the Frobenius norm ``tail`` of what was discarded.  Cost: SVD of the small core plus two
    ``n × r̂ × r1`` products.
    """
    _require_control(control)
    be = require_matrix(s, "s")
    for x, name in ((u, "u"), (v, "v")):
        require_matrix(x, name)
    backend_of(u, s, v, names=("u", "s", "v"))
    if be.shape(u)[1] != be.shape(s)[0] or be.shape(v)[1] != be.shape(s)[1]:
        raise ValueError(
            f"shapes disagree: u is {be.shape(u)}, s is {be.shape(s)}, v is {be.shape(v)}; "
            "need u (n × a), s (a × b), v (m × b)"
        )
    return _truncate(u, s, v, control)


def _require_control(control: Any) -> None:
    if not isinstance(control, RankControl):
        raise TypeError(f"control must be a dlra.RankControl, got {type(control).__name__}")


def _truncate(u: Any, s: Any, v: Any, control: RankControl) -> tuple[Any, Any, Any, float]:
    """:func:`truncate` without the checks of its arguments (the integrators' path)."""
    be = backend_of(u, s, v)
    p, sigma, qh = be.svd(s)
    r1 = truncation_rank(sigma, control)
    sig_np = be.to_numpy(sigma)
    tail = float(math.sqrt(float((sig_np[r1:].astype(float) ** 2).sum())))
    s1 = be.diag(sigma[:r1], s.dtype)
    u1 = product_scratch(u, p[:, :r1])
    v1 = product_scratch(v, be.H(qh)[:, :r1])
    return u1, s1, v1, tail
