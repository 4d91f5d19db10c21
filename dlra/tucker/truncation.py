"""Per-mode rank control and truncation of Tucker tensors (sequentially truncated HOSVD).

Truncation of ``Ĉ ×ⱼ Ûⱼ`` works on the small core only: mode by mode (1, …, d) the unfolding of the
partially truncated core is decomposed by an SVD, the leading ``rᵢ`` left singular vectors are kept
(``Uᵢ ← Ûᵢ Pᵢ``) and the core is compressed.  The error of this sequentially truncated HOSVD is
exactly ``(Σᵢ tailᵢ²)^{1/2}`` (Vannieuwenhoven, Vandebril & Meerbergen, SISC 34, 2012), so a
Frobenius tolerance ϑ is met by giving mode ``i`` the budget ``((ϑ² − Σ_{j<i} tailⱼ²)/(d − i))^{1/2}``
— the budget left over, spread evenly over the modes still to come.  For d = 2 this keeps exactly
the singular values the matrix rule (:func:`dlra.truncation_rank`) keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._backend import backend_of
from .._checks import is_integer
from ..linalg import RankControl, truncation_rank
from .modes import fold, unfold

__all__ = ["TuckerRankControl", "make_admissible", "sthosvd"]


def _per_mode(value: Any, d: int, name: str, *, allow_none: bool) -> tuple[Any, ...] | None:
    """An int (or None) broadcast to every mode, or a sequence of d of them; messages name ``name``."""
    if value is None:
        return None
    items = [value] * d if is_integer(value) else value
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"{name} must be an int or a sequence of {d} ints, got {value!r}")
    items = list(items)
    if len(items) != d:
        raise ValueError(f"{name} must have one entry per mode ({d}), got {len(items)}: {value!r}")
    for i, v in enumerate(items):
        if v is None and allow_none:
            continue
        if not is_integer(v) or v < 1:
            raise ValueError(f"{name}[{i}] must be a positive integer, got {v!r}")
    return tuple(None if v is None else int(v) for v in items)


@dataclass(frozen=True)
class TuckerRankControl:
    """How the multilinear rank is chosen after a step.

    ``ranks``: keep exactly these ranks (fixed-rank schemes).  Otherwise keep the smallest ranks
    whose total discarded Frobenius norm is at most ``tol + rtol·‖Ĉ‖`` (split over the modes as in
    the module docstring), each clamped to ``[min_ranks[i], max_ranks[i]]``.  ``numerical``: keep
    the numerical rank of each unfolding (``σ > n·eps·σ₁``).
    """

    ranks: tuple[int, ...] | None = None
    tol: float | None = None
    rtol: float | None = None
    min_ranks: tuple[int, ...] = (1,)
    max_ranks: tuple[int | None, ...] | None = None
    numerical_rank: bool = False

    @classmethod
    def build(
        cls,
        d: int,
        *,
        rank: int | Sequence[int] | None = None,
        tol: float | None = None,
        rtol: float | None = None,
        min_rank: int | Sequence[int] = 1,
        max_rank: int | Sequence[int | None] | None = None,
    ) -> TuckerRankControl:
        """Validate user input (ints are broadcast to every mode) and build the control."""
        # RankControl validates tol and rtol with the same messages as the matrix case.
        RankControl(tol=tol, rtol=rtol)
        ranks = _per_mode(rank, d, "rank", allow_none=False)
        mins = _per_mode(min_rank, d, "min_rank", allow_none=False)
        maxs = _per_mode(max_rank, d, "max_rank", allow_none=True)
        if maxs is not None:
            for i, (lo, hi) in enumerate(zip(mins, maxs)):
                if hi is not None and lo > hi:
                    raise ValueError(f"min_rank[{i}] ({lo}) must not exceed max_rank[{i}] ({hi})")
        return cls(ranks=ranks, tol=tol, rtol=rtol, min_ranks=mins, max_ranks=maxs)

    @classmethod
    def numerical(cls, d: int) -> TuckerRankControl:
        return cls(min_ranks=(1,) * d, numerical_rank=True)

    @property
    def adaptive(self) -> bool:
        """True when ranks are chosen by tolerance rather than fixed."""
        return self.ranks is None and (self.tol is not None or self.rtol is not None)

    def threshold(self, frobenius_norm: float) -> float:
        """The admissible total discarded Frobenius norm ``tol + rtol·‖Ĉ‖``."""
        return (self.tol or 0.0) + (self.rtol or 0.0) * frobenius_norm

    def fixed(self, ranks: Sequence[int]) -> TuckerRankControl:
        """This control with fixed ranks ``ranks`` clamped to ``[min_rank, max_rank]`` per mode
        (used when no tolerance was given)."""
        clamped = []
        for i, r in enumerate(ranks):
            lo, hi = self.mode_bounds(i)
            r = max(int(r), lo)
            clamped.append(r if hi is None else min(r, hi))
        return TuckerRankControl(ranks=tuple(clamped), min_ranks=self.min_ranks)

    def mode_bounds(self, i: int) -> tuple[int, int | None]:
        lo = self.min_ranks[i] if len(self.min_ranks) > i else self.min_ranks[0]
        hi = None if self.max_ranks is None else self.max_ranks[i]
        return lo, hi


def sthosvd(
    X: Any, factors: Sequence[Any | None], control: TuckerRankControl
) -> tuple[Any, list[Any], list[float]]:
    """Sequentially truncated HOSVD of ``X ×ⱼ factorsⱼ`` (``None`` = identity: ``X`` is dense data).

    Returns ``(core, new_factors, tails)`` with ``‖X ×ⱼ factorsⱼ − core ×ⱼ new_factorsⱼ‖ =
    (Σ tails²)^{1/2}`` (orthonormal ``factors``).  The resulting ranks are admissible.
    Cost: d SVDs of unfoldings of the (shrinking) array.
    """
    be = backend_of(X)
    d = len(be.shape(X))
    budget_sq = 0.0
    if control.adaptive:
        budget_sq = control.threshold(be.norm(X)) ** 2
    out_factors: list[Any] = []
    tails: list[float] = []
    for i in range(d):
        shape = be.shape(X)
        M = unfold(X, i)
        P, sigma, Wh = be.svd(M)
        s_np = be.to_numpy(sigma).astype(float)
        available = len(s_np)
        if control.ranks is not None:
            r = max(1, min(control.ranks[i], available))
        elif control.numerical_rank:
            cutoff = max(be.shape(M)) * be.eps(X.dtype) * (float(s_np[0]) if available else 0.0)
            r = max(1, int((s_np > cutoff).sum()))
        else:
            lo, hi = control.mode_bounds(i)
            # a NaN or infinite budget (from a non-finite X) keeps every direction: NaN out,
            # not an error
            finite = budget_sq > 0 and math.isfinite(budget_sq)
            theta_i = math.sqrt(budget_sq / (d - i)) if finite else 0.0
            r = truncation_rank(sigma, RankControl(tol=theta_i, min_rank=lo, max_rank=hi))
        tail_sq = float((s_np[r:] ** 2).sum())
        budget_sq -= tail_sq
        tails.append(math.sqrt(tail_sq))
        new = P[:, :r]
        out_factors.append(new if factors[i] is None else factors[i] @ new)
        X = fold(be.diag(sigma[:r], X.dtype) @ Wh[:r], i, shape)
    core, out_factors = make_admissible(X, out_factors)
    return core, out_factors, tails


def make_admissible(core: Any, factors: Sequence[Any]) -> tuple[Any, list[Any]]:
    """Reduce inadmissible ranks ``rᵢ > Π_{j≠i} rⱼ`` losslessly (the unfolding's rank is at most
    the product), repeating until every mode is admissible."""
    be = backend_of(core)
    factors = list(factors)
    changed = True
    while changed:
        changed = False
        ranks = be.shape(core)
        total = math.prod(ranks)
        for i, r in enumerate(ranks):
            others = total // r
            if r > others:
                P, sigma, Wh = be.svd(unfold(core, i))
                core = fold(be.diag(sigma[:others], core.dtype) @ Wh[:others], i, ranks)
                factors[i] = factors[i] @ P[:, :others]
                changed = True
                break
    return core, factors
