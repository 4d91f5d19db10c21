"""Mode-wise operations on order-d arrays — the one place where the unfolding convention lives.

Convention (C order, as numpy and tensorly): the mode-``i`` unfolding of ``X`` (shape
``n₁ × ⋯ × n_d``) is the ``nᵢ × Π_{j≠i} nⱼ`` matrix

    ``Matᵢ(X) = moveaxis(X, i, 0).reshape(nᵢ, -1)``

(columns ordered with the *last* remaining index fastest); :func:`fold` is its inverse.  The mode
product ``X ×ᵢ M`` multiplies every mode-``i`` fibre by ``M`` (``M`` of shape ``p × nᵢ``), so that
``Matᵢ(X ×ᵢ M) = M Matᵢ(X)``.  A Tucker tensor is ``Y = C ×₁ U₁ ×₂ ⋯ ×_d U_d`` and

    ``Matᵢ(Y) = Uᵢ Matᵢ(C) (⊗_{j≠i} Uⱼ)ᵀ``  (Kronecker factors in increasing j),

which is never formed: every operation below is a sequence of mode products.  Modes are numbered
from 0 in code (``i = 0, …, d−1``) and from 1 in the mathematics of the docstrings.

Per-mode factorization of a core (used by every Tucker integrator): thin QR of the conjugate
transposed unfolding ``Matᵢ(C)ᴴ = Qᵢ Rᵢ`` gives ``Matᵢ(C) = Sᵢ Qᵢᴴ`` with ``Sᵢ = Rᵢᴴ`` (rᵢ × rᵢ);
:func:`mode_factor` returns ``Sᵢ`` and the *orthonormal core* ``Gᵢ = Tenᵢ(Qᵢᴴ)``, so that
``C = Gᵢ ×ᵢ Sᵢ`` and ``Matᵢ(Y) = (Uᵢ Sᵢ) Vᵢᴴ`` with orthonormal ``Vᵢ = conj(⊗_{j≠i} Uⱼ) Qᵢ``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .._backend import Backend, backend_of

__all__ = [
    "fold",
    "mode_factor",
    "mode_product",
    "multi_mode_product",
    "pad",
    "unfold",
]


def unfold(X: Any, i: int) -> Any:
    """``Matᵢ(X)``: the ``nᵢ × Π_{j≠i} nⱼ`` mode-``i`` unfolding (C order, see module docstring)."""
    be = backend_of(X)
    n = be.shape(X)[i]
    return be.reshape(be.moveaxis(X, i, 0), (n, -1))


def fold(M: Any, i: int, shape: Sequence[int]) -> Any:
    """``Tenᵢ(M)``: the inverse of :func:`unfold` for a tensor of shape ``shape`` (mode ``i`` may
    differ from ``shape[i]``: its size is taken from ``M``)."""
    be = backend_of(M)
    rows = be.shape(M)[0]
    rest = [int(s) for k, s in enumerate(shape) if k != i]
    return be.moveaxis(be.reshape(M, (rows, *rest)), 0, i)


def mode_product(X: Any, M: Any, i: int, be: Backend | None = None) -> Any:
    """``X ×ᵢ M`` for a matrix ``M`` of shape ``p × nᵢ``: ``Matᵢ(X ×ᵢ M) = M Matᵢ(X)``."""
    be = be or backend_of(X, M)
    shape = be.shape(X)
    before = math.prod(shape[:i])
    after = math.prod(shape[i + 1 :])
    if after == 1:  # last mode: one product (before × nᵢ) @ Mᵀ
        out = be.reshape(X, (before, shape[i])) @ M.T
    else:  # (p × nᵢ) @ (before, nᵢ, after) broadcasts to (before, p, after): no transposes
        out = M @ be.reshape(X, (before, shape[i], after))
    return be.reshape(out, (*shape[:i], be.shape(M)[0], *shape[i + 1 :]))


def multi_mode_product(
    X: Any, mats: Sequence[Any | None], *, adjoint: bool = False, be: Backend | None = None
) -> Any:
    """``X ×₁ M₁ ×₂ ⋯ ×_d M_d``; ``None`` entries skip their mode.

    With ``adjoint=True`` the products are with ``Mⱼᴴ`` (projection onto bases ``Mⱼ``).  Modes are
    applied in the order that shrinks the array fastest, which is exact arithmetic-wise and keeps
    intermediate arrays small.
    """
    be = be or backend_of(X)
    order = []
    for j, M in enumerate(mats):
        if M is None:
            continue
        rows, cols = be.shape(M)
        out_size, in_size = (cols, rows) if adjoint else (rows, cols)
        order.append((out_size / max(in_size, 1), j))
    for _, j in sorted(order):
        M = mats[j]
        X = mode_product(X, be.H(M) if adjoint else M, j, be)
    return X


def mode_factor(C: Any, i: int) -> tuple[Any, Any]:
    """``(Sᵢ, Gᵢ)`` with ``C = Gᵢ ×ᵢ Sᵢ`` and ``Matᵢ(Gᵢ)`` having orthonormal rows.

    ``Sᵢ = Rᵢᴴ`` from the thin QR ``Matᵢ(C)ᴴ = Qᵢ Rᵢ`` and ``Gᵢ = Tenᵢ(Qᵢᴴ)``.  Needs the admissible
    rank ``rᵢ ≤ Π_{j≠i} rⱼ``.  Cost ``O(rᵢ² Π_j rⱼ)``.
    """
    be = backend_of(C)
    shape = be.shape(C)
    Q, R = be.qr(be.H(unfold(C, i)))
    return be.H(R), fold(be.H(Q), i, shape)


def pad(C: Any, shape: Sequence[int]) -> Any:
    """``C`` in the leading corner of a zero array of shape ``shape`` (the old core written in
    augmented bases whose leading columns are the old ones)."""
    be = backend_of(C)
    out = be.zeros(tuple(int(s) for s in shape), like=C)
    out[tuple(slice(0, s) for s in be.shape(C))] = C
    return out
