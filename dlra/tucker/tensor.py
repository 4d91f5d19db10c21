"""The factored tensor type ``TuckerTensor``: ``Y = C ×₁ U₁ ×₂ ⋯ ×_d U_d``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .._backend import Backend, backend_of
from .._checks import (
    is_integer,
    require_dense_like,
    require_finite,
    require_float_dtype,
    require_matrix,
    require_orthonormal,
)
from .modes import multi_mode_product, unfold

__all__ = ["TuckerTensor", "admissible_ranks"]


def admissible_ranks(ranks: Sequence[int]) -> bool:
    """True when ``rᵢ ≤ Π_{j≠i} rⱼ`` for every mode (each core unfolding can have full row rank)."""
    total = math.prod(ranks)
    return all(r * r <= total for r in ranks)


class TuckerTensor:
    """An order-d tensor ``Y = C ×₁ U₁ ×₂ ⋯ ×_d U_d`` of multilinear rank at most ``(r₁, …, r_d)``.

    ``core`` ``C`` has shape ``r₁ × ⋯ × r_d``; ``factors[i]`` ``Uᵢ`` (nᵢ × rᵢ) has orthonormal
    columns.  Unfoldings follow the C-order convention of :mod:`dlra.tucker.modes`
    (``Matᵢ(Y) = Uᵢ Matᵢ(C) (⊗_{j≠i} Uⱼ)ᵀ``).  The ranks must be admissible,
    ``rᵢ ≤ Π_{j≠i} rⱼ`` (otherwise the core cannot have full multilinear rank and the integrators'
    per-mode QR is undefined).  All arrays are of one library (numpy or torch, one device) and one
    floating dtype, real or complex; the constructor checks shapes, finiteness and orthonormality
    (``check=False`` skips the checks, for factors known to be orthonormal).

    The Frobenius norm is ``‖C‖`` (``O(Π rᵢ)``); nothing of size ``Π nᵢ`` is formed except by
    :meth:`to_dense`.  For d = 2, ``TuckerTensor(S, [U, conj(V)])`` is the matrix ``U S Vᴴ``
    (:meth:`from_lowrank`, :meth:`to_lowrank`).  Unpack as ``core, factors = Y``.
    """

    __slots__ = ("_backend", "core", "factors")

    def __init__(self, core: Any, factors: Sequence[Any], *, check: bool = True) -> None:
        if isinstance(factors, (str, bytes)) or not isinstance(factors, Sequence):
            raise TypeError(
                f"factors must be a sequence (list or tuple) of matrices, got {type(factors).__name__}"
            )
        factors = tuple(factors)
        names = ("core", *(f"factors[{i}]" for i in range(len(factors))))
        be = backend_of(core, *factors, names=names)
        if check:
            if not hasattr(core, "shape") or not hasattr(core, "dtype"):
                raise TypeError(
                    f"core must be a numpy array or torch tensor, got {type(core).__name__}"
                )
            require_float_dtype(core, "core", be)
            ranks = be.shape(core)
            d = len(ranks)
            if d < 2:
                raise ValueError(f"core must have at least 2 modes, got shape {ranks}")
            if len(factors) != d:
                raise ValueError(
                    f"core has {d} modes (shape {ranks}) but {len(factors)} factors were given; "
                    "need one factor per mode"
                )
            for i, U in enumerate(factors):
                require_matrix(U, f"factors[{i}]")
                n, r = be.shape(U)
                if r != ranks[i]:
                    raise ValueError(
                        f"factors[{i}] has shape {(n, r)} but core has size {ranks[i]} in mode {i}; "
                        f"need factors[{i}] of shape (n_{i}, {ranks[i]})"
                    )
                if r > n:
                    raise ValueError(
                        f"factors[{i}] has shape {(n, r)}: rank {r} exceeds the mode size {n}"
                    )
            if min(ranks) < 1:
                raise ValueError(f"every rank must be at least 1, got core shape {ranks}")
            if not admissible_ranks(ranks):
                raise ValueError(
                    f"inadmissible ranks {ranks}: need r_i ≤ Π_(j≠i) r_j for every mode "
                    "(reduce the largest rank, or build the tensor with TuckerTensor.from_dense)"
                )
            devices = {be.device(x) for x in (core, *factors)}
            if len(devices) > 1:
                raise ValueError(f"core and factors must be on one device, got {sorted(devices)}")
            require_finite(core, "core", be)
            for i, U in enumerate(factors):  # each to the precision it is given in
                require_finite(U, f"factors[{i}]", be)
                require_orthonormal(U, f"factors[{i}]", be, builder="TuckerTensor.from_dense")
            dtype = be.result_dtype(core, *factors)
            core = be.astype(core, dtype)
            factors = tuple(be.astype(U, dtype) for U in factors)
        if be.name == "torch":  # no lazily conjugated views in a result
            core = core.resolve_conj()
            factors = tuple(U.resolve_conj() for U in factors)
        object.__setattr__(self, "core", core)
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "_backend", be)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("TuckerTensor is immutable; build a new one")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dense(
        cls,
        A: Any,
        ranks: int | Sequence[int] | None = None,
        tol: float | None = None,
        *,
        rtol: float | None = None,
    ) -> TuckerTensor:
        """Sequentially truncated HOSVD of a dense array (modes in order 1, …, d).

        ``ranks``: an int (every mode) or one int per mode.  ``tol`` (absolute) / ``rtol``
        (relative to ‖A‖): the smallest ranks with ``‖A − Y‖_F ≤ tol + rtol·‖A‖``; the error budget
        is spread over the modes still to be truncated (mode i may discard a Frobenius tail of
        ``(budget left / (d − i))^{1/2}``-size), and ST-HOSVD's error is exactly the root sum of
        squares of the discarded tails.  With neither, each mode keeps its numerical rank (singular
        values above ``nᵢ·eps·σ₁``).  Ranks that come out inadmissible are reduced losslessly.
        Cost: d SVDs of unfoldings that shrink as the modes are truncated.
        """
        from .truncation import TuckerRankControl, sthosvd

        be = backend_of(A, names=("A",))
        if not hasattr(A, "shape") or not hasattr(A, "dtype"):
            raise TypeError(f"A must be a numpy array or torch tensor, got {type(A).__name__}")
        require_float_dtype(A, "A", be)
        shape = be.shape(A)
        if len(shape) < 2:
            raise ValueError(f"A must have at least 2 modes, got shape {shape}")
        if min(shape) == 0:
            raise ValueError(f"A must have at least one entry along every mode, got shape {shape}")
        require_finite(A, "A", be)
        if ranks is not None and (tol is not None or rtol is not None):
            raise ValueError("give either ranks or tol/rtol, not both")
        if ranks is None and tol is None and rtol is None:
            control = TuckerRankControl.numerical(len(shape))
        else:
            control = TuckerRankControl.build(len(shape), rank=ranks, tol=tol, rtol=rtol)
            if control.ranks is not None:
                for i, (r, n) in enumerate(zip(control.ranks, shape)):
                    if r > n:
                        raise ValueError(f"ranks[{i}] = {r} exceeds the size {n} of mode {i} of A")
                if not admissible_ranks(control.ranks):
                    raise ValueError(
                        f"inadmissible ranks {control.ranks}: need r_i ≤ Π_(j≠i) r_j for every mode"
                    )
        core, factors, _ = sthosvd(A, [None] * len(shape), control)
        return cls(core, factors, check=False)

    @classmethod
    def from_lowrank(cls, Y: Any) -> TuckerTensor:
        """The d = 2 Tucker form ``(S, [U, conj(V)])`` of a :class:`~dlra.LowRankMatrix` ``U S Vᴴ``."""
        be = Y.backend
        return cls(Y.S, [Y.U, be.conj(Y.V)], check=False)

    def to_lowrank(self) -> Any:
        """For d = 2: the :class:`~dlra.LowRankMatrix` ``U₁ C conj(U₂)ᴴ`` (same matrix)."""
        from ..lowrank import LowRankMatrix

        if self.ndim != 2:
            raise ValueError(f"to_lowrank needs an order-2 tensor, this one has order {self.ndim}")
        be = self._backend
        return LowRankMatrix(self.factors[0], self.core, be.conj(self.factors[1]), check=False)

    @classmethod
    def from_tensorly(cls, tucker: Any) -> TuckerTensor:
        """From a ``tensorly.tucker_tensor.TuckerTensor`` (or a ``(core, factors)`` pair).

        tensorly does not require orthonormal factors: factors that are not orthonormal are
        replaced by the Q of their QR factorization with R absorbed into the core, and
        inadmissible ranks are reduced losslessly.  The arrays keep their library.
        """
        from .truncation import make_admissible

        try:
            core, factors = tucker
        except (TypeError, ValueError):
            raise TypeError(
                "tucker must be a tensorly TuckerTensor or a (core, factors) pair, got "
                f"{type(tucker).__name__}"
            ) from None
        factors = list(factors)
        be = backend_of(core, *factors)
        from .._checks import orthonormality_defect, orthonormality_tolerance
        from .modes import mode_product

        require_float_dtype(core, "core", be)
        if len(be.shape(core)) != len(factors):
            raise ValueError(
                f"core has {len(be.shape(core))} modes but {len(factors)} factors were given"
            )
        for i, U in enumerate(factors):
            require_matrix(U, f"factors[{i}]")
            if be.shape(U)[1] != be.shape(core)[i]:
                raise ValueError(
                    f"factors[{i}] has {be.shape(U)[1]} columns but the core has size "
                    f"{be.shape(core)[i]} in mode {i}"
                )
            if orthonormality_defect(U, be) > orthonormality_tolerance(U, be):
                Q, R = be.qr(U)
                factors[i] = Q
                core = mode_product(core, R, i, be)
        core, factors = make_admissible(core, factors)
        return cls(core, factors)

    def to_tensorly(self) -> Any:
        """A ``tensorly.tucker_tensor.TuckerTensor`` sharing the arrays (no copy, no backend switch)."""
        from tensorly.tucker_tensor import TuckerTensor as TlTucker

        return TlTucker((self.core, list(self.factors)))

    # -- properties ---------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def ranks(self) -> tuple[int, ...]:
        """Multilinear rank bound ``(r₁, …, r_d)`` (the core's shape)."""
        return tuple(self._backend.shape(self.core))

    @property
    def rank(self) -> tuple[int, ...]:
        """Alias of :attr:`ranks` (so code written for matrices can print ``Y.rank``)."""
        return self.ranks

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._backend.shape(U)[0] for U in self.factors)

    @property
    def ndim(self) -> int:
        return len(self.factors)

    @property
    def dtype(self) -> Any:
        return self.core.dtype

    @property
    def device(self) -> str:
        return self._backend.device(self.core)

    def norm(self) -> float:
        """Frobenius norm ``‖Y‖ = ‖C‖`` (orthonormal factors), ``O(Π rᵢ)``."""
        return self._backend.norm(self.core)

    def singular_values(self, i: int) -> Any:
        """Singular values of the mode-``i`` unfolding of ``Y`` (those of ``Matᵢ(C)``), descending."""
        if not is_integer(i) or not 0 <= i < self.ndim:
            raise ValueError(f"i must be a mode index 0 … {self.ndim - 1}, got {i!r}")
        return self._backend.svd(unfold(self.core, i))[1]

    def to_dense(self) -> Any:
        """The full ``n₁ × ⋯ × n_d`` array (for checks and small problems)."""
        return multi_mode_product(self.core, self.factors, be=self._backend)

    def to(self, *args: Any, **kwargs: Any) -> TuckerTensor:
        """torch only: move/cast core and factors like ``torch.Tensor.to``."""
        if self._backend.name != "torch":
            raise TypeError("TuckerTensor.to is for torch arrays; use astype for numpy")
        return TuckerTensor(
            self.core.to(*args, **kwargs),
            [U.to(*args, **kwargs) for U in self.factors],
            check=False,
        )

    def astype(self, dtype: Any) -> TuckerTensor:
        """The same tensor with core and factors of ``dtype`` (float32/64 or complex64/128)."""
        be = self._backend
        core = be.astype(self.core, dtype)
        require_float_dtype(core, "the target dtype", be)
        return TuckerTensor(core, [be.astype(U, dtype) for U in self.factors], check=False)

    def distance(self, other: Any) -> float:
        """``‖self − other‖_F`` for a ``TuckerTensor`` (factored, no dense array) or a dense array."""
        be = self._backend
        if not isinstance(other, TuckerTensor):
            require_dense_like(other, be, self.shape, "other")
            return be.norm(self.to_dense() - other)
        if other.shape != self.shape:
            raise ValueError(f"shapes differ: {self.shape} and {other.shape}")
        backend_of(self.core, other.core, names=("self", "other"))  # same library, else TypeError
        # Stack the bases per mode: Y − Z = blockdiag(C, −D) ×ᵢ [Uᵢ, Wᵢ]; only the R factors matter.
        core = be.zeros(
            tuple(a + b for a, b in zip(self.ranks, other.ranks)),
            like=self.core,
            dtype=be.result_dtype(self.core, other.core),
        )
        core[tuple(slice(0, r) for r in self.ranks)] = self.core
        core[tuple(slice(r, None) for r in self.ranks)] = -other.core
        rs = [be.qr_r(be.concat([U, W], axis=1)) for U, W in zip(self.factors, other.factors)]
        return be.norm(multi_mode_product(core, rs, be=be))

    def __iter__(self) -> Any:
        """Unpack as ``core, factors = Y``."""
        return iter((self.core, list(self.factors)))

    def __repr__(self) -> str:
        return (
            f"TuckerTensor(shape={self.shape}, ranks={self.ranks}, dtype={self.dtype}, "
            f"backend={self._backend.name}, device={self.device}, norm={self.norm():.6g})"
        )
