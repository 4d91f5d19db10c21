"""The factored matrix type ``LowRankMatrix``: Y = U S Vᴴ."""

from __future__ import annotations

from typing import Any

from ._backend import Backend, backend_of
from ._checks import (
    is_integer,
    require_dense_like,
    require_finite,
    require_float_dtype,
    require_matrix,
    require_orthonormal,
)
from .linalg import RankControl, _truncate

__all__ = ["LowRankMatrix"]


class LowRankMatrix:
    """A matrix ``Y = U S Vᴴ`` of rank at most ``r`` in factored form.

    ``U`` (n × r) and ``V`` (m × r) have orthonormal columns; ``S`` (r × r) is general — diagonal
    only right after an SVD-based truncation, triangular or full after QR-based steps.  For real
    data ``Vᴴ = Vᵀ``.  The factors are arrays of one library (numpy or torch, any device), of one
    floating dtype; the constructor checks shapes, finiteness and orthonormality (pass
    ``check=False`` for factors known to be orthonormal, e.g. inside integrators).

    The Frobenius norm is ``‖S‖_F`` (``O(r²)``); nothing of size ``n × m`` is formed except by
    :meth:`to_dense`.
    """

    __slots__ = ("S", "U", "V", "_backend")

    def __init__(self, U: Any, S: Any, V: Any, *, check: bool = True) -> None:
        be = backend_of(U, S, V, names=("U", "S", "V"))
        if check:
            for arr, name in ((U, "U"), (S, "S"), (V, "V")):
                require_matrix(arr, name)
            (n, r), (r1, r2), (m, rv) = be.shape(U), be.shape(S), be.shape(V)
            if r1 != r2:
                raise ValueError(f"S must be square, got shape {(r1, r2)}")
            if r != r1 or rv != r1:
                raise ValueError(
                    f"factor shapes disagree: U is {(n, r)}, S is {(r1, r2)}, V is {(m, rv)}; "
                    "need U (n × r), S (r × r), V (m × r)"
                )
            if r1 == 0:
                raise ValueError("rank must be at least 1 (S is 0 × 0)")
            if r1 > min(n, m):
                raise ValueError(f"rank {r1} exceeds min(n, m) = {min(n, m)} for shape {(n, m)}")
            if be.device(U) != be.device(S) or be.device(U) != be.device(V):
                raise ValueError(
                    f"U, S, V must be on one device, got {be.device(U)}, {be.device(S)}, "
                    f"{be.device(V)}"
                )
            for arr, name in ((U, "U"), (S, "S"), (V, "V")):
                require_finite(arr, name, be)
            # orthonormal to the precision each factor is given in (checked before promotion: a
            # float32 U with a float64 S is orthonormal to float32 round-off, and that is fine)
            require_orthonormal(U, "U", be)
            require_orthonormal(V, "V", be)
            if len({U.dtype, S.dtype, V.dtype}) > 1:
                dtype = be.result_dtype(U, S, V)
                U, S, V = (be.astype(x, dtype) for x in (U, S, V))
        if be.name == "torch":  # no lazily conjugated views (e.g. S = Rᴴ) in a result
            U, S, V = (x.resolve_conj() for x in (U, S, V))
        object.__setattr__(self, "U", U)
        object.__setattr__(self, "S", S)
        object.__setattr__(self, "V", V)
        object.__setattr__(self, "_backend", be)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("LowRankMatrix is immutable; build a new one")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dense(
        cls, A: Any, rank: int | None = None, tol: float | None = None, *, rtol: float | None = None
    ) -> LowRankMatrix:
        """Truncated SVD of a dense matrix.

        ``rank`` (or ``tol``/``rtol``, not both): keep that many singular values.  ``tol``: keep
        the smallest rank whose discarded
        Frobenius tail is ≤ ``tol`` (``rtol``: relative to ‖A‖_F).  With neither, keep the
        numerical rank (singular values above ``max(n, m)·eps·σ₁``).  Rank is at least 1.
        """
        be = require_matrix(A, "A")
        require_finite(A, "A", be)
        n, m = be.shape(A)
        if min(n, m) == 0:
            raise ValueError(f"A must have at least one row and one column, got shape {(n, m)}")
        if rank is not None and (tol is not None or rtol is not None):
            raise ValueError("give either rank or tol/rtol, not both")
        if rank is not None:
            if not is_integer(rank) or rank < 1:
                raise ValueError(f"rank must be a positive integer, got {rank!r}")
            if rank > min(n, m):
                raise ValueError(f"rank {rank} exceeds min(n, m) = {min(n, m)} of A")
        p, sigma, qh = be.svd(A)
        if rank is None and tol is None and rtol is None:
            s_np = be.to_numpy(sigma)
            cutoff = max(n, m) * be.eps(A.dtype) * (float(s_np[0]) if len(s_np) else 0.0)
            control = RankControl(rank=max(1, int((s_np > cutoff).sum())))
        else:
            control = RankControl(rank=rank, tol=tol, rtol=rtol)
        u, s, v, _ = _truncate(p, be.diag(sigma, A.dtype), be.H(qh), control)
        return cls(u, s, v, check=False)

    # -- properties ---------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def rank(self) -> int:
        return int(self._backend.shape(self.S)[0])

    @property
    def shape(self) -> tuple[int, int]:
        be = self._backend
        return (be.shape(self.U)[0], be.shape(self.V)[0])

    @property
    def dtype(self) -> Any:
        return self.S.dtype

    @property
    def device(self) -> str:
        return self._backend.device(self.S)

    def norm(self) -> float:
        """Frobenius norm ``‖Y‖_F = ‖S‖_F`` (orthonormal factors), ``O(r²)``."""
        return self._backend.norm(self.S)

    def singular_values(self) -> Any:
        """Singular values of ``Y`` (those of ``S``), descending."""
        return self._backend.svd(self.S)[1]

    def to_dense(self) -> Any:
        """The ``n × m`` array ``U S Vᴴ`` (forms the full matrix: for checks and small problems)."""
        return (self.U @ self.S) @ self._backend.H(self.V)

    def to(self, *args: Any, **kwargs: Any) -> LowRankMatrix:
        """torch only: move/cast all factors like ``torch.Tensor.to``."""
        if self._backend.name != "torch":
            raise TypeError("LowRankMatrix.to is for torch factors; use astype for numpy")
        return LowRankMatrix(
            *(x.to(*args, **kwargs) for x in (self.U, self.S, self.V)), check=False
        )

    def astype(self, dtype: Any) -> LowRankMatrix:
        """The same matrix with factors of ``dtype`` (float32/64 or complex64/128)."""
        be = self._backend
        U, S, V = (be.astype(x, dtype) for x in (self.U, self.S, self.V))
        require_float_dtype(S, "the target dtype", be)
        return LowRankMatrix(U, S, V, check=False)

    def __repr__(self) -> str:
        n, m = self.shape
        return (
            f"LowRankMatrix(shape=({n}, {m}), rank={self.rank}, dtype={self.dtype}, "
            f"backend={self._backend.name}, device={self.device}, norm={self.norm():.6g})"
        )

    def distance(self, other: Any) -> float:
        """``‖self − other‖_F`` for a ``LowRankMatrix`` or dense array (factored when possible)."""
        be = self._backend
        if isinstance(other, LowRankMatrix):
            if other.shape != self.shape:
                raise ValueError(f"other has shape {other.shape}, expected {self.shape}")
            backend_of(self.U, other.U, names=("self", "other"))  # same library, else TypeError
            # ‖A − B‖² = ‖A‖² + ‖B‖² − 2 Re⟨A, B⟩ loses accuracy; stack the factors instead.
            u = be.concat([self.U, other.U], axis=1)
            v = be.concat([self.V, other.V], axis=1)
            ru, rv = be.qr_r(u), be.qr_r(v)
            r1, r2 = self.rank, other.rank
            core = be.zeros((r1 + r2, r1 + r2), like=self.S, dtype=be.result_dtype(self.S, other.S))
            core[:r1, :r1] = self.S
            core[r1:, r1:] = -other.S
            return be.norm(ru @ core @ be.H(rv))
        require_dense_like(other, be, self.shape, "other")
        return be.norm(self.to_dense() - other)

    def __iter__(self) -> Any:
        """Unpack as ``U, S, V = Y``."""
        return iter((self.U, self.S, self.V))
